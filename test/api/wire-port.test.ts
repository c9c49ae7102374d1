// The client port with its own HTTP/2 connection (clientHttp2 "own") beside the same port on Node's:
// unary answers read off the socket carry the same headers, message and trailers (failures too); the
// streams it forwards (watch, health, HTTP over h2c, unknown methods) get the answers Node's side
// gives; grpc-js and Node's HTTP/2 client are served as before.
import assert from "node:assert/strict";
import { connect as connectHttp2, constants } from "node:http2";
import { after, before, describe, it } from "node:test";
import type { HeaderField } from "../../src/api/grpc/hpack.js";
import { Flags, FrameType, Setting, settingsFrame, windowUpdateFrame } from "../../src/api/wire/frames.js";
import {
  KVService,
  PutRequest,
  RangeRequest,
  WatchRequest,
  WatchResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { type Harness, kvClient, startHarness, unary } from "./harness.js";
import { grpcMessage, grpcRequest, RawClient } from "./wire-raw-client.js";

const rawClient = (h: Harness) => RawClient.open(Number(h.url.port));

/** A Watch stream opened with Node's HTTP/2 client, its answers decoded as they come. */
function openWatch(hostPort: string) {
  const session = connectHttp2(`http://${hostPort}`);
  session.on("error", () => {});
  const stream = session.request({
    ":method": "POST",
    ":path": "/etcdserverpb.Watch/Watch",
    "content-type": "application/grpc",
    te: "trailers",
  });
  const messages: WatchResponse[] = [];
  let pending = Buffer.alloc(0);
  const arrived: (() => void)[] = [];
  stream.on("data", (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
      const n = pending.readUInt32BE(1);
      messages.push(WatchResponse.decode(pending.subarray(5, 5 + n)));
      pending = pending.subarray(5 + n);
    }
    for (const w of arrived.splice(0)) w();
  });
  /** Resolves once `n` answers arrived. */
  const until = async (n: number) => {
    while (messages.length < n) await new Promise<void>((w) => arrived.push(w));
  };
  return { session, stream, messages, until };
}

const watchCreate = (key: string, rangeEnd?: string) =>
  grpcMessage(
    Buffer.from(
      WatchRequest.encode(
        WatchRequest.fromPartial({
          createRequest: { key: Buffer.from(key), ...(rangeEnd ? { rangeEnd: Buffer.from(rangeEnd) } : {}) },
        }),
      ).finish(),
    ),
  );

/** A stream's answer as header lists and message bytes. */
interface RawAnswer {
  blocks: HeaderField[][];
  body: Buffer;
  reset?: number;
}

async function rawCall(raw: RawClient, id: number, fields: HeaderField[], body?: Buffer): Promise<RawAnswer> {
  raw.write(raw.headers(id, fields, Flags.END_HEADERS | (body === undefined ? Flags.END_STREAM : 0)));
  if (body !== undefined) raw.write(raw.data(id, body));
  const frames = await raw.stream(id);
  const answer: RawAnswer = { blocks: [], body: Buffer.alloc(0) };
  for (const f of frames) {
    if (f.type === FrameType.HEADERS) answer.blocks.push(raw.fieldsOf(f));
    else if (f.type === FrameType.DATA) answer.body = Buffer.concat([answer.body, f.payload]);
    else if (f.type === FrameType.RST_STREAM) answer.reset = f.payload.readUInt32BE(0);
  }
  return answer;
}

const put = (key: string, value: string) =>
  grpcMessage(
    Buffer.from(
      PutRequest.encode(
        PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from(value) }),
      ).finish(),
    ),
  );

