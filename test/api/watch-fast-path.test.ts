// The Watch stream served straight from Node's HTTP/2 streams against the same stream served by
// grpc-js (a stream with a deadline is left to grpc-js): etcd's headers, the same messages (byte for byte),
// statuses and texts; requests split over frames or packed into one; a stream's responses of one
// moment written together, with the answer of the put that caused them, or after it when they are many.
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  type IncomingHttpHeaders,
} from "node:http2";
import { after, before, describe, it } from "node:test";
import { SAME_TURN_MAX_RESPONSES } from "../../src/api/grpc/watch-fast-path.js";
import { KVService, WatchRequest, WatchResponse, WatchService } from "../../src/gen/etcdserverpb/rpc.js";
import { type Harness, startHarness } from "./harness.js";

const WATCH = WatchService.watch.path;

const frame = (message: Uint8Array) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
};
const create = (key: string, watchId = 0) =>
  frame(
    WatchRequest.encode(
      WatchRequest.fromPartial({ createRequest: { key: Buffer.from(key), watchId, prevKv: true } }),
    ).finish(),
  );
const cancel = (watchId: number) =>
  frame(WatchRequest.encode(WatchRequest.fromPartial({ cancelRequest: { watchId } })).finish());
const progress = () => frame(WatchRequest.encode(WatchRequest.fromPartial({ progressRequest: {} })).finish());

/** One Watch call over a raw HTTP/2 stream: every header, message and trailer the member sends. */
class RawWatch {
  readonly stream: ClientHttp2Stream;
  headers: IncomingHttpHeaders | undefined;
  trailers: IncomingHttpHeaders | undefined;
  /** The body as received, one entry per 'data' event. */
  readonly chunks: Buffer[] = [];
  readonly order: string[];
  /** Settles once the member ended its side of the stream (END_STREAM received). */
  readonly ended: Promise<void>;

  constructor(session: ClientHttp2Session, extra: Record<string, string> = {}, order: string[] = []) {
    this.order = order;
    this.stream = session.request({
      ":method": "POST",
      ":path": WATCH,
      "content-type": "application/grpc",
      te: "trailers",
      ...extra,
    });
    this.stream.on("response", (h) => {
      this.headers = h;
    });
    this.stream.on("trailers", (t) => {
      this.trailers = t;
    });
    this.stream.on("data", (c: Buffer) => {
      this.chunks.push(c);
      this.order.push("watch");
    });
    this.ended = new Promise((resolve) => {
      this.stream.on("end", () => resolve());
      this.stream.on("close", () => resolve());
    });
  }

