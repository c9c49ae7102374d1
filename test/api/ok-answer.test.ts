// A unary answer as a raw HTTP/2 client reads it off the socket: HEADERS, the message's DATA, and
// the trailers (grpc-status 0, an empty grpc-message) ending the stream, for small and large
// messages and many calls at once; on Node 20, whose http2 internals the one-write answer knows,
// the three frames of a small answer arrive together.
import assert from "node:assert/strict";
import { connect as connectHttp2, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { after, before, describe, it } from "node:test";
import { answerOk } from "../../src/api/grpc/ok-answer.js";
import { Flags, FrameType } from "../../src/api/wire/frames.js";
import { grpcRequest, RawClient, type ReadFrame } from "./wire-raw-client.js";

const { END_STREAM, END_HEADERS } = Flags;

/** A gRPC message frame of `size` bytes of payload (its bytes a function of `seed`). */
function message(size: number, seed: number): Buffer {
  const m = Buffer.alloc(5 + size);
  m.writeUInt32BE(size, 1);
  for (let i = 0; i < size; i++) m[5 + i] = (seed + i * 7) & 0xff;
  return m;
}

/** Reads a raw client's answer: the headers, the body, the trailers and where each arrived. */
function readAnswer(frames: ReadFrame[], client: RawClient) {
  assert.ok(
    frames.every((f) => f.type === FrameType.HEADERS || f.type === FrameType.DATA),
    `frames of types ${frames.map((f) => f.type)}`,
  );
  const [first, ...rest] = frames;
  const last = rest.at(-1);
  assert.ok(last !== undefined, "an answer of one frame");
  assert.equal(first.type, FrameType.HEADERS);
  assert.equal(first.flags & END_STREAM, 0, "the headers do not end the stream");
  assert.equal(last.type, FrameType.HEADERS, "the answer ends with trailers");
  assert.equal(last.flags, END_STREAM | END_HEADERS);
  const data = rest.slice(0, -1);
  assert.ok(
    data.every((f) => f.type === FrameType.DATA && f.flags === 0),
    "DATA between them, none ending the stream",
  );
  return {
    headers: client.fieldsOf(first),
    body: Buffer.concat(data.map((f) => f.payload)),
    trailers: client.fieldsOf(last),
    reads: new Set(frames.map((f) => f.read)).size,
  };
}

describe("a unary answer's frames", { timeout: 60_000 }, () => {
  let server: Http2Server;
  let port: number;

  before(async () => {
    server = createServer();
    server.on("stream", (stream: ServerHttp2Stream) => {
      const chunks: Buffer[] = [];
      stream.on("error", () => {});
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const request = Buffer.concat(chunks);
        const size = request.readUInt32BE(5);
        // answered a turn later, as a member answers once its handler's promise settles
        setImmediate(() => answerOk(stream, message(size, size)));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
  });

  /** A request whose message is the answer's size. */
  function request(size: number): Buffer {
    const body = Buffer.from([0, 0, 0, 0, 4, 0, 0, 0, 0]);
    body.writeUInt32BE(size, 5);
    return body;
  }

  it("ends each answer with grpc-status 0 and an empty grpc-message, after the whole message", async () => {
    const client = await RawClient.open(port);
    const sizes = [27, 0, 1, 27, 200, 16_384, 40_000, 27, 27, 27];
    const reads: number[] = [];
    try {
      for (const [i, size] of sizes.entries()) {
        const streamId = 1 + 2 * i;
        client.write(
          client.headers(streamId, grpcRequest("/etcdserverpb.KV/Put")),
          client.data(streamId, request(size)),
        );
        const a = readAnswer(await client.stream(streamId), client);
        assert.deepEqual(a.headers, [
          [":status", "200"],
          ["content-type", "application/grpc"],
        ]);
        assert.deepEqual(a.body, message(size, size), `the message of ${size} bytes`);
        assert.deepEqual(a.trailers, [
          ["grpc-status", "0"],
          ["grpc-message", ""],
        ]);
        reads.push(a.reads);
      }
    } finally {
      client.socket.destroy();
    }
    // Node 20's internals are the ones the one-write answer expects: a small answer after the first
    // (which goes Node's own way) leaves in one write, so arrives in one read
    if (process.versions.node.split(".")[0] === "20")
      assert.deepEqual(
        reads.slice(-3),
        [1, 1, 1],
        `reads of each answer: ${reads.join(", ")} (sizes ${sizes.join(", ")})`,
      );
  });

  it("answers many calls at once on one connection, each completely", async () => {
    const session = connectHttp2(`http://127.0.0.1:${port}`);
    try {
      const answers = await Promise.all(
        Array.from(
          { length: 200 },
          (_, i) =>
            new Promise<{ size: number; body: Buffer; status: unknown; message: unknown }>(
              (resolve, reject) => {
                const size = (i * 37) % 3000;
                const req = session.request({
                  ":method": "POST",
                  ":path": "/etcdserverpb.KV/Range",
                  "content-type": "application/grpc",
                  te: "trailers",
                });
                const chunks: Buffer[] = [];
                let trailers: Record<string, unknown> = {};
                req.on("data", (d: Buffer) => chunks.push(d));
                req.on("trailers", (t) => (trailers = t));
                req.on("end", () =>
                  resolve({
                    size,
                    body: Buffer.concat(chunks),
                    status: trailers["grpc-status"],
                    message: trailers["grpc-message"],
                  }),
                );
                req.on("error", reject);
                req.end(request(size));
              },
            ),
        ),
      );
      for (const a of answers) {
        assert.deepEqual(a.body, message(a.size, a.size), `the message of ${a.size} bytes`);
        assert.equal(a.status, "0");
        assert.equal(a.message, "");
      }
    } finally {
      session.close();
    }
  });
});
