// A Watch call driven through an in-memory AnswerStream, without Node's HTTP/2: what the call asks of
// any stream it runs on (headers once before the first write, one write per stream and turn, the
// status in trailers or trailers-only, reading held while the transport is full, the connection's
// name for the watcher budget) and what it does with what the stream tells it (request bytes, close).
import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http2";
import { describe, it } from "node:test";
import type { Metadata } from "@grpc/grpc-js";
import { ConnectionBudgets } from "../../src/api/connection-limits.js";
import type { AnswerStream, AnswerStreamListener } from "../../src/api/grpc/answer-stream.js";
import { GrpcMetrics } from "../../src/api/grpc/grpc-metrics.js";
import {
  servesWatch,
  startWatchCall,
  type WatchFastPathOptions,
} from "../../src/api/grpc/watch-fast-path.js";
import {
  type DeepPartial,
  WatchRequest,
  WatchResponse,
  WatchService,
} from "../../src/gen/etcdserverpb/rpc.js";
import { WatchStream } from "../../src/mvcc/watch-stream.js";
import { WatchableStore } from "../../src/mvcc/watchable-store.js";
import type {
  ClientWatchStream,
  RequestContext,
  WatchEventsListener,
  WatchStreamOptions,
} from "../../src/server/client-api.js";
import { MemoryWatchSource } from "../mvcc/watch-source-memory.js";
import { MemoryClientApi } from "./memory-client-api.js";

const WATCH = WatchService.watch.path;

const frame = (message: Uint8Array) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
};
const request = (r: DeepPartial<WatchRequest>) =>
  frame(WatchRequest.encode(WatchRequest.fromPartial(r)).finish());
const create = (key: string, watchId = 0) => request({ createRequest: { key: Buffer.from(key), watchId } });
const cancel = (watchId: number) => request({ cancelRequest: { watchId } });
const progress = () => request({ progressRequest: {} });

/** A stream kept in memory: what the call did to it, in order, and the bytes it wrote. */
class MemoryAnswerStream implements AnswerStream {
  listener: AnswerStreamListener | undefined;
  /** "respond", "write", "pause", "resume", "finish CODE MESSAGE", in the order the call asked. */
  readonly log: string[] = [];
  readonly written: Buffer[] = [];
  closed = false;
  /** What write answers: false plays a transport that holds more than it wants. */
  accepting = true;

  constructor(readonly connection = "10.0.0.1:40000") {}

  listen(listener: AnswerStreamListener): void {
    assert.equal(this.listener, undefined, "the listener is set once");
    this.listener = listener;
  }
  respond(): void {
    this.log.push("respond");
  }
  write(frames: Buffer): boolean {
    assert.ok(this.log.includes("respond"), "headers before the first write");
    assert.ok(!this.log.some((l) => l.startsWith("finish")), "no write after the status");
    this.log.push("write");
    this.written.push(Buffer.from(frames));
    return this.accepting;
  }
  pauseReading(): void {
    this.log.push("pause");
  }
  resumeReading(): void {
    this.log.push("resume");
  }
  finish(code: number, message: string): void {
    this.log.push(`finish ${code} ${message}`);
  }

  /** The client sends bytes. */
  send(bytes: Buffer): void {
    this.listener?.data(bytes);
  }
  /** The client resets the stream (or the connection goes). */
  reset(): void {
    this.closed = true;
    this.listener?.closed();
  }
  /** The messages written so far. */
  responses(): WatchResponse[] {
    const body = Buffer.concat(this.written);
    const out: WatchResponse[] = [];
    for (let at = 0; at + 5 <= body.length; ) {
      const length = body.readUInt32BE(at + 1);
      out.push(WatchResponse.decode(body.subarray(at + 5, at + 5 + length)));
      at += 5 + length;
    }
    return out;
  }
  writes(): number {
    return this.log.filter((l) => l === "write").length;
  }
}

/**
 * The in-memory client API, its watch streams on a real watchable store (they honour the watcher budget).
 * `events`: the streams hand their responses of events alone to the call as plain calls, as the
 * member's do (the headers asked for are counted in `headersAsked`).
 */
