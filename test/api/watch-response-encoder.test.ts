// The caching WatchResponse encoder against the generated one, byte for byte, over random responses
// that share events and headers the way a fan-out to many watchers does.
// Replay: WATCH_ENCODER_SEED=<seed> node --import tsx --test test/api/watch-response-encoder.test.ts
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  appendEventsFrame,
  appendWatchFrame,
  encodeWatchResponse,
  frameWatchResponses,
  takeWatchFrames,
  viewWatchFrames,
} from "../../src/api/grpc/watch-response-encoder.js";
import { type ResponseHeader, WatchResponse } from "../../src/gen/etcdserverpb/rpc.js";
import { type Event, Event_EventType, type KeyValue } from "../../src/gen/mvccpb/kv.js";
import { mulberry32 } from "../seeded-random.js";

function generator(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const bytes = (n: number) => Buffer.from(Array.from({ length: int(n) }, () => int(256)));
  const kv = (): KeyValue => ({
    key: bytes(20),
    createRevision: int(1e6),
    modRevision: int(1e9) + int(2) * 2 ** 40,
    version: int(50),
    value: bytes(300),
    lease: rand() < 0.5 ? 0n : BigInt(int(2 ** 50)),
  });
  const event = (): Event => ({
    type: rand() < 0.7 ? Event_EventType.PUT : Event_EventType.DELETE,
    kv: rand() < 0.95 ? kv() : undefined,
    prevKv: rand() < 0.3 ? kv() : undefined,
  });
  const header = (): ResponseHeader => ({
    clusterId: BigInt(int(2 ** 31)) * BigInt(int(2 ** 31)),
    memberId: BigInt(int(2 ** 31)) * 7n,
    revision: int(1e6),
    raftTerm: int(10),
  });
  const response = (events: Event[], h: ResponseHeader | undefined): WatchResponse => ({
    header: h === undefined ? undefined : { ...h }, // equal values, another object, as each watcher gets
    watchId: rand() < 0.2 ? 0 : rand() < 0.1 ? -1 : rand() < 0.1 ? int(2 ** 53) : int(1000),
    created: rand() < 0.1,
    canceled: rand() < 0.1,
    compactRevision: rand() < 0.8 ? 0 : rand() < 0.1 ? -int(1e5) : int(1e5),
    cancelReason:
      rand() < 0.8 ? "" : rand() < 0.5 ? "mvcc: required revision has been compacted" : "éè \u{1f600} \ud800",
    fragment: rand() < 0.1,
    events,
  });
  return { int, event, header, response };
}

