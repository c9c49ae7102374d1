// A unary answer as a raw HTTP/2 client reads it off the socket: HEADERS, the message's DATA, and
// the trailers (grpc-status 0, an empty grpc-message) ending the stream, for small and large
// messages and many calls at once; on Node 20, whose http2 internals the one-write answer knows,
// the three frames of a small answer arrive together.
import assert from "node:assert/strict";
import { connect as connectHttp2, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { encodeLiterals, HpackDecoder } from "../../src/api/grpc/hpack.js";
import { answerOk } from "../../src/api/grpc/ok-answer.js";

const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 };
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

function frameOf(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** A gRPC message frame of `size` bytes of payload (its bytes a function of `seed`). */
function message(size: number, seed: number): Buffer {
  const m = Buffer.alloc(5 + size);
  m.writeUInt32BE(size, 1);
  for (let i = 0; i < size; i++) m[5 + i] = (seed + i * 7) & 0xff;
  return m;
}

interface ReadFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** The socket read the frame's last byte came in. */
  read: number;
}

/** A raw HTTP/2 client connection: it writes frames and collects the server's, read by read. */
class RawClient {
  private pending = Buffer.alloc(0);
  private reads = 0;
  private readonly frames: ReadFrame[] = [];
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.reads++;
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 9) {
        const length = this.pending.readUIntBE(0, 3);
        if (this.pending.length < 9 + length) break;
        const frame: ReadFrame = {
          type: this.pending[3],
          flags: this.pending[4],
          streamId: this.pending.readUInt32BE(5) & 0x7fffffff,
          payload: this.pending.subarray(9, 9 + length),
          read: this.reads,
        };
        this.pending = this.pending.subarray(9 + length);
        if (frame.type === FrameType.SETTINGS && (frame.flags & 1) === 0)
          socket.write(frameOf(FrameType.SETTINGS, 1, 0, Buffer.alloc(0)));
        this.frames.push(frame);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    socket.write(Buffer.concat([preface, frameOf(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]));
    return new RawClient(socket);
  }

  /** Sends one call's request (HEADERS, then DATA ending the stream). */
  call(streamId: number, path: string, body: Buffer): void {
    const block = encodeLiterals([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", path],
      [":authority", "localhost"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]);
    this.socket.write(
      Buffer.concat([
        frameOf(FrameType.HEADERS, END_HEADERS, streamId, block),
        frameOf(FrameType.DATA, END_STREAM, streamId, body),
      ]),
    );
  }

  /** The stream's frames once one of them ended it (or the server reset it). */
  async answer(streamId: number): Promise<ReadFrame[]> {
    for (;;) {
      const mine = this.frames.filter((f) => f.streamId === streamId);
      if (mine.some((f) => (f.flags & END_STREAM) !== 0 || f.type === FrameType.RST_STREAM)) return mine;
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Reads a raw client's answer: the headers, the body, the trailers and where each arrived. */
function readAnswer(frames: ReadFrame[], decoder: HpackDecoder) {
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
    headers: decoder.decode(first.payload),
    body: Buffer.concat(data.map((f) => f.payload)),
    trailers: decoder.decode(last.payload),
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
    const decoder = new HpackDecoder();
    const sizes = [27, 0, 1, 27, 200, 16_384, 40_000, 27, 27, 27];
    const reads: number[] = [];
    try {
      for (const [i, size] of sizes.entries()) {
        const streamId = 1 + 2 * i;
        client.call(streamId, "/etcdserverpb.KV/Put", request(size));
        const a = readAnswer(await client.answer(streamId), decoder);
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
      client.close();
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
