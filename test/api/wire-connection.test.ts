// The client port's own HTTP/2 connection, fed raw frames over an in-process duplex pair (each write
// one chunk): its preface, frames split across chunks and many in one, CONTINUATION, padding and
// priority, flow control both ways, resets, the limit of concurrent streams, the ping policy and the
// server's pings, and a GOAWAY with the right code for each kind of broken input.
import assert from "node:assert/strict";
import { type AddressInfo, connect, createServer } from "node:net";
import { duplexPair } from "node:stream";
import { after, describe, it } from "node:test";
import { encodeLiterals } from "../../src/api/grpc/hpack.js";
import { answerHeadersBlock, okTrailersBlock } from "../../src/api/wire/answer-blocks.js";
import {
  CONNECTION_WINDOW,
  STREAM_WINDOW,
  WireConnection,
  type WireConnectionOptions,
} from "../../src/api/wire/connection.js";
import {
  ErrorCode,
  Flags,
  FrameType,
  frame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../../src/api/wire/frames.js";
import type { WireStream, WireStreamHandler } from "../../src/api/wire/wire-stream.js";
import { grpcMessage, grpcRequest, RawClient, type ReadFrame } from "./wire-raw-client.js";

interface Log {
  requests: Map<number, Buffer>;
  closed: [number, number][];
  streams: Map<number, WireStream>;
}

/**
 * Calls that echo their request (/echo), answer N bytes (/size/N), answer them after D ms
 * (/later/N/D), answer N bytes from memory they overwrite once the write returns (/borrowed/N), never
 * answer (/hold), or never answer nor consume what they are sent (/stall).
 */
function calls(log: Log) {
  return (stream: WireStream, fields: [string, string][]): WireStreamHandler => {
    const path = fields.find(([n]) => n === ":path")?.[1] ?? "";
    const chunks: Buffer[] = [];
    log.streams.set(stream.id, stream);
    return {
      data(chunk) {
        if (path === "/stall") return;
        chunks.push(Buffer.from(chunk));
        stream.consumed(chunk.length);
      },
      end() {
        const request = Buffer.concat(chunks);
        log.requests.set(stream.id, request);
        if (path === "/echo") setImmediate(() => stream.answerOk(request));
        else if (path.startsWith("/size/")) {
          const n = Number(path.slice(6));
          const m = grpcMessage(Buffer.alloc(n, 7));
          for (let i = 0; i < n; i++) m[5 + i] = i & 0xff;
          stream.answerOk(m);
        } else if (path.startsWith("/later/")) {
          const [n, ms] = path.slice(7).split("/").map(Number);
          setTimeout(() => stream.answerOk(sizedMessage(n)), ms);
        } else if (path.startsWith("/borrowed/")) {
          const m = sizedMessage(Number(path.slice(10)));
          stream.respond(answerHeadersBlock, false);
          stream.sendData(m, false, true);
          m.fill(0xee);
          stream.sendTrailers(okTrailersBlock);
        }
      },
      closed(code) {
        log.closed.push([stream.id, code]);
      },
    };
  };
}

/** A gRPC message of n bytes, byte i being i & 0xff. */
function sizedMessage(n: number): Buffer {
  const m = grpcMessage(Buffer.alloc(n));
  for (let i = 0; i < n; i++) m[5 + i] = i & 0xff;
  return m;
}

function setup(options: Partial<WireConnectionOptions> = {}) {
  const [server, client] = duplexPair();
  const log: Log = { requests: new Map(), closed: [], streams: new Map() };
  const connection = new WireConnection(server, {
    opener: { open: calls(log) },
    pingMinTimeMs: 5000,
    pingIntervalMs: 2 * 60 * 60 * 1000,
    pingTimeoutMs: 20_000,
    ...options,
  });
  const raw = new RawClient(client);
  return { connection, raw, log };
}

function readAnswer(raw: RawClient, frames: ReadFrame[]) {
  const headers = frames.filter((f) => f.type === FrameType.HEADERS);
  const data = frames.filter((f) => f.type === FrameType.DATA);
  assert.equal(headers.length, 2, "headers and trailers");
  assert.equal(headers[1].flags & Flags.END_STREAM, Flags.END_STREAM);
  return {
    headers: raw.fieldsOf(headers[0]),
    body: Buffer.concat(data.map((f) => f.payload)),
    trailers: raw.fieldsOf(headers[1]),
  };
}

describe("the client port's own HTTP/2 connection", { timeout: 30_000 }, () => {
  it("starts with SETTINGS of large windows and a connection WINDOW_UPDATE, and acknowledges the client's", async () => {
    const { raw } = setup({ maxConcurrentStreams: 7 });
    raw.start();
    await raw.frame(FrameType.WINDOW_UPDATE, 0);
    const [settings, update] = raw.frames;
    assert.equal(settings.type, FrameType.SETTINGS);
    const values = new Map<number, number>();
    for (let at = 0; at < settings.payload.length; at += 6)
      values.set(settings.payload.readUInt16BE(at), settings.payload.readUInt32BE(at + 2));
    assert.equal(values.get(Setting.INITIAL_WINDOW_SIZE), STREAM_WINDOW);
    assert.equal(values.get(Setting.MAX_CONCURRENT_STREAMS), 7);
    assert.equal(values.get(Setting.MAX_HEADER_LIST_SIZE), 16 << 20);
    assert.equal(update.payload.readUInt32BE(0), CONNECTION_WINDOW - 65_535);
    const ack = await raw.until((f) => f.some((x) => x.type === FrameType.SETTINGS && x.flags === Flags.ACK));
    assert.ok(ack);
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from("12345678")));
    const pong = await raw.frame(FrameType.PING);
    assert.equal(pong.flags, Flags.ACK);
    assert.equal(pong.payload.toString(), "12345678");
    raw.close();
  });

  it("reads a request split byte by byte and many requests in one chunk", async () => {
    const { raw, log } = setup();
    const bytes = Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
      frame(FrameType.SETTINGS, 0, 0),
      raw.headers(1, grpcRequest("/echo")),
      raw.data(1, grpcMessage("split")),
    ]);
    for (const byte of bytes) raw.write(Buffer.from([byte]));
    const a = readAnswer(raw, await raw.stream(1));
    assert.deepEqual(a.body, grpcMessage("split"));
    const many: Buffer[] = [];
    for (let id = 3; id <= 41; id += 2)
      many.push(raw.headers(id, grpcRequest("/echo")), raw.data(id, grpcMessage(`m${id}`)));
    raw.write(...many);
    for (let id = 3; id <= 41; id += 2) {
      const answer = readAnswer(raw, await raw.stream(id));
      assert.deepEqual(answer.body, grpcMessage(`m${id}`));
      assert.deepEqual(answer.headers, [
        [":status", "200"],
        ["content-type", "application/grpc"],
      ]);
      assert.deepEqual(answer.trailers, [
        ["grpc-status", "0"],
        ["grpc-message", ""],
      ]);
    }
    assert.equal(log.requests.size, 21);
    raw.close();
  });

  it("takes CONTINUATION frames, padded and prioritized HEADERS, and padded DATA", async () => {
    const { raw, log } = setup();
    raw.start();
    const block = encodeLiterals(grpcRequest("/echo", [["x-long", "v".repeat(100)]]));
    // HEADERS: padded (pad length 3) with a priority, the block's first 10 bytes; then two CONTINUATIONs
    const first = Buffer.concat([
      Buffer.from([3]),
      Buffer.from([0, 0, 0, 0, 16]),
      block.subarray(0, 10),
      Buffer.alloc(3),
    ]);
    const data = Buffer.concat([Buffer.from([4]), grpcMessage("padded"), Buffer.alloc(4)]);
    raw.write(
      frame(FrameType.HEADERS, Flags.PADDED | Flags.PRIORITY, 1, first),
      frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 50)),
      frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(50)),
      frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 1])),
      frame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 1, data),
    );
    const a = readAnswer(raw, await raw.stream(1));
    assert.deepEqual(a.body, grpcMessage("padded"));
    assert.deepEqual(log.requests.get(1), grpcMessage("padded"));
    raw.close();
  });

  for (const [name, bytes, code] of [
    ["a bad preface", [Buffer.from("PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n")], ErrorCode.PROTOCOL_ERROR],
    ["a frame over 16 KiB", [frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385))], ErrorCode.FRAME_SIZE_ERROR],
    [
      "a header block HPACK cannot read",
      [
        frame(
          FrameType.HEADERS,
          Flags.END_HEADERS,
          1,
          Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ),
      ],
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      "a table size update past SETTINGS",
      [frame(FrameType.HEADERS, Flags.END_HEADERS, 1, Buffer.from([0x3f, 0xe1, 0x3f]))],
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      "a CONTINUATION without HEADERS",
      [frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, Buffer.alloc(1))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "another frame inside a header block",
      [frame(FrameType.HEADERS, 0, 1, Buffer.alloc(0)), frame(FrameType.PING, 0, 0, Buffer.alloc(8))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "an even stream id",
      [frame(FrameType.HEADERS, Flags.END_HEADERS, 2, encodeLiterals(grpcRequest("/echo")))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    ["DATA on an idle stream", [frame(FrameType.DATA, 0, 5, Buffer.alloc(1))], ErrorCode.PROTOCOL_ERROR],
    ["DATA on stream 0", [frame(FrameType.DATA, 0, 0, Buffer.alloc(1))], ErrorCode.PROTOCOL_ERROR],
    [
      "padding longer than the frame",
      [
        frame(FrameType.HEADERS, Flags.END_HEADERS, 1, encodeLiterals(grpcRequest("/hold"))),
        frame(FrameType.DATA, Flags.PADDED, 1, Buffer.from([9, 1, 2])),
      ],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "SETTINGS of a bad size",
      [frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))],
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    ["SETTINGS on a stream", [frame(FrameType.SETTINGS, 0, 1, Buffer.alloc(0))], ErrorCode.PROTOCOL_ERROR],
    [
      "a window past 2^31-1",
      [settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31]])],
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    ["a frame size under 16 KiB", [settingsFrame([[Setting.MAX_FRAME_SIZE, 100]])], ErrorCode.PROTOCOL_ERROR],
    ["a PING of 7 bytes", [frame(FrameType.PING, 0, 0, Buffer.alloc(7))], ErrorCode.FRAME_SIZE_ERROR],
    ["a connection WINDOW_UPDATE of 0", [windowUpdateFrame(0, 0)], ErrorCode.PROTOCOL_ERROR],
    ["a connection window overflow", [windowUpdateFrame(0, 2 ** 31 - 1)], ErrorCode.FLOW_CONTROL_ERROR],
    [
      "RST_STREAM on an idle stream",
      [frame(FrameType.RST_STREAM, 0, 9, Buffer.alloc(4))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a PUSH_PROMISE",
      [frame(FrameType.PUSH_PROMISE, Flags.END_HEADERS, 1, Buffer.alloc(4))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "more DATA than the connection window",
      [1, 3, 5, 7, 9].flatMap((id) => [
        frame(FrameType.HEADERS, Flags.END_HEADERS, id, encodeLiterals(grpcRequest("/stall"))),
        ...Array.from({ length: 256 }, () => frame(FrameType.DATA, 0, id, Buffer.alloc(16_384))),
      ]),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
  ] as [string, Buffer[], number][]) {
    it(`ends the connection with GOAWAY on ${name}`, async () => {
      const { raw, connection } = setup();
      if (name === "a bad preface") raw.write(...bytes);
      else {
        raw.start();
        raw.write(...bytes);
      }
      const goaway = await raw.goaway();
      assert.equal(goaway.code, code, `code ${goaway.code} (${goaway.debug})`);
      await raw.until(() => raw.closed, "the end of the connection");
      assert.equal(connection.streamCount, 0, "no stream left behind");
      raw.close();
    });

    it(`ends the connection without GOAWAY on ${name} where errors are not told (grpc-go's h2c)`, async () => {
      const { raw, connection } = setup({ goawayOnError: false });
      if (name === "a bad preface") raw.write(...bytes);
      else {
        raw.start();
        raw.write(...bytes);
      }
      await raw.until(() => raw.closed, "the end of the connection");
      assert.ok(!raw.frames.some((f) => f.type === FrameType.GOAWAY), "a GOAWAY was sent");
      assert.equal(connection.streamCount, 0, "no stream left behind");
      raw.close();
    });
  }

  it("sends what the client's windows allow, the rest as they open, the trailers last", async () => {
    const { raw } = setup();
    raw.start(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1000]]));
    raw.write(raw.headers(1, grpcRequest("/size/100000")), raw.data(1, grpcMessage("")));
    await raw.until((f) => f.some((x) => x.type === FrameType.DATA && x.streamId === 1));
    await new Promise((r) => setTimeout(r, 20));
    const sent = () =>
      raw.frames.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
    assert.equal(sent(), 1000, "the stream's window");
    raw.write(windowUpdateFrame(1, 200_000));
    // the connection's window (65,535) is what holds it now
    await raw.until(() => sent() === 65_535, "the connection's window");
    assert.equal(raw.frames.filter((f) => f.streamId === 1 && f.type === FrameType.HEADERS).length, 1);
    raw.write(windowUpdateFrame(0, 100_000));
    const a = readAnswer(raw, await raw.stream(1));
    assert.equal(a.body.length, 100_005);
    for (let i = 0; i < 100_000; i++) assert.equal(a.body[5 + i], i & 0xff);
    assert.ok(raw.frames.filter((f) => f.type === FrameType.DATA).every((f) => f.payload.length <= 16_384));
    raw.close();
  });

  it("keeps a copy of what a write that lends its memory leaves queued under the windows", async () => {
    const { raw } = setup();
    raw.start(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1000]]));
    raw.write(raw.headers(1, grpcRequest("/borrowed/50000")), raw.data(1, grpcMessage("")));
    await raw.until((f) => f.some((x) => x.type === FrameType.DATA && x.streamId === 1));
    raw.write(windowUpdateFrame(1, 100_000));
    const a = readAnswer(raw, await raw.stream(1));
    assert.equal(a.body.length, 50_005);
    for (let i = 0; i < 50_000; i++) assert.equal(a.body[5 + i], i & 0xff, `byte ${i}`);
    raw.close();
  });

  it("over TCP, uses its output memory again only once the socket is done with it", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    after(() => server.close());
    const log: Log = { requests: new Map(), closed: [], streams: new Map() };
    server.on("connection", (socket) => {
      new WireConnection(socket, {
        opener: { open: calls(log) },
        pingMinTimeMs: 5000,
        pingIntervalMs: 2 * 60 * 60 * 1000,
        pingTimeoutMs: 20_000,
      });
    });
    const socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const raw = new RawClient(socket);
    raw.start(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW]]));
    raw.write(windowUpdateFrame(0, CONNECTION_WINDOW));
    await raw.frame(FrameType.SETTINGS);
    // the client reads nothing for a while: the kernel's buffers fill, and the server's writes, each
    // in a turn of its own, wait with their memory held by the socket
    socket.pause();
    const sizes = Array.from({ length: 24 }, (_, k) => 200_000 + 997 * k);
    const requests = sizes.map((n, k) => [
      raw.headers(2 * k + 1, grpcRequest(k % 3 === 2 ? `/borrowed/${n}` : `/later/${n}/${2 * k}`)),
      raw.data(2 * k + 1, grpcMessage("")),
    ]);
    raw.write(...requests.flat());
    await new Promise((r) => setTimeout(r, 150));
    socket.resume();
    for (const [k, n] of sizes.entries()) {
      const a = readAnswer(raw, await raw.stream(2 * k + 1));
      assert.equal(a.body.length, n + 5, `stream ${2 * k + 1}`);
      for (let i = 0; i < n; i++) {
        if (a.body[5 + i] !== (i & 0xff)) assert.fail(`stream ${2 * k + 1}: byte ${i} is ${a.body[5 + i]}`);
      }
    }
    socket.destroy();
  });

  it("resets a stream sent more than its window", async () => {
    const { raw, log } = setup();
    raw.start();
    const frames = [raw.headers(1, grpcRequest("/stall"))];
    for (let i = 0; i <= 256; i++) frames.push(raw.data(1, Buffer.alloc(16_384), 0));
    raw.write(...frames);
    const rst = await raw.frame(FrameType.RST_STREAM, 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.FLOW_CONTROL_ERROR);
    assert.deepEqual(log.closed, [[1, ErrorCode.FLOW_CONTROL_ERROR]]);
    raw.close();
  });

  it("gives receive window back as a call consumes its request", async () => {
    const { raw } = setup();
    raw.start();
    raw.write(raw.headers(1, grpcRequest("/hold")));
    const chunk = Buffer.alloc(16_384);
    const frames: Buffer[] = [];
    // more than half the stream window: a stream WINDOW_UPDATE comes back
    for (let i = 0; i < 130; i++) frames.push(raw.data(1, chunk, 0));
    raw.write(...frames);
    const update = await raw.frame(FrameType.WINDOW_UPDATE, 1);
    assert.ok(update.payload.readUInt32BE(0) >= STREAM_WINDOW / 2);
    raw.close();
  });

  it("tells a call the client reset its stream, and forgets the stream", async () => {
    const { raw, log, connection } = setup();
    raw.start();
    raw.write(raw.headers(1, grpcRequest("/hold")), raw.data(1, grpcMessage("x")));
    await raw.until(() => log.requests.has(1));
    assert.equal(connection.streamCount, 1);
    raw.write(frame(FrameType.RST_STREAM, 0, 1, Buffer.from([0, 0, 0, ErrorCode.CANCEL])));
    await raw.until(() => log.closed.length > 0);
    assert.deepEqual(log.closed, [[1, ErrorCode.CANCEL]]);
    assert.equal(connection.streamCount, 0);
    // DATA after the client's own reset is its error on that stream (RFC 9113 §5.1); the connection serves on
    raw.write(
      raw.data(1, Buffer.alloc(3)),
      raw.headers(3, grpcRequest("/echo")),
      raw.data(3, grpcMessage("on")),
    );
    assert.deepEqual(readAnswer(raw, await raw.stream(3)).body, grpcMessage("on"));
    const rst = await raw.frame(FrameType.RST_STREAM, 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.STREAM_CLOSED);
    raw.close();
  });

  it("answers DATA on a closed stream with RST_STREAM STREAM_CLOSED, but ignores DATA on its way to a stream it reset", async () => {
    const { raw, log } = setup({ maxConcurrentStreams: 1 });
    raw.start();
    raw.write(raw.headers(1, grpcRequest("/echo")), raw.data(1, grpcMessage("a")));
    await raw.stream(1);
    // stream 1 is closed (both sides ended): more DATA on it
    raw.write(raw.data(1, grpcMessage("late")));
    const closed = await raw.frame(FrameType.RST_STREAM, 1);
    assert.equal(closed.payload.readUInt32BE(0), ErrorCode.STREAM_CLOSED);
    // stream 5 is refused (stream 3 holds the one place): the DATA sent with its HEADERS is ignored
    raw.write(
      raw.headers(3, grpcRequest("/hold")),
      raw.headers(5, grpcRequest("/echo")),
      raw.data(5, grpcMessage("b"), 0),
      raw.data(5, grpcMessage("c")),
    );
    const refused = await raw.frame(FrameType.RST_STREAM, 5);
    assert.equal(refused.payload.readUInt32BE(0), ErrorCode.REFUSED_STREAM);
    log.streams.get(3)?.answerOk(grpcMessage("held"));
    raw.write(raw.headers(7, grpcRequest("/echo")), raw.data(7, grpcMessage("d")));
    assert.deepEqual(readAnswer(raw, await raw.stream(7)).body, grpcMessage("d"));
    const resets = raw.frames.filter((f) => f.type === FrameType.RST_STREAM);
    assert.deepEqual(
      resets.map((f) => [f.streamId, f.payload.readUInt32BE(0)]),
      [
        [1, ErrorCode.STREAM_CLOSED],
        [5, ErrorCode.REFUSED_STREAM],
        [3, ErrorCode.NO_ERROR],
      ],
    );
    assert.ok(!raw.frames.some((f) => f.type === FrameType.GOAWAY));
    raw.close();
  });

  it("answers trailers on a stream the client already ended with RST_STREAM STREAM_CLOSED", async () => {
    const { raw, log } = setup();
    raw.start();
    raw.write(raw.headers(1, grpcRequest("/hold")), raw.data(1, grpcMessage("x")));
    await raw.until(() => log.requests.has(1));
    raw.write(raw.headers(1, [["x-trailer", "1"]], Flags.END_HEADERS | Flags.END_STREAM));
    const rst = await raw.frame(FrameType.RST_STREAM, 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.STREAM_CLOSED);
    assert.deepEqual(log.closed, [[1, ErrorCode.STREAM_CLOSED]]);
    raw.close();
  });

  it("ends the connection with GOAWAY PROTOCOL_ERROR on HEADERS for a closed stream", async () => {
    const { raw } = setup();
    raw.start();
    raw.write(raw.headers(1, grpcRequest("/echo")), raw.data(1, grpcMessage("a")));
    await raw.stream(1);
    raw.write(raw.headers(1, grpcRequest("/echo")), raw.data(1, grpcMessage("again")));
    const goaway = await raw.goaway();
    assert.deepEqual([goaway.last, goaway.code], [1, ErrorCode.PROTOCOL_ERROR]);
    await raw.until(() => raw.closed, "the end of the connection");
  });

  const request = grpcRequest("/echo");
  const without = (name: string) => request.filter(([n]) => n !== name);
  const replaced = (name: string, value: string) =>
    request.map(([n, v]): [string, string] => (n === name ? [n, value] : [n, v]));
  for (const [name, fields] of [
    ["an upper-case field name", [...request, ["X-Upper", "1"]]],
    ["a field name that is no token", [...request, ["x y", "1"]]],
    ["a connection field", [...request, ["connection", "keep-alive"]]],
    ["a keep-alive field", [...request, ["keep-alive", "timeout=5"]]],
    ["a proxy-connection field", [...request, ["proxy-connection", "close"]]],
    ["a transfer-encoding field", [...request, ["transfer-encoding", "chunked"]]],
    ["an upgrade field", [...request, ["upgrade", "h2c"]]],
    ["te other than trailers", replaced("te", "gzip")],
    ["a pseudo-header after a regular field", [...without(":authority"), [":authority", "localhost"]]],
    ["a second :path", [[":path", "/echo"], ...request]],
    ["a second :method", [[":method", "POST"], ...request]],
    ["an unknown pseudo-header", [[":protocol", "websocket"], ...request]],
    ["a response pseudo-header", [[":status", "200"], ...request]],
    ["no :path", without(":path")],
    ["an empty :path", replaced(":path", "")],
    ["no :method", without(":method")],
    ["no :scheme", without(":scheme")],
    ["a control character in a value", [...request, ["x-value", "a\nb"]]],
  ] as [string, [string, string][]][]) {
    it(`resets a request with ${name} with PROTOCOL_ERROR and serves on`, async () => {
      const { raw, log } = setup();
      raw.start();
      raw.write(raw.headers(1, fields), raw.data(1, grpcMessage("bad")));
      const rst = await raw.frame(FrameType.RST_STREAM, 1);
      assert.equal(rst.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);
      assert.ok(!log.streams.has(1), "no call opened");
      raw.write(raw.headers(3, grpcRequest("/echo")), raw.data(3, grpcMessage("good")));
      assert.deepEqual(readAnswer(raw, await raw.stream(3)).body, grpcMessage("good"));
      assert.equal(raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 1);
      raw.close();
    });
  }

  it("resets a stream whose trailers carry a pseudo-header", async () => {
    const { raw, log } = setup();
    raw.start();
    raw.write(
      raw.headers(1, grpcRequest("/hold")),
      raw.data(1, grpcMessage("x"), 0),
      raw.headers(1, [[":path", "/other"]], Flags.END_HEADERS | Flags.END_STREAM),
    );
    const rst = await raw.frame(FrameType.RST_STREAM, 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);
    assert.deepEqual(log.closed, [[1, ErrorCode.PROTOCOL_ERROR]]);
    raw.close();
  });

  it("ends a connection that opens and resets streams faster than the reset budget with GOAWAY ENHANCE_YOUR_CALM", async () => {
    const clock = { ms: 1_000_000 };
    const { raw, log } = setup({ now: () => clock.ms });
    raw.start();
    const frames: Buffer[] = [];
    // 1000 resets at once are a burst the budget takes; the 1001st is one too many
    for (let id = 1; id <= 2001; id += 2)
      frames.push(raw.headers(id, grpcRequest("/hold")), frame(FrameType.RST_STREAM, 0, id, Buffer.alloc(4)));
    frames.push(raw.headers(2003, grpcRequest("/hold")));
    raw.write(...frames);
    const goaway = await raw.goaway();
    assert.deepEqual(
      [goaway.last, goaway.code, goaway.debug],
      [2001, ErrorCode.ENHANCE_YOUR_CALM, "too many resets"],
    );
    assert.equal(log.closed.length, 1001, "every call was told of its reset");
    assert.ok(!log.streams.has(2003), "no stream opened after the GOAWAY");
    await raw.until(() => raw.closed, "the end of the connection");
  });

  it("counts its own resets of malformed requests against the budget too", async () => {
    const clock = { ms: 1_000_000 };
    const { raw } = setup({ now: () => clock.ms, resetBurst: 10 });
    raw.start();
    const frames: Buffer[] = [];
    for (let id = 1; id <= 21; id += 2) frames.push(raw.headers(id, without(":path")));
    raw.write(...frames);
    const goaway = await raw.goaway();
    assert.deepEqual([goaway.last, goaway.code], [21, ErrorCode.ENHANCE_YOUR_CALM]);
    assert.equal(raw.frames.filter((f) => f.type === FrameType.RST_STREAM).length, 10);
  });

  it("lets a client reset streams for ever at a rate under the budget's refill", async () => {
    const clock = { ms: 1_000_000 };
    const { raw, log } = setup({ now: () => clock.ms, resetBurst: 10, resetsPerSecond: 33 });
    raw.start();
    for (let id = 1; id <= 399; id += 4) {
      // a stream opened and reset, then a call answered (which says the reset was read)
      raw.write(
        raw.headers(id, grpcRequest("/hold")),
        frame(FrameType.RST_STREAM, 0, id, Buffer.alloc(4)),
        raw.headers(id + 2, grpcRequest("/echo")),
        raw.data(id + 2, grpcMessage("on")),
      );
      await raw.stream(id + 2);
      // 30 resets a second
      clock.ms += 34;
    }
    assert.equal(log.closed.length, 100);
    assert.ok(!raw.frames.some((f) => f.type === FrameType.GOAWAY));
    raw.close();
  });

  it("resets a call answered before its request ended, and refuses streams past the limit", async () => {
    const { raw, log, connection } = setup({ maxConcurrentStreams: 2 });
    raw.start();
    raw.write(
      raw.headers(1, grpcRequest("/hold")),
      raw.headers(3, grpcRequest("/hold")),
      raw.headers(5, grpcRequest("/hold")),
    );
    const refused = await raw.frame(FrameType.RST_STREAM, 5);
    assert.equal(refused.payload.readUInt32BE(0), ErrorCode.REFUSED_STREAM);
    assert.equal(connection.streamCount, 2);
    log.streams.get(1)?.respond(answerHeadersBlock, false);
    log.streams.get(1)?.sendTrailers(okTrailersBlock);
    const rst = await raw.frame(FrameType.RST_STREAM, 1);
    assert.equal(rst.payload.readUInt32BE(0), ErrorCode.NO_ERROR);
    assert.equal(connection.streamCount, 1);
    raw.close();
    await raw.until(() => raw.closed);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(log.closed, [[3, ErrorCode.CANCEL]], "the open call is told its connection went");
  });

  it("ends a connection pinging too often with GOAWAY ENHANCE_YOUR_CALM too_many_pings (told on h2c too)", async () => {
    const clock = { ms: 1_000_000 };
    const { raw } = setup({ now: () => clock.ms, goawayOnError: false });
    raw.start();
    const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
    for (let i = 0; i < 3; i++) {
      raw.write(ping);
      clock.ms += 1000;
    }
    await raw.until((f) => f.filter((x) => x.type === FrameType.PING).length === 3);
    assert.ok(!raw.frames.some((f) => f.type === FrameType.GOAWAY), "three early pings are tolerated");
    raw.write(ping);
    const goaway = await raw.goaway();
    assert.deepEqual([goaway.code, goaway.debug], [ErrorCode.ENHANCE_YOUR_CALM, "too_many_pings"]);
  });

  it("names the last stream it took in the too_many_pings GOAWAY, as grpc-go does", async () => {
    const clock = { ms: 1_000_000 };
    const { raw, log } = setup({ now: () => clock.ms });
    raw.start();
    raw.write(raw.headers(1, grpcRequest("/hold")), raw.headers(3, grpcRequest("/hold")));
    await raw.until(() => log.streams.size === 2);
    const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
    for (let i = 0; i < 4; i++) {
      raw.write(ping);
      clock.ms += 1000;
    }
    const goaway = await raw.goaway();
    assert.deepEqual(
      [goaway.last, goaway.code, goaway.debug],
      [3, ErrorCode.ENHANCE_YOUR_CALM, "too_many_pings"],
    );
  });

  it("holds a ping's ack for the connection's next write, and sends a held one when the next ping comes", async () => {
    const { raw } = setup();
    raw.start();
    await raw.until((f) => f.some((x) => x.type === FrameType.SETTINGS && x.flags === Flags.ACK));
    // the answer comes a millisecond later, within the hold: the ack leaves in the same write
    raw.write(
      frame(FrameType.PING, 0, 0, Buffer.from("with-ans")),
      raw.headers(1, grpcRequest("/later/4/1")),
      raw.data(1, grpcMessage("p")),
    );
    const frames = await raw.stream(1);
    const answer = frames.find((f) => f.type === FrameType.DATA) as ReadFrame;
    const ack = raw.frames.find((f) => f.type === FrameType.PING) as ReadFrame;
    assert.equal(ack.payload.toString(), "with-ans");
    assert.equal(ack.flags, Flags.ACK);
    assert.equal(ack.read, answer.read, "the ack came with the answer");
    // nothing else to write: each ack still comes, in order
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from("alone--1")));
    raw.write(frame(FrameType.PING, 0, 0, Buffer.from("alone--2")));
    await raw.until((f) => f.filter((x) => x.type === FrameType.PING).length === 3);
    const acks = raw.frames.filter((f) => f.type === FrameType.PING);
    assert.deepEqual(
      acks.map((f) => [f.flags, f.payload.toString()]),
      [
        [Flags.ACK, "with-ans"],
        [Flags.ACK, "alone--1"],
        [Flags.ACK, "alone--2"],
      ],
    );
    raw.close();
  });

  it("forgives pings that come after the server wrote", async () => {
    const clock = { ms: 1_000_000 };
    const { raw } = setup({ now: () => clock.ms });
    raw.start();
    const ping = frame(FrameType.PING, 0, 0, Buffer.alloc(8));
    for (let id = 1; id < 20; id += 2) {
      raw.write(raw.headers(id, grpcRequest("/echo")), raw.data(id, grpcMessage("p")));
      await raw.stream(id);
      raw.write(ping);
      clock.ms += 10;
    }
    await raw.until((f) => f.filter((x) => x.type === FrameType.PING).length === 10);
    assert.ok(!raw.frames.some((f) => f.type === FrameType.GOAWAY));
    raw.close();
  });

  it("pings the client and closes a connection that does not answer", async () => {
    const { raw } = setup({ pingIntervalMs: 30, pingTimeoutMs: 30 });
    // the connection's timers do not hold the process; this does while the test waits
    const alive = setInterval(() => {}, 1000);
    after(() => clearInterval(alive));
    raw.start();
    const ping = await raw.frame(FrameType.PING);
    assert.equal(ping.flags, 0);
    raw.write(frame(FrameType.PING, Flags.ACK, 0, ping.payload));
    // the next ping goes unanswered
    await raw.until((f) => f.filter((x) => x.type === FrameType.PING).length === 2);
    await raw.until(() => raw.closed, "the close of an unanswering connection");
  });

  it("ends gracefully with GOAWAY NO_ERROR naming the last stream", async () => {
    const { raw, connection } = setup();
    raw.start();
    raw.write(
      raw.headers(1, grpcRequest("/echo")),
      raw.data(1, grpcMessage("a")),
      raw.headers(3, grpcRequest("/hold")),
    );
    await raw.stream(1);
    await raw.until(() => connection.streamCount === 1);
    connection.close();
    const goaway = await raw.goaway();
    assert.deepEqual([goaway.last, goaway.code], [3, ErrorCode.NO_ERROR]);
    await raw.until(() => raw.closed);
  });
});