describe("the client port's own HTTP/2 beside Node's", { timeout: 60_000 }, () => {
  let own: Harness;
  let node: Harness;
  before(async () => {
    own = await startHarness({ clientHttp2: "own" });
    node = await startHarness({ clientHttp2: "node" });
  });
  after(async () => {
    await own?.close();
    await node?.close();
  });

  /** The same calls on both ports, one connection each. */
  async function both(calls: (raw: RawClient) => Promise<RawAnswer[]>): Promise<[RawAnswer[], RawAnswer[]]> {
    const [a, b] = await Promise.all([rawClient(own), rawClient(node)]);
    try {
      return [await calls(a), await calls(b)];
    } finally {
      a.close();
      b.close();
    }
  }

  it("answers unary calls with the headers, message and trailers Node's side sends", async () => {
    const path = KVService.put.path;
    const [mine, theirs] = await both(async (raw) => [
      await rawCall(raw, 1, grpcRequest(path), put("a", "1")),
      await rawCall(raw, 3, grpcRequest(path, [["grpc-timeout", "5S"]]), put("b", "2")),
      // an empty key: etcd's error, as a trailers-only answer
      await rawCall(raw, 5, grpcRequest(path), put("", "x")),
      await rawCall(raw, 7, grpcRequest(path, [["grpc-timeout", "bad"]]), put("c", "3")),
      await rawCall(raw, 9, grpcRequest(path), Buffer.from([0, 0, 0, 0, 9, 1])),
    ]);
    assert.equal(mine.length, theirs.length);
    for (const [i, answer] of mine.entries()) {
      const expected = theirs[i];
      assert.deepEqual(answer.blocks, expected.blocks, `call ${i}: the header blocks`);
      // revisions differ between the two stores only if the calls did: they did not
      assert.deepEqual(answer.body, expected.body, `call ${i}: the message`);
    }
    assert.deepEqual(mine[0].blocks.at(-1), [
      ["grpc-status", "0"],
      ["grpc-message", ""],
    ]);
    assert.equal(mine[2].blocks.length, 1, "a failure is trailers-only");
  });

  it("forwards what it does not answer (health, unknown methods) and resets HTTP over h2c", async () => {
    const [mine, theirs] = await both(async (raw) => [
      await rawCall(raw, 1, grpcRequest("/grpc.health.v1.Health/Check"), grpcMessage("")),
      await rawCall(raw, 3, grpcRequest("/etcdserverpb.KV/Nope"), grpcMessage("")),
      await rawCall(raw, 5, [
        [":method", "GET"],
        [":scheme", "http"],
        [":path", "/version"],
        [":authority", "localhost"],
      ]),
    ]);
    // grpc-js's additions to a gRPC answer, which grpc-go's (etcd's) has not
    const asEtcd = (blocks: HeaderField[][]) =>
      blocks.map((b) =>
        b
          .filter(
            ([n, v]) =>
              n !== "date" && n !== "grpc-accept-encoding" && !(n === "grpc-encoding" && v === "identity"),
          )
          .map(([n, v]): HeaderField => {
            if (n === "content-type" && v === "application/grpc+proto") return [n, "application/grpc"];
            if (n === "grpc-message" && v === "OK") return [n, ""];
            return [n, v];
          }),
      );
    for (const [i, answer] of mine.slice(0, 2).entries()) {
      // the gRPC answers as etcd's
      assert.deepEqual(answer.blocks, asEtcd(theirs[i].blocks), `call ${i}: the header blocks`);
      assert.deepEqual(answer.body.toString(), theirs[i].body.toString(), `call ${i}: the body`);
      assert.equal(answer.reset, undefined);
    }
    // etcd gives all of h2c to grpc-go, which resets a stream that is not gRPC; so do both ports
    for (const answer of [mine[2], theirs[2]]) {
      assert.deepEqual(answer.blocks, []);
      assert.equal(answer.reset, constants.NGHTTP2_PROTOCOL_ERROR);
    }
    // what Debian's etcd 3.4 sends for a health check, read off its socket
    assert.deepEqual(mine[0].blocks, [
      [
        [":status", "200"],
        ["content-type", "application/grpc"],
      ],
      [
        ["grpc-status", "0"],
        ["grpc-message", ""],
      ],
    ]);
  });

  it("answers a forwarded call whose grpc-timeout passed already as etcd does, without grpc-js", async () => {
    const raw = await rawClient(own);
    try {
      const expired: HeaderField[] = [["grpc-timeout", "1n"]];
      const health = await rawCall(
        raw,
        1,
        grpcRequest("/grpc.health.v1.Health/Check", expired),
        grpcMessage(""),
      );
      const keepAlive = await rawCall(
        raw,
        3,
        grpcRequest("/etcdserverpb.Lease/LeaseKeepAlive", expired),
        grpcMessage(""),
      );
      const status = (code: string): HeaderField[][] => [
        [
          [":status", "200"],
          ["content-type", "application/grpc"],
          ["grpc-status", code],
          ["grpc-message", "context deadline exceeded"],
        ],
      ];
      // grpc-go's transport; LeaseKeepAlive's handler returns the context's error (code 2)
      assert.deepEqual(health.blocks, status("4"));
      assert.deepEqual(keepAlive.blocks, status("2"));
      assert.equal(health.body.length + keepAlive.body.length, 0);
    } finally {
      raw.close();
    }
  });

  it("ends Watch calls with the statuses Node's side sends", async () => {
    const path = "/etcdserverpb.Watch/Watch";
    const [mine, theirs] = await both(async (raw) => [
      // a message protobuf cannot read
      await rawCall(raw, 1, grpcRequest(path), Buffer.from([0, 0, 0, 0, 2, 0xff, 0xff])),
      // one over the receive limit
      await rawCall(raw, 3, grpcRequest(path), Buffer.from([0, 0x7f, 0, 0, 0, 1])),
      // a create, then the client's reset
      await (async () => {
        raw.write(raw.headers(5, grpcRequest(path)), raw.data(5, watchCreate("r"), 0));
        await raw.until((f) => f.some((x) => x.streamId === 5 && x.type === FrameType.DATA));
        const frames = raw.frames.filter((f) => f.streamId === 5);
        return {
          blocks: frames.filter((f) => f.type === FrameType.HEADERS).map((f) => raw.fieldsOf(f)),
          body: Buffer.concat(frames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload)),
        };
      })(),
    ]);
    for (const [i, answer] of mine.entries()) {
      assert.deepEqual(answer.blocks, theirs[i].blocks, `call ${i}: the header blocks`);
      assert.equal(answer.reset, theirs[i].reset, `call ${i}: the reset`);
    }
    assert.deepEqual(mine[0].blocks[0].slice(2), [
      ["grpc-status", "13"],
      ["grpc-message", "grpc: failed to unmarshal the received message unexpected EOF"],
    ]);
    assert.equal(mine[1].blocks[0][2][1], "8", "ResourceExhausted");
    assert.equal(WatchResponse.decode(mine[2].body.subarray(5)).created, true);
  });

  it("ends a forwarded answer held by the client's window with its trailers once the window opens", async () => {
    own.api.snapshotBytes = Buffer.alloc(100_000, 3);
    const raw = await RawClient.open(
      Number(own.url.port),
      settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1000]]),
    );
    try {
      raw.write(
        raw.headers(1, grpcRequest("/etcdserverpb.Maintenance/Snapshot")),
        raw.data(1, grpcMessage("")),
      );
      await raw.until((f) => f.some((x) => x.streamId === 1 && x.type === FrameType.DATA));
      // the forwarded call is over on Node's side well before the client's window lets its answer out
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(!raw.frames.some((f) => f.type === FrameType.RST_STREAM), "the stream was reset");
      raw.write(windowUpdateFrame(1, 1 << 20), windowUpdateFrame(0, 1 << 20));
      const frames = await raw.stream(1);
      const trailers = raw.fieldsOf(frames[frames.length - 1]);
      assert.deepEqual(trailers, [
        ["grpc-status", "0"],
        ["grpc-message", ""],
      ]);
      const body = frames.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0);
      assert.ok(body > 100_000, `${body} bytes of snapshot messages`);
    } finally {
      raw.close();
    }
  });

  it("serves grpc-js clients: unary calls and their errors", async () => {
    const client = kvClient(own.hostPort);
    try {
      await unary(
        client.put.bind(client),
        PutRequest.fromPartial({ key: Buffer.from("k"), value: Buffer.from("v") }),
      );
      const got = await unary(client.range.bind(client), RangeRequest.fromPartial({ key: Buffer.from("k") }));
      assert.equal((got as { kvs: { value: Buffer }[] }).kvs[0].value.toString(), "v");
      await assert.rejects(
        unary(
          client.put.bind(client),
          PutRequest.fromPartial({ key: Buffer.alloc(0), value: Buffer.from("v") }),
        ),
        (err: { code: number; details: string }) =>
          err.code === 3 && err.details === "etcdserver: key is not provided",
      );
    } finally {
      client.close();
    }
  });

  it("forwards a flood of watch creates on one stream, answering every one", async () => {
    // more than either side of the in-process connection buffers: both write while the other is full
    const { session, stream, messages, until } = openWatch(own.hostPort);
    try {
      const CREATES = 20_000;
      for (let i = 0; i < CREATES; ) {
        const batch: Buffer[] = [];
        for (const last = Math.min(CREATES, i + 2000); i < last; i++) batch.push(watchCreate(`flood/${i}`));
        if (!stream.write(Buffer.concat(batch))) await new Promise((r) => stream.once("drain", r));
      }
      await until(CREATES);
      assert.equal(messages.length, CREATES);
      assert.ok(messages.every((m) => m.created));
      stream.close(constants.NGHTTP2_CANCEL);
    } finally {
      session.destroy();
    }
  });

  it("forwards a watch stream both ways, and the client's reset cancels it", async () => {
    const { session, stream, messages, until } = openWatch(own.hostPort);
    try {
      stream.write(watchCreate("w", "x"));
      await until(1);
      assert.equal(messages[0].created, true);
      const client = kvClient(own.hostPort);
      await unary(
        client.put.bind(client),
        PutRequest.fromPartial({ key: Buffer.from("w1"), value: Buffer.from("v") }),
      );
      client.close();
      await until(2);
      assert.equal(messages[1].events[0].kv?.key.toString(), "w1");
      const closed = new Promise<void>((r) => stream.on("close", () => r()));
      stream.close(constants.NGHTTP2_CANCEL);
      await closed;
    } finally {
      session.destroy();
    }
  });
});
