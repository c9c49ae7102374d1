// Debian's etcdctl (3.4) against the client port, plain and over TLS with a self-signed certificate
// made by openssl. Both tools are required: CI installs them (apt-get install etcd-client openssl).
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { credentials } from "@grpc/grpc-js";
import type { HeaderField } from "../../src/api/grpc/hpack.js";
import { clientHttp2FromEnvironment } from "../../src/api/index.js";
import { STREAM_WINDOW } from "../../src/api/wire/connection.js";
import { ErrorCode, FrameType, Setting } from "../../src/api/wire/frames.js";
import {
  KVClient,
  KVService,
  PutRequest,
  RangeRequest,
  type RangeResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { type Harness, http, startHarness, unary } from "./harness.js";
import { grpcMessage, grpcRequest, RawClient } from "./wire-raw-client.js";

function requireTool(name: string, install: string): void {
  try {
    execFileSync("which", [name], { stdio: "ignore" });
  } catch {
    assert.fail(`${name} is not on the PATH: run \`${install}\` (CI installs it)`);
  }
}

function etcdctl(endpoint: string, args: string[], extra: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      "etcdctl",
      [`--endpoints=${endpoint}`, "--dial-timeout=3s", "--command-timeout=5s", ...extra, ...args],
      { env: { ...process.env, ETCDCTL_API: "3" }, timeout: 15_000 },
      // Some commands (endpoint health) report on stderr.
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout + stderr),
    );
  });
}