test("encodes every response as the generated encoder does, events and headers shared or not", () => {
  const seed = Number(process.env.WATCH_ENCODER_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const g = generator(mulberry32(seed));
  let compared = 0;
  try {
    for (let round = 0; round < 300; round++) {
      // one revision's events and header, fanned out to several watchers with different subsets
      const events = Array.from({ length: g.int(4) }, g.event);
      const header = g.int(10) === 0 ? undefined : g.header();
      for (let w = 0; w < 1 + g.int(6); w++) {
        const subset = events.filter(() => g.int(4) !== 0);
        const resp = g.response(subset, header);
        const expected = Buffer.from(WatchResponse.encode(resp).finish());
        assert.deepEqual(encodeWatchResponse(resp), expected, `round ${round}, watcher ${w}`);
        compared++;
      }
    }
  } catch (err) {
    throw new Error(`watch encoder differs (seed: ${seed}); replay with WATCH_ENCODER_SEED=${seed}: ${err}`);
  }
  assert.ok(compared >= 300);
});

test("a header with new values is encoded anew, not taken from the last one", () => {
  const ev: Event = {
    type: Event_EventType.PUT,
    kv: {
      key: Buffer.from("k"),
      createRevision: 2,
      modRevision: 2,
      version: 1,
      value: Buffer.from("v"),
      lease: 0n,
    },
    prevKv: undefined,
  };
  const base = {
    watchId: 1,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: "",
    fragment: false,
  };
  const h = { clusterId: 1n, memberId: 2n, revision: 3, raftTerm: 4 };
  for (const header of [h, { ...h, revision: 5 }, { ...h, raftTerm: 6 }, { ...h, memberId: 9n }, h]) {
    const resp: WatchResponse = { ...base, header, events: [ev] };
    assert.deepEqual(WatchResponse.decode(encodeWatchResponse(resp)), resp);
  }
});

test("frames several responses as consecutive gRPC messages, each as the generated encoder gives it", () => {
  const seed = Number(process.env.WATCH_ENCODER_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const g = generator(mulberry32(seed));
  try {
    for (let round = 0; round < 100; round++) {
      const events = Array.from({ length: g.int(4) }, g.event);
      const header = g.header();
      const responses = Array.from({ length: g.int(12) }, () => g.response(events, header));
      const expected = Buffer.concat(
        responses.map((r) => {
          const body = WatchResponse.encode(r).finish();
          const prefix = Buffer.alloc(5);
          prefix.writeUInt32BE(body.length, 1);
          return Buffer.concat([prefix, body]);
        }),
      );
      assert.deepEqual(frameWatchResponses(responses), expected, `round ${round}`);
    }
  } catch (err) {
    throw new Error(`watch frames differ (seed: ${seed}); replay with WATCH_ENCODER_SEED=${seed}: ${err}`);
  }
});

test("frames responses of events alone as the generated encoder gives them, among other responses", () => {
  const seed = Number(process.env.WATCH_ENCODER_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rand = mulberry32(seed);
  const g = generator(rand);
  // ids where the varint changes length, the ones a fan-out gives (0 is left out of the message), the
  // negative and the big ones
  const ids = [0, 1, 2, 9, 127, 128, 129, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, -1, -5];
  const framed = (r: WatchResponse) => {
    const body = WatchResponse.encode(r).finish();
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(body.length, 1);
    return Buffer.concat([prefix, body]);
  };
  try {
    for (let round = 0; round < 200; round++) {
      const eventArrays = Array.from({ length: 1 + g.int(2) }, () =>
        Array.from({ length: 1 + g.int(3) }, g.event),
      );
      const headers = Array.from({ length: 1 + g.int(2) }, g.header);
      const expected: Buffer[] = [];
      for (let i = 0; i < 1 + g.int(30); i++) {
        if (g.int(8) === 0) {
          const other = g.response(eventArrays[0], headers[0]);
          appendWatchFrame(other);
          expected.push(framed(other));
          continue;
        }
        // runs of the same events and header, as one stream's watchers of a commit are framed
        const events = eventArrays[g.int(eventArrays.length)];
        const header = headers[g.int(headers.length)];
        const watchId = g.int(2) === 0 ? ids[g.int(ids.length)] : g.int(20);
        appendEventsFrame(header, watchId, events);
        expected.push(
          framed({
            header,
            watchId,
            created: false,
            canceled: false,
            compactRevision: 0,
            cancelReason: "",
            fragment: false,
            events,
          }),
        );
      }
      const out = g.int(2) === 0 ? Buffer.from(viewWatchFrames()) : takeWatchFrames();
      assert.deepEqual(out, Buffer.concat(expected), `round ${round}`);
    }
  } catch (err) {
    throw new Error(`watch frames differ (seed: ${seed}); replay with WATCH_ENCODER_SEED=${seed}: ${err}`);
  }
});

test("refuses what int64 cannot hold, as the generated encoder does, and encodes the next response whole", () => {
  const base: WatchResponse = {
    header: undefined,
    watchId: 1,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: "",
    fragment: false,
    events: [],
  };
  for (const bad of [2 ** 64, -(2 ** 64), 1.5]) {
    assert.throws(() => WatchResponse.encode({ ...base, watchId: bad }));
    assert.throws(() => encodeWatchResponse({ ...base, watchId: bad }));
    assert.throws(() => frameWatchResponses([base, { ...base, compactRevision: bad }]));
  }
  const ok = { ...base, watchId: -1, compactRevision: 2 ** 53 - 1 };
  assert.deepEqual(encodeWatchResponse(ok), Buffer.from(WatchResponse.encode(ok).finish()));
});

test("events with values the hand-written encoder leaves to the generated one come out as it writes them", () => {
  const kv: KeyValue = {
    key: Buffer.from("k"),
    createRevision: 2,
    modRevision: 3,
    version: 1,
    value: Buffer.alloc(200, 1), // a length above 127: two-byte lengths inside the event and the kv
    lease: 0n,
  };
  const unusual: Event[] = [
    { type: -1 as Event_EventType, kv, prevKv: undefined },
    { type: (2 ** 31 - 1) as Event_EventType, kv: undefined, prevKv: undefined },
    { type: Event_EventType.PUT, kv: { ...kv, modRevision: -5 }, prevKv: undefined },
    { type: Event_EventType.DELETE, kv, prevKv: { ...kv, lease: 2n ** 63n - 1n } },
    { type: Event_EventType.PUT, kv: { ...kv, key: Buffer.alloc(0), value: Buffer.alloc(0) }, prevKv: kv },
  ];
  const header = { clusterId: 2n ** 64n - 1n, memberId: 1n, revision: 3, raftTerm: 2 };
  for (const [i, ev] of unusual.entries()) {
    const resp: WatchResponse = {
      header,
      watchId: 7,
      created: false,
      canceled: false,
      compactRevision: 0,
      cancelReason: "",
      fragment: false,
      events: [ev, ev],
    };
    const expected = Buffer.from(WatchResponse.encode(resp).finish());
    assert.deepEqual(encodeWatchResponse(resp), expected, `event ${i}`);
    assert.deepEqual(WatchResponse.decode(expected).events.length, 2);
  }
  // what int32 cannot hold is refused by both
  const bad: WatchResponse = {
    header,
    watchId: 7,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: "",
    fragment: false,
    events: [{ type: (2 ** 31) as Event_EventType, kv, prevKv: undefined }],
  };
  assert.throws(() => WatchResponse.encode(bad));
  assert.throws(() => encodeWatchResponse(bad));
});
