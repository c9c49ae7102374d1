// The HPACK reader behind the :authority repair, on the examples of RFC 7541 Appendix C, and the
// repair itself on a raw HTTP/2 request carrying "http://host:port" as its authority.
import assert from "node:assert/strict";
import { connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import { repairAuthorityValue } from "../../src/api/grpc/authority-repair.js";
import { encodeLiterals, HpackDecoder } from "../../src/api/grpc/hpack.js";
import { type Harness, startHarness } from "./harness.js";

describe("HPACK reader", { timeout: 60_000 }, () => {
  it("decodes RFC 7541 C.4 (requests with Huffman coding) across a shared dynamic table", () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(Buffer.from("828684418cf1e3c2e5f23a6ba0ab90f4ff", "hex")), [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ]);
    assert.deepEqual(d.decode(Buffer.from("828684be5886a8eb10649cbf", "hex")), [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
      ["cache-control", "no-cache"],
    ]);
    assert.deepEqual(d.decode(Buffer.from("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", "hex")), [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ]);
  });

  it("decodes Huffman-coded values of any length, one after another", () => {
    // '0' is the 5-bit code 00000: 625 zero bytes are exactly 1,000 of them, with no padding
    const literal = (name: string, zeroBytes: number) => {
      const out = [0x00, name.length, ...Buffer.from(name, "latin1")];
      if (zeroBytes < 127) out.push(0x80 | zeroBytes);
      else {
        out.push(0xff);
        for (let rest = zeroBytes - 127; ; rest = Math.floor(rest / 128)) {
          if (rest < 128) {
            out.push(rest);
            break;
          }
          out.push((rest % 128) | 0x80);
        }
      }
      return Buffer.concat([Buffer.from(out), Buffer.alloc(zeroBytes)]);
    };
    const d = new HpackDecoder();
    for (const [name, bytes] of [
      ["x-long", 625],
      ["x-short", 5],
      ["x-longer", 5000],
      ["x-short", 5],
    ] as const) {
      assert.deepEqual(d.decode(literal(name, bytes)), [[name, "0".repeat((bytes * 8) / 5)]]);
    }
  });

  it("writes literals that read back unchanged", () => {
    const fields: [string, string][] = [
      [":path", "/etcdserverpb.Maintenance/Status"],
      ["x-long", "v".repeat(300)],
    ];
    assert.deepEqual(new HpackDecoder().decode(encodeLiterals(fields)), fields);
  });

  it("reduces a URL authority to host:port and leaves valid ones alone", () => {
    assert.equal(repairAuthorityValue("http://127.0.0.1:2379"), "127.0.0.1:2379");
    assert.equal(repairAuthorityValue("https://[::1]:2379"), "[::1]:2379");
    assert.equal(repairAuthorityValue("127.0.0.1:2379"), "127.0.0.1:2379");
  });
});

describe(":authority repair on the client port", { timeout: 60_000 }, () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it("serves a gRPC call whose :authority is a URL", async () => {
    const status = await new Promise<string | undefined>((resolve, reject) => {
      const session = connect(`http://${h.hostPort}`);
      session.on("error", reject);
      const req = session.request({
        ":method": "POST",
        ":path": "/etcdserverpb.Maintenance/Status",
        ":authority": `http://${h.hostPort}`,
        "content-type": "application/grpc",
        te: "trailers",
      });
      let grpcStatus: string | undefined;
      req.on("trailers", (t) => {
        grpcStatus = String(t["grpc-status"]);
      });
      req.on("error", reject);
      req.resume();
      req.on("end", () => {
        session.close();
        resolve(grpcStatus);
      });
      req.end(Buffer.alloc(5));
    });
    assert.equal(status, "0");
  });
});