function member(budgets?: ConnectionBudgets, { events = false } = {}) {
  const api = new MemoryClientApi();
  const source = new MemoryWatchSource();
  const store = new WatchableStore(source);
  const counts = { headersAsked: 0 };
  api.watchStream = (_ctx?: RequestContext, watchOptions?: WatchStreamOptions): ClientWatchStream => {
    const ws = new WatchStream(store, { admission: watchOptions?.admission });
    return {
      request: (r: WatchRequest) => ws.request(r),
      onResponse: (l: (resp: WatchResponse) => void) =>
        ws.listen(({ revision, ...r }) => l({ header: { ...api.header(), revision }, ...r })),
      close: () => ws.close(),
      pause: () => ws.pause(),
      resume: () => ws.resume(),
      ...(events
        ? {
            events: {
              listen: (l: WatchEventsListener) => ws.listenEvents(l),
              header: (revision: number) => {
                counts.headersAsked++;
                return { ...api.header(), revision };
              },
            },
          }
        : {}),
    };
  };
  const credentialed: Array<{ token: unknown[]; peer: string }> = [];
  const options: WatchFastPathOptions = {
    api,
    metrics: new GrpcMetrics(api.metrics),
    maxReceiveBytes: 1024,
    credentials: (call: { metadata: Metadata; getPeer(): string }): RequestContext | undefined => {
      credentialed.push({ token: call.metadata.get("token"), peer: call.getPeer() });
      return undefined;
    },
    budgets,
  };
  const start = (headers: IncomingHttpHeaders = {}, connection?: string) => {
    const stream = new MemoryAnswerStream(connection);
    startWatchCall(stream, { ":path": WATCH, ...headers }, options);
    return stream;
  };
  return { api, source, start, credentialed, options, counts };
}