describe("etcdctl against the client port", { timeout: 60_000 }, () => {
  let h: Harness;
  let endpoint: string;
  let dir: string;
  before(async () => {
    requireTool("etcdctl", "apt-get install etcd-client");
    h = await startHarness();
    endpoint = `http://${h.hostPort}`;
    dir = mkdtempSync(join(tmpdir(), "api-etcdctl-"));
  });
  after(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("puts, gets and deletes with -w json", async () => {
    assert.equal((await etcdctl(endpoint, ["put", "foo", "bar"])).trim(), "OK");
    const raw = await etcdctl(endpoint, ["get", "foo", "-w", "json"]);
    const got = JSON.parse(raw);
    assert.equal(Buffer.from(got.kvs[0].key, "base64").toString(), "foo");
    assert.equal(Buffer.from(got.kvs[0].value, "base64").toString(), "bar");
    assert.equal(got.count, 1);
    assert.match(raw, new RegExp(`"cluster_id":${h.api.clusterId}\\b`));
    const del = JSON.parse(await etcdctl(endpoint, ["del", "foo", "-w", "json"]));
    assert.equal(del.deleted, 1);
    assert.equal((await etcdctl(endpoint, ["get", "foo"])).trim(), "");
  });

  it("shows etcd's error text for a failed request", async () => {
    await assert.rejects(etcdctl(endpoint, ["put", "k", "v", "--lease=1234"]), /requested lease not found/);
  });

  it("reports endpoint health and lists members", async () => {
    assert.match(await etcdctl(endpoint, ["endpoint", "health"]), /is healthy/);
    const members = JSON.parse(await etcdctl(endpoint, ["member", "list", "-w", "json"]));
    assert.equal(members.members[0].name, "default");
  });

  it("reports endpoint status, hashkv and defragments (clients that send :authority http://host:port)", async () => {
    const status = JSON.parse(await etcdctl(endpoint, ["endpoint", "status", "-w", "json"]));
    assert.equal(status[0].Status.version, "3.4.23");
    assert.match(await etcdctl(endpoint, ["endpoint", "hashkv", "-w", "json"]), /"hash":1084519789/);
    assert.match(await etcdctl(endpoint, ["defrag"]), /Finished defragmenting etcd member/);
  });

  it("saves a snapshot: the 32 KiB blobs and the SHA-256 trailer, byte for byte as etcd 3.4 sends them", async () => {
    const data = Buffer.alloc(70 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
    h.api.snapshotBytes = data;
    const file = join(dir, "snap.db");
    assert.match(await etcdctl(endpoint, ["snapshot", "save", file]), /Snapshot saved at/);
    // etcdctl 3.4 writes every blob it receives, the digest message included.
    const expected = Buffer.concat([data, createHash("sha256").update(data).digest()]);
    assert.ok(readFileSync(file).equals(expected));
  });
});

describe("TLS on the client port", { timeout: 60_000 }, () => {
  let h: Harness;
  let dir: string;
  let cert: Buffer;
  before(async () => {
    requireTool("openssl", "apt-get install openssl");
    requireTool("etcdctl", "apt-get install etcd-client");
    dir = mkdtempSync(join(tmpdir(), "api-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ],
      { stdio: "ignore" },
    );
    cert = readFileSync(join(dir, "cert.pem"));
    h = await startHarness({
      listenUrls: [new URL("https://127.0.0.1:0")],
      tls: { cert, key: readFileSync(join(dir, "key.pem")) },
    });
  });
  after(async () => {
    await h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a TLS port on the main thread beside a plain one served from the client port's thread", async () => {
    const mixed = await startHarness({
      listenUrls: [new URL("https://127.0.0.1:0"), new URL("http://127.0.0.1:0")],
      tls: { cert, key: readFileSync(join(dir, "key.pem")) },
      clientThread: true,
    });
    try {
      const [secure, plain] = mixed.listeners.urls;
      assert.equal(secure.protocol, "https:");
      assert.equal(plain.protocol, "http:");
      const extra = [`--cacert=${join(dir, "cert.pem")}`];
      assert.equal((await etcdctl(`https://${secure.host}`, ["put", "mixed", "1"], extra)).trim(), "OK");
      assert.equal(
        (await etcdctl(`http://${plain.host}`, ["get", "mixed", "--print-value-only"])).trim(),
        "1",
      );
    } finally {
      await mixed.close();
    }
  });

  it("serves h2 over TLS with the port's own connection: its SETTINGS, native and forwarded answers as etcd's, strict requests", {
    skip: clientHttp2FromEnvironment(process.env) !== "own" && "the port is on Node's HTTP/2",
  }, async () => {
    const socket = tlsConnect({
      host: "127.0.0.1",
      port: Number(h.url.port),
      ca: cert,
      servername: "localhost",
      ALPNProtocols: ["h2"],
    });
    await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
    assert.equal(socket.alpnProtocol, "h2");
    const raw = new RawClient(socket);
    raw.start();
    try {
      const settings = await raw.frame(FrameType.SETTINGS, 0);
      const values = new Map<number, number>();
      for (let at = 0; at < settings.payload.length; at += 6)
        values.set(settings.payload.readUInt16BE(at), settings.payload.readUInt32BE(at + 2));
      assert.equal(values.get(Setting.INITIAL_WINDOW_SIZE), STREAM_WINDOW, "the own connection's window");
      const put = PutRequest.encode(
        PutRequest.fromPartial({ key: Buffer.from("tls"), value: Buffer.from("1") }),
      );
      raw.write(
        raw.headers(1, grpcRequest(KVService.put.path)),
        raw.data(1, grpcMessage(Buffer.from(put.finish()))),
        raw.headers(3, grpcRequest("/grpc.health.v1.Health/Check")),
        raw.data(3, grpcMessage("")),
        raw.headers(5, [...grpcRequest(KVService.put.path), ["Upper", "1"]]),
      );
      const ok: HeaderField[][] = [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
        ],
        [
          ["grpc-status", "0"],
          ["grpc-message", ""],
        ],
      ];
      for (const id of [1, 3]) {
        const frames = await raw.stream(id);
        const blocks = frames.filter((f) => f.type === FrameType.HEADERS).map((f) => raw.fieldsOf(f));
        assert.deepEqual(blocks, ok, `stream ${id}`);
      }
      const rst = await raw.frame(FrameType.RST_STREAM, 5);
      assert.equal(rst.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);
    } finally {
      socket.destroy();
    }
  });

  it("serves etcdctl (gRPC over h2) and the gateway (HTTP/1.1) on one TLS port", async () => {
    const endpoint = `https://${h.hostPort}`;
    const extra = [`--cacert=${join(dir, "cert.pem")}`];
    assert.equal((await etcdctl(endpoint, ["put", "secure", "yes"], extra)).trim(), "OK");
    const got = JSON.parse(await etcdctl(endpoint, ["get", "secure", "-w", "json"], extra));
    assert.equal(Buffer.from(got.kvs[0].value, "base64").toString(), "yes");

    const viaHttp = await http(h.url, "/v3/kv/range", {
      body: `{"key":"${Buffer.from("secure").toString("base64")}"}`,
      ca: cert,
    });
    assert.equal(viaHttp.status, 200);
    assert.match(viaHttp.body, /"value":"eWVz"/);
    assert.equal((await http(h.url, "/health", { ca: cert })).body, '{"health":"true"}');

    // curl negotiates h2 over TLS: plain HTTP requests on HTTP/2 reach the HTTP handler too.
    const h2 = await new Promise<{ status: number; body: string }[]>((resolve, reject) => {
      const session = connect(h.url.href, { ca: cert });
      session.on("error", reject);
      const get = (path: string, body?: string) =>
        new Promise<{ status: number; body: string }>((res, rej) => {
          const req = session.request({ ":method": body ? "POST" : "GET", ":path": path });
          let status = 0;
          const parts: Buffer[] = [];
          req.on("response", (hd) => {
            status = Number(hd[":status"]);
          });
          req.on("data", (c: Buffer) => parts.push(c));
          req.on("end", () => res({ status, body: Buffer.concat(parts).toString() }));
          req.on("error", rej);
          req.end(body);
        });
      Promise.all([
        get("/health"),
        get("/v3/kv/range", `{"key":"${Buffer.from("secure").toString("base64")}"}`),
        get("/v3/kv/range", "{}"),
      ])
        .then((r) => {
          session.close();
          resolve(r);
        })
        .catch(reject);
    });
    assert.deepEqual(h2[0], { status: 200, body: '{"health":"true"}' });
    assert.equal(h2[1].status, 200);
    assert.match(h2[1].body, /"value":"eWVz"/);
    assert.equal(h2[2].status, 400);
    assert.match(h2[2].body, /key is not provided/);

    const kv = new KVClient(h.hostPort, credentials.createSsl(cert));
    try {
      const resp = await unary<RangeRequest, RangeResponse>(
        kv.range.bind(kv),
        RangeRequest.fromPartial({ key: Buffer.from("secure") }),
      );
      assert.equal(resp.count, 1);
    } finally {
      kv.close();
    }
  });
});
