// The unary path that serves gRPC calls straight from Node's HTTP/2 streams: the same answers,
// statuses and texts as grpc-js for what it takes, and what it leaves to grpc-js.
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  connect,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { after, before, describe, it } from "node:test";
import type { Metadata } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import type { MethodDefinition, UnaryHandler } from "../../src/api/client-handlers.js";
import { GrpcMetrics } from "../../src/api/grpc/grpc-metrics.js";
import { MethodTable } from "../../src/api/grpc/method-table.js";
import { unaryFastPath } from "../../src/api/grpc/unary-fast-path.js";
import { KVService, type PutRequest, type PutResponse } from "../../src/gen/etcdserverpb/rpc.js";
import { EtcdError, GrpcCode } from "../../src/rpctypes/errors.js";

/** A method whose messages are UTF-8 strings. */
function definition(path: string): MethodDefinition<string, string> {
  const text = (b: Buffer) => b.toString();
  const bytes = (s: string) => Buffer.from(s);
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: text,
    responseSerialize: bytes,
    responseDeserialize: text,
  };
}

/** The answer the test's Put method gives. */
function putAnswer(key: string, revision: number): PutResponse {
  const size = Number(key);
  const value = Buffer.alloc(Number.isInteger(size) ? size : 0, 7);
  return {
    header: { clusterId: key === "too-large" ? 2n ** 64n : 7n, memberId: 9n, revision, raftTerm: 3 },
    prevKv:
      value.length > 0
        ? { key: Buffer.from("k"), value, createRevision: 1, modRevision: 2, version: 1, lease: 0n }
        : undefined,
  };
}

const frame = (message: string | Buffer) => {
  const payload = Buffer.from(message);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};

interface Answer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | undefined;
  body: Buffer;
}