  /** The gRPC messages received so far, as their bytes. */
  messages(): Buffer[] {
    const body = Buffer.concat(this.chunks);
    const out: Buffer[] = [];
    for (let at = 0; at + 5 <= body.length; ) {
      const length = body.readUInt32BE(at + 1);
      if (at + 5 + length > body.length) break; // the rest is still on its way
      out.push(body.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    return out;
  }

  responses(): WatchResponse[] {
    return this.messages().map((m) => WatchResponse.decode(m));
  }

  async waitFor(count: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.messages().length < count) {
      if (Date.now() > deadline)
        throw new Error(`waited for ${count} messages, got ${this.messages().length}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** The status the call ended with: from the trailers, or from the headers of a trailers-only answer. */
  status(): { code: string | undefined; message: string | undefined } {
    const s = this.trailers ?? this.headers;
    return {
      code: s?.["grpc-status"] as string | undefined,
      message: s?.["grpc-message"] as string | undefined,
    };
  }
}

/** Response headers without the ones that differ between two answers by nature. */
function comparable(h: IncomingHttpHeaders | undefined): Record<string, unknown> {
  const { date: _date, ...rest } = h ?? {};
  return rest;
}

/** grpc-js serves the stream when it has a deadline. */
const viaGrpcJs = { "grpc-timeout": "100S" };

describe("Watch served from HTTP/2 streams", { timeout: 60_000 }, () => {
  let h: Harness;
  let session: ClientHttp2Session;

  before(async () => {
    h = await startHarness({ maxRequestBytes: 1024 });
    session = connect(`http://${h.hostPort}`);
  });
  after(async () => {
    session.close();
    await h.close();
  });

  const put = (key: string, value: string) =>
    h.api.put({
      key: Buffer.from(key),
      value: Buffer.from(value),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    });

  it("sends the headers and the messages grpc-js sends, byte for byte", async () => {
    const fast = new RawWatch(session);
    const slow = new RawWatch(session, viaGrpcJs);
    for (const w of [fast, slow]) w.stream.write(Buffer.concat([create("a"), create("b", 7)]));
    await fast.waitFor(2);
    await slow.waitFor(2);
    await put("a", "1");
    await put("b", "2");
    await put("a", "3");
    await fast.waitFor(5);
    await slow.waitFor(5);
    for (const w of [fast, slow]) w.stream.write(Buffer.concat([cancel(7), cancel(99), progress()]));
    await fast.waitFor(8);
    await slow.waitFor(8);
    // etcd's (grpc-go's) headers, as for unary answers: no encodings named, no date
    assert.deepEqual(Object.fromEntries(Object.entries(comparable(fast.headers))), {
      ":status": 200,
      "content-type": "application/grpc",
    });
    assert.equal(fast.headers?.date, undefined);
    assert.equal(comparable(slow.headers)[":status"], 200);
    assert.deepEqual(fast.messages(), slow.messages());
    const r = fast.responses();
    assert.deepEqual(
      r.map((x) => [x.watchId, x.created, x.canceled, x.events.map((e) => e.kv?.value.toString())]),
      [
        [0, true, false, []],
        [7, true, false, []],
        [0, false, false, ["1"]],
        [7, false, false, ["2"]],
        [0, false, false, ["3"]],
        [7, false, true, []],
        [99, false, true, []], // the test's member answers a cancel of an unknown id
        [-1, false, false, []],
      ],
    );
    fast.stream.close();
    slow.stream.close();
  });

  it("reads a request split over many DATA frames, and many requests in one", async () => {
    const w = new RawWatch(session);
    const one = create("split");
    for (const byte of one) w.stream.write(Buffer.from([byte]));
    await w.waitFor(1);
    w.stream.write(Buffer.concat([create("x"), create("y"), create("z")]));
    await w.waitFor(4);
    assert.deepEqual(
      w.responses().map((x) => [x.watchId, x.created]),
      [
        [0, true],
        [1, true],
        [2, true],
        [3, true],
      ],
    );
    w.stream.close();
  });

  it("writes the responses of one moment as one write: ten watchers, one put, one DATA frame", async () => {
    const w = new RawWatch(session);
    w.stream.write(Buffer.concat(Array.from({ length: 10 }, () => create("many"))));
    await w.waitFor(10);
    const before = w.chunks.length;
    await put("many", "v");
    await w.waitFor(20);
    assert.equal(w.chunks.length - before, 1, "the ten event responses came in one DATA frame");
    assert.deepEqual(
      w
        .responses()
        .slice(10)
        .map((x) => x.watchId),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    w.stream.close();
  });

  /** A put sent on the test's connection; `onData` hears each chunk of its answer. */
  const rawPut = (key: string, onData: () => void): Promise<unknown> => {
    const putStream = session.request({
      ":method": "POST",
      ":path": KVService.put.path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    putStream.on("data", onData);
    const putClosed = new Promise((r) => putStream.on("close", r));
    putStream.end(
      frame(
        KVService.put.requestSerialize({
          key: Buffer.from(key),
          value: Buffer.from("v"),
          lease: 0n,
          prevKv: false,
          ignoreValue: false,
          ignoreLease: false,
        }),
      ),
    );
    return putClosed;
  };

  it("writes a put's answer and its few watchers' events in one write of the connection", async () => {
    // the turn of the event loop in which each chunk arrives: one write is read in one turn
    let turn = 0;
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    tick();
    const arrivals: Array<[string, number]> = [];
    const w = new RawWatch(session);
    w.stream.write(Buffer.concat([create("together"), create("together")]));
    await w.waitFor(2);
    w.stream.on("data", () => arrivals.push(["watch", turn]));
    const putClosed = rawPut("together", () => arrivals.push(["put", turn]));
    await w.waitFor(4);
    await putClosed;
    ticking = false;
    assert.deepEqual(
      arrivals.map(([what]) => what).sort(),
      ["put", "watch"],
      "one chunk of answer, one of events",
    );
    assert.equal(arrivals[0][1], arrivals[1][1], `arrivals by turn: ${JSON.stringify(arrivals)}`);
    w.stream.close();
  });

  it("answers a put on the same connection before a big fan-out of its watchers hears of it", async () => {
    const order: string[] = [];
    const w = new RawWatch(session, {}, order);
    const watchers = SAME_TURN_MAX_RESPONSES + 1;
    w.stream.write(Buffer.concat(Array.from({ length: watchers }, () => create("ordered"))));
    await w.waitFor(watchers);
    order.length = 0;
    const putClosed = rawPut("ordered", () => order.push("put"));
    await w.waitFor(2 * watchers);
    await putClosed;
    assert.equal(order[0], "put", `chunks in order of arrival: ${order.join(", ")}`);
    assert.ok(order.length > 1);
    w.stream.close();
  });

  it("keeps delivering events on a half-closed stream", async () => {
    const w = new RawWatch(session);
    w.stream.end(create("half"));
    await w.waitFor(1);
    await put("half", "after the end");
    await w.waitFor(2);
    assert.equal(w.responses()[1].events[0]?.kv?.value.toString(), "after the end");
    w.stream.close();
  });

  it("holds a stream's events while its client does not read, and delivers every one once it reads again", async () => {
    const held = { pauses: 0, resumes: 0 };
    const original = h.api.watchStream.bind(h.api);
    h.api.watchStream = () => {
      const s = original();
      s.pause = () => held.pauses++;
      s.resume = () => held.resumes++;
      return s;
    };
    try {
      const w = new RawWatch(session);
      w.stream.write(create("slow"));
      await w.waitFor(1);
      w.stream.pause(); // the client stops reading: its flow-control window fills
      const big = "v".repeat(16 * 1024);
      const n = 200;
      for (let i = 0; i < n; i++) await put("slow", `${i} ${big}`);
      const deadline = Date.now() + 5000;
      while (held.pauses === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(held.pauses, 1, "the member held the stream's events");
      assert.equal(held.resumes, 0);
      w.stream.resume();
      await w.waitFor(1 + n);
      assert.equal(held.resumes, 1, "the member resumed the stream once the client read");
      assert.deepEqual(
        w
          .responses()
          .slice(1)
          .map((r) => r.events[0]?.kv?.value.toString().split(" ")[0]),
        Array.from({ length: n }, (_, i) => String(i)),
      );
      w.stream.close();
    } finally {
      h.api.watchStream = original;
    }
  });

  for (const [name, body, code, message] of [
    [
      "an undecodable request",
      frame(Buffer.from([0xff, 0xff, 0xff])),
      "13",
      "grpc: failed to unmarshal the received message unexpected EOF",
    ],
    [
      "a request over the receive limit",
      frame(Buffer.alloc(1024 + 512 * 1024 + 1)),
      "8",
      "grpc: received message larger than max (525313 vs. 525312)",
    ],
  ] as const) {
    it(`ends the stream on ${name} with grpc-js's status (grpc-go's encoding), after what was sent`, async () => {
      const w = new RawWatch(session);
      w.stream.write(create("before"));
      await w.waitFor(1);
      w.stream.write(body);
      await w.ended;
      w.stream.close();
      // percent-encoded as grpc-go encodes it: these texts are printable ASCII, written as they are
      assert.deepEqual(w.status(), { code, message });
      assert.equal(w.responses()[0].created, true);
      assert.ok(w.trailers, "the status came in trailers, after the headers and messages");
    });
  }

  it("refuses a stream with a trailers-only answer as grpc-js does, in etcd's codec's words", async () => {
    const fast = new RawWatch(session);
    const slow = new RawWatch(session, viaGrpcJs);
    for (const w of [fast, slow]) w.stream.write(frame(Buffer.from([0xff, 0xff, 0xff])));
    await Promise.all([fast.ended, slow.ended]);
    fast.stream.close();
    slow.stream.close();
    assert.equal(fast.trailers, undefined);
    assert.equal(slow.trailers, undefined);
    // the same status; grpc-js's text is its own, the fast path's etcd's (gogo's error after grpc-go's)
    assert.equal(fast.status().code, slow.status().code);
    assert.deepEqual(fast.status(), {
      code: "13",
      message: "grpc: failed to unmarshal the received message unexpected EOF",
    });
    assert.equal(fast.messages().length, 0);
  });

  it("counts the streams in the gRPC metrics as grpc-js did", async () => {
    const w = new RawWatch(session);
    w.stream.write(create("metered"));
    await w.waitFor(1);
    w.stream.close();
    await w.ended;
    await new Promise((r) => setTimeout(r, 20));
    const text = await h.api.metrics.metrics();
    const line = (name: string, extra = "") =>
      text
        .split("\n")
        .find((l) => l.startsWith(`${name}{`) && l.includes('grpc_method="Watch"') && l.includes(extra));
    assert.match(line("grpc_server_started_total") ?? "", / [1-9]\d*$/);
    assert.match(line("grpc_server_msg_received_total") ?? "", / [1-9]\d*$/);
    assert.match(line("grpc_server_handled_total", 'grpc_code="Canceled"') ?? "", / [1-9]\d*$/);
  });
});