/** Waits (a turn at a time) until `done` holds; generous bound, for a loaded machine. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const summary = (r: WatchResponse) => [
  r.watchId,
  r.created,
  r.canceled,
  r.events.map((e) => e.kv?.value.toString()),
];

describe("a Watch call on an AnswerStream", { timeout: 60_000 }, () => {
  it("serves Watch streams without a deadline or compression, and leaves the rest", () => {
    assert.equal(servesWatch({ ":path": WATCH }), true);
    assert.equal(servesWatch({ ":path": WATCH, "grpc-encoding": "identity" }), true);
    assert.equal(servesWatch({ ":path": WATCH, "grpc-encoding": "gzip" }), false);
    assert.equal(servesWatch({ ":path": WATCH, "grpc-timeout": "10S" }), false);
    assert.equal(servesWatch({ ":path": "/etcdserverpb.KV/Put" }), false);
  });

  it("answers creates, events, a cancel and a progress request; headers once, one write per turn", async () => {
    const m = member();
    const s = m.start();
    // the first create split byte by byte, two more packed into one chunk
    for (const byte of create("a")) s.send(Buffer.from([byte]));
    s.send(Buffer.concat([create("b", 7), create("c")]));
    await until(() => s.responses().length === 3, "three created");
    assert.deepEqual(s.log, ["respond", "write"], "the answers of one turn leave in one write");
    m.source.put("a", "1");
    m.source.put("b", "2");
    await until(() => s.responses().length === 5, "two events");
    s.send(Buffer.concat([cancel(7), progress()]));
    await until(() => s.responses().length === 7, "the cancel and the progress");
    assert.deepEqual(s.responses().map(summary), [
      [0, true, false, []],
      [7, true, false, []],
      [1, true, false, []],
      [0, false, false, ["1"]],
      [7, false, false, ["2"]],
      [7, false, true, []],
      [-1, false, false, []],
    ]);
    assert.equal(s.log.filter((l) => l === "respond").length, 1);
    assert.equal(s.log[0], "respond");
    assert.ok(!s.log.some((l) => l.startsWith("finish")));
    // a half-close changes nothing: events still come
    s.listener?.end();
    m.source.put("c", "3");
    await until(() => s.responses().length === 8, "an event after the client's end");
    assert.deepEqual(summary(s.responses()[7]), [1, false, false, ["3"]]);
  });

  it("frames the responses of events alone, handed over without objects, as the responses they stand for", async () => {
    // the same conversation with a member whose streams hand over events as plain calls and one whose
    // streams give every response as an object: the same bytes, in the same writes
    const script = async (events: boolean) => {
      const m = member(undefined, { events });
      const s = m.start();
      const t = m.start();
      s.send(Buffer.concat([create("a"), create("b", 7), create("a", 9)]));
      t.send(create("a"));
      await until(() => s.responses().length === 3 && t.responses().length === 1, "created");
      m.source.put("a", "1");
      m.source.txn([{ put: { key: "a", value: "2" } }, { put: { key: "b", value: "3" } }]);
      m.source.put("b", "4");
      await until(() => s.responses().length === 9 && t.responses().length === 3, "events");
      s.send(Buffer.concat([cancel(9), progress()]));
      m.source.put("a", "5");
      await until(() => s.responses().length === 12 && t.responses().length === 4, "cancel, progress, last");
      return { s: Buffer.concat(s.written), t: Buffer.concat(t.written), log: s.log, m, stream: s };
    };
    const plain = await script(false);
    const direct = await script(true);
    assert.equal(plain.m.counts.headersAsked, 0);
    assert.ok(direct.m.counts.headersAsked > 0, "the events came as plain calls");
    assert.deepEqual(direct.s, plain.s);
    assert.deepEqual(direct.t, plain.t);
    assert.deepEqual(direct.log, plain.log);
    assert.deepEqual(
      direct.stream.responses().map((r) => [...summary(r), r.header?.revision]),
      [
        [0, true, false, [], 1],
        [7, true, false, [], 1],
        [9, true, false, [], 1],
        // each watcher's in revision order, the watchers in the order they were first given one
        [0, false, false, ["1"], 2],
        [0, false, false, ["2"], 3],
        [9, false, false, ["1"], 2],
        [9, false, false, ["2"], 3],
        [7, false, false, ["3"], 3],
        [7, false, false, ["4"], 4],
        [9, false, true, [], 4],
        [-1, false, false, [], 4],
        [0, false, false, ["5"], 5],
      ],
    );
  });

  for (const [name, body, code, message] of [
    [
      "an undecodable request",
      frame(Buffer.from([0xff, 0xff, 0xff])),
      13,
      "grpc: failed to unmarshal the received message unexpected EOF",
    ],
    [
      "a request over the receive limit",
      frame(Buffer.alloc(1025)),
      8,
      "grpc: received message larger than max (1025 vs. 1024)",
    ],
  ] as const) {
    it(`ends the call on ${name}: in trailers after what was written, trailers-only before`, async () => {
      const m = member();
      const answered = m.start();
      answered.send(create("x"));
      await until(() => answered.responses().length === 1, "created");
      answered.send(body);
      assert.deepEqual(answered.log, ["respond", "write", "resume", `finish ${code} ${message}`]);
      const silent = m.start();
      silent.send(body);
      assert.deepEqual(silent.log, ["resume", `finish ${code} ${message}`], "no headers: trailers-only");
      // what comes after the status is dropped
      answered.send(create("y"));
      m.source.put("x", "after");
      await turns(5);
      assert.equal(answered.writes(), 1);
      assert.equal(answered.log.length, 4);
    });
  }

  it("refuses watchers beyond its connection's places, and a reset gives them back", async () => {
    const budgets = new ConnectionBudgets({
      maxWatchersPerConnection: 2,
      maxKeepAliveStreamsPerConnection: 1,
    });
    const m = member(budgets);
    const first = m.start({}, "10.0.0.1:1000");
    const second = m.start({}, "10.0.0.1:1000");
    const other = m.start({}, "10.0.0.2:1000");
    first.send(Buffer.concat([create("k"), create("k")]));
    await until(() => first.responses().length === 2, "two created");
    second.send(create("k"));
    other.send(create("k"));
    await until(() => second.responses().length === 1 && other.responses().length === 1, "answers");
    const refused = second.responses()[0];
    assert.deepEqual([refused.created, refused.canceled], [true, true]);
    assert.equal(refused.cancelReason, "etcdserver: too many requests");
    assert.deepEqual(summary(other.responses()[0]), [0, true, false, []]);
    assert.deepEqual(budgets.holdings("10.0.0.1:1000"), { watchers: 2, keepAliveStreams: 0 });
    first.reset();
    assert.deepEqual(budgets.holdings("10.0.0.1:1000"), { watchers: 0, keepAliveStreams: 0 });
    second.send(create("k"));
    await until(() => second.responses().length === 2, "a create after the reset");
    // the refused create used up no id
    assert.deepEqual(summary(second.responses()[1]), [0, true, false, []]);
  });

  it("stops on a client reset: no write after it, counted as Canceled", async () => {
    const m = member();
    const s = m.start();
    s.send(create("r"));
    await until(() => s.responses().length === 1, "created");
    m.source.put("r", "1");
    // the reset comes before the event's turn ends: what was queued is dropped
    s.reset();
    m.source.put("r", "2");
    await turns(5);
    assert.equal(s.writes(), 1);
    assert.ok(!s.log.some((l) => l.startsWith("finish")), "a reset stream gets no status");
    const text = await m.api.metrics.metrics();
    const handled = text
      .split("\n")
      .find(
        (l) =>
          l.startsWith("grpc_server_handled_total{") &&
          l.includes('grpc_method="Watch"') &&
          l.includes('grpc_code="Canceled"'),
      );
    assert.match(handled ?? "", / 1$/);
  });

  it("holds its watchers and its reading while the transport is full, until it drains", async () => {
    const m = member();
    const s = m.start();
    s.accepting = false;
    s.send(create("f"));
    await until(() => s.log.includes("pause"), "the hold");
    assert.deepEqual(s.log, ["respond", "write", "pause"]);
    for (let i = 0; i < 3; i++) m.source.put("f", String(i));
    await turns(5);
    assert.equal(s.writes(), 1, "no event written while held");
    s.accepting = true;
    s.listener?.drained();
    await until(() => s.responses().flatMap((r) => r.events).length === 3, "the held events");
    assert.equal(s.log[3], "resume");
    assert.deepEqual(
      s
        .responses()
        .flatMap((r) => r.events)
        .map((e) => e.kv?.value.toString()),
      ["0", "1", "2"],
    );
    // a drain it did not wait for changes nothing
    s.listener?.drained();
    assert.equal(s.log.filter((l) => l === "resume").length, 1);
  });

  it("reads hasleader and the token from the request's header fields", async () => {
    const m = member();
    m.api.leaderKnown = false;
    const refused = m.start({ hasleader: "true" });
    assert.deepEqual(refused.log, ["resume", "finish 14 etcdserver: no leader"]);
    m.api.leaderKnown = true;
    const led = m.start({ hasleader: "true", token: "secret" }, "10.0.0.3:7");
    const plain = m.start({ hasleader: "false" }, "10.0.0.3:8");
    assert.deepEqual(m.credentialed, [
      { token: ["secret"], peer: "10.0.0.3:7" },
      { token: [], peer: "10.0.0.3:8" },
    ]);
    led.send(create("l"));
    await until(() => led.responses().length === 1, "created");
    // the member's long loss of its leader ends the hasleader stream only
    m.api.leaderLoss$.next();
    assert.deepEqual(led.log, ["respond", "write", "resume", "finish 14 etcdserver: no leader"]);
    assert.deepEqual(plain.log, []);
  });

  it("refuses a stream on a learner with trailers only", () => {
    const m = member();
    m.api.learner = true;
    const s = m.start();
    assert.deepEqual(s.log, ["resume", "finish 14 etcdserver: rpc not supported for learner"]);
    assert.deepEqual(m.credentialed, [], "no watch stream was opened");
  });
});