describe("gRPC unary fast path", { timeout: 60_000 }, () => {
  let server: Http2Server;
  let session: ClientHttp2Session;
  const taken: string[] = [];
  /** The requests the Echo handler was called with. */
  const echoed: string[] = [];
  const tokens: (string | undefined)[] = [];
  const registry = new Registry();
  const maxReceive = 1024;

  before(async () => {
    const handlers = new Map<string, UnaryHandler>();
    const add = (path: string, handle: (req: string) => Promise<string>, waits = false) =>
      handlers.set(path, { definition: definition(path), handle, waits } as UnaryHandler);
    add("/t.S/Echo", async (req) => {
      echoed.push(req);
      return `echo:${req}`;
    });
    add("/t.S/Fail", async () => {
      throw new EtcdError(GrpcCode.FailedPrecondition, "etcdserver: a 50% failure");
    });
    add("/t.S/Hang", () => new Promise<string>(() => {}));
    add("/t.S/Wait", async () => "waited", true);
    // a key-value method: its answer is written straight into the frame. The request says what the
    // answer carries: its key the size of a previous value (or a cluster id too large for uint64),
    // its value the revision
    handlers.set(KVService.put.path, {
      definition: KVService.put,
      waits: false,
      handle: async (req: PutRequest) => putAnswer(req.key.toString(), Number(req.value.toString())),
    } as UnaryHandler);
    const fast = unaryFastPath(
      handlers,
      new GrpcMetrics(registry),
      maxReceive,
      (call: { metadata: Metadata }) => {
        const token = call.metadata.get("token")[0];
        tokens.push(token === undefined ? undefined : String(token));
        return token === undefined ? undefined : { token: String(token) };
      },
      new MethodTable([{ ...Object.fromEntries([...handlers.keys()].map((path) => [path, { path }])) }]),
    );
    server = createServer();
    server.on("stream", (stream, headers) => {
      if (fast(stream, headers)) {
        taken.push(String(headers[":path"]));
        return;
      }
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "12" },
        { endStream: true },
      );
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    session = connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  });
  after(async () => {
    session.close();
    await new Promise((r) => server.close(r));
  });

  function call(path: string, body: Buffer, extra: OutgoingHttpHeaders = {}): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": "application/grpc",
        te: "trailers",
        ...extra,
      });
      let headers: IncomingHttpHeaders = {};
      let trailers: IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      req.on("response", (h) => (headers = h));
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => resolve({ headers, trailers, body: Buffer.concat(chunks) }));
      req.on("error", reject);
      req.end(body);
    });
  }

  it("answers with one framed message and grpc-status 0 in the trailers", async () => {
    const a = await call("/t.S/Echo", frame("hi"));
    assert.equal(a.headers[":status"], 200);
    // etcd's answer headers, no more: its content type, and no encodings named
    assert.equal(a.headers["content-type"], "application/grpc");
    assert.equal(a.headers["grpc-encoding"], undefined);
    assert.equal(a.headers["grpc-accept-encoding"], undefined);
    assert.deepEqual(a.body, frame("echo:hi"));
    assert.equal(a.trailers?.["grpc-status"], "0");
    // etcd (grpc-go) sends an empty message with status 0
    assert.equal(a.trailers?.["grpc-message"], "");
    assert.equal(taken.at(-1), "/t.S/Echo");
    // as etcd's answers: no date header
    assert.equal(a.headers.date, undefined);
  });

  it("ends a failed call with a trailers-only answer carrying the code and the URI-encoded text", async () => {
    const a = await call("/t.S/Fail", frame(""));
    assert.equal(a.headers["grpc-status"], String(GrpcCode.FailedPrecondition));
    assert.equal(decodeURI(String(a.headers["grpc-message"])), "etcdserver: a 50% failure");
    assert.equal(a.body.length, 0);
    assert.equal(a.headers.date, undefined);
  });

  it("ends a call whose handler waits past its grpc-timeout as etcd's handler does (code 2)", async () => {
    const a = await call("/t.S/Hang", frame(""), { "grpc-timeout": "50m" });
    assert.equal(a.headers["grpc-status"], String(GrpcCode.Unknown));
    assert.equal(a.headers["grpc-message"], "context deadline exceeded");
  });

  it("ends a call whose request is not all there at its grpc-timeout with DeadlineExceeded", async () => {
    const req = session.request({
      ":method": "POST",
      ":path": "/t.S/Echo",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "50m",
    });
    req.write(frame("slow").subarray(0, 6));
    const headers = await new Promise<IncomingHttpHeaders>((resolve) => req.once("response", resolve));
    req.close();
    assert.equal(headers["grpc-status"], String(GrpcCode.DeadlineExceeded));
    assert.equal(headers["grpc-message"], "context deadline exceeded");
  });

  it("answers a request whose grpc-timeout passed already without calling its handler", async () => {
    const a = await call("/t.S/Echo", frame("late"), { "grpc-timeout": "1n" });
    assert.equal(a.headers["grpc-status"], String(GrpcCode.DeadlineExceeded));
    assert.equal(a.headers["grpc-message"], "context deadline exceeded");
    const b = await call("/t.S/Echo", frame("in time"), { "grpc-timeout": "1S" });
    assert.equal(b.trailers?.["grpc-status"], "0");
    assert.ok(echoed.includes("in time"));
    assert.ok(!echoed.includes("late"), "the handler ran for a request past its deadline");
  });

  it("refuses a message over the receive limit with ResourceExhausted, in etcd's words", async () => {
    const a = await call("/t.S/Echo", frame(Buffer.alloc(maxReceive + 1)));
    assert.equal(a.headers["grpc-status"], String(GrpcCode.ResourceExhausted));
    assert.equal(
      decodeURI(String(a.headers["grpc-message"])),
      `grpc: received message larger than max (1025 vs. 1024)`,
    );
  });

  it("refuses a call without a message, and answers the first of two as grpc-go does", async () => {
    const none = await call("/t.S/Echo", Buffer.alloc(0));
    // grpc-go's io.EOF, as it is
    assert.equal(none.headers["grpc-status"], String(GrpcCode.Unknown));
    assert.equal(none.headers["grpc-message"], "EOF");
    const two = await call("/t.S/Echo", Buffer.concat([frame("a"), frame("b")]));
    assert.equal(two.trailers?.["grpc-status"], "0");
    assert.equal(two.body.subarray(5).toString(), "echo:a");
  });

  it("answers a message cut short or flagged compressed with grpc-go's status and text", async () => {
    const cases: [Buffer, string, string][] = [
      [Buffer.from([0, 0, 0]), "2", "unexpected EOF"],
      [frame("abc").subarray(0, 7), "2", "unexpected EOF"],
      [
        Buffer.concat([Buffer.from([1]), frame("x").subarray(1)]),
        "13",
        "grpc: compressed flag set with identity or empty encoding",
      ],
      [
        Buffer.concat([Buffer.from([2]), frame("x").subarray(1)]),
        "13",
        "grpc: received unexpected payload format 2",
      ],
    ];
    for (const [body, code, text] of cases) {
      const a = await call("/t.S/Echo", body);
      assert.equal(a.headers["grpc-status"], code, text);
      assert.equal(a.headers["grpc-message"], text);
    }
  });

  it("passes the caller's token to the handler's credentials", async () => {
    await call("/t.S/Echo", frame("x"), { token: "tok123" });
    assert.equal(tokens.at(-1), "tok123");
    await call("/t.S/Echo", frame("x"));
    assert.equal(tokens.at(-1), undefined);
  });

  it("leaves waiting handlers to grpc-js, and refuses compressed requests and unknown methods as etcd", async () => {
    const before = taken.length;
    const wait = await call("/t.S/Wait", frame("x"));
    assert.equal(wait.headers["grpc-status"], "12");
    assert.equal(wait.headers["grpc-message"], undefined, "grpc-js's side answered");
    assert.equal(taken.length, before);
    for (const [path, extra, text] of [
      [
        "/t.S/Echo",
        { "grpc-encoding": "gzip" },
        'grpc: Decompressor is not installed for grpc-encoding "gzip"',
      ],
      ["/t.S/Nope", {}, "unknown method Nope for service t.S"],
      ["/u.S/Echo", {}, "unknown service u.S"],
      ["/Echo", {}, 'malformed method name: "/Echo"'],
    ] as const) {
      const a = await call(path, frame("x"), extra);
      assert.equal(a.headers["grpc-message"], text, path);
      assert.equal(a.headers["grpc-status"], path === "/Echo" ? "8" : "12", path);
    }
    assert.equal(taken.length, before + 4);
  });

  it("writes a key-value answer as the generated serializer does, whatever came before it", async () => {
    const put = (key: string, revision: number) =>
      call(
        KVService.put.path,
        frame(
          KVService.put.requestSerialize({
            key: Buffer.from(key),
            value: Buffer.from(String(revision)),
            lease: 0n,
            prevKv: false,
            ignoreValue: false,
            ignoreLease: false,
          }),
        ),
      );
    const expected = (key: string, revision: number) =>
      frame(KVService.put.responseSerialize(putAnswer(key, revision)));
    // small, then past the reused writer's bound, then small again; revisions across varint widths
    for (const [key, revision] of [
      ["a", 1],
      ["40000", 300],
      ["b", 2 ** 40],
      ["70000", 5],
      ["c", 127],
    ] as const) {
      const a = await put(key, revision);
      assert.equal(a.trailers?.["grpc-status"], "0", key);
      assert.deepEqual(a.body, expected(key, revision), key);
    }
    // an answer the encoder refuses fails its call, and leaves nothing behind for the next one
    const refused = await put("too-large", 4);
    assert.equal(refused.headers["grpc-status"], String(GrpcCode.Internal));
    const next = await put("d", 8);
    assert.deepEqual(next.body, expected("d", 8));
  });

  it("counts started and handled calls by method and code", async () => {
    const text = await registry.metrics();
    assert.match(
      text,
      /grpc_server_handled_total\{grpc_type="unary",grpc_service="t.S",grpc_method="Echo",grpc_code="OK"\} [1-9]/,
    );
    assert.match(
      text,
      /grpc_server_handled_total\{grpc_type="unary",grpc_service="t.S",grpc_method="Hang",grpc_code="Unknown"\} 1/,
    );
  });
});
