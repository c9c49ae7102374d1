// Property of one watch stream under random writes, watchers, cancels, pauses and progress requests:
// created precedes a watcher's events; every progress answer (watch id -1, revision R) is a true bookmark
// (each live watcher has received exactly its events up to R before it, none after it); a progress request
// is always answered once the watchers catch up; every watcher's events equal the model's history.
// Replay: WATCH_STREAM_SEED=<seed> WATCH_STREAM_PATH=<path> node --import tsx --test test/mvcc/watch-stream-property.test.ts
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Event, Event_EventType } from "../../src/gen/mvccpb/kv.js";
import { WatchStream, type WatchStreamResponse } from "../../src/mvcc/watch-stream.js";
import { WatchableStore } from "../../src/mvcc/watchable-store.js";
import { inRange, MemoryWatchSource, waitFor } from "./watch-source-memory.js";

const KEYS = ["a", "ab", "b", "c"];
const RANGES: Array<[string, string | undefined]> = [
  ["a", undefined],
  ["a", "b"],
  ["b", "\0"],
  ["\0", "\0"],
];

type Op =
  | { t: "put"; key: number }
  | { t: "del"; key: number }
  | { t: "compact" }
  | { t: "create"; range: number; back: number | undefined; noDelete: boolean }
  | { t: "cancel"; which: number }
  | { t: "progress" }
  | { t: "pause" }
  | { t: "resume" }
  | { t: "wait" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant("put" as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("del" as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ t: "compact" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("create" as const),
      range: fc.nat(RANGES.length - 1),
      back: fc.option(fc.nat(15), { nil: undefined }),
      noDelete: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancel" as const), which: fc.nat(8) }) },
  { weight: 3, arbitrary: fc.constant({ t: "progress" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "pause" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "resume" as const }) },
  { weight: 3, arbitrary: fc.constant({ t: "wait" as const }) },
);

interface Watch {
  id: number;
  range: [string, string | undefined];
  startRev: number;
  noDelete: boolean;
  createdAt: number;
  cancelledAt: number | undefined;
}

const buf = (s: string) => (s === "\0" ? Buffer.from([0]) : Buffer.from(s));

async function run(ops: Op[]): Promise<void> {
  const src = new MemoryWatchSource();
  const history: Array<{ rev: number; events: Event[] }> = [];
  src.onCommit((events, rev) => history.push({ rev, events }));
  const store = new WatchableStore(src, {
    maxPendingBatches: 2,
    maxEventsPerBatch: 2,
    maxRevisionsPerRead: 3,
  });
  const stream = new WatchStream(store);
  const out: WatchStreamResponse[] = [];
  stream.responses$.subscribe((r) => out.push(r));
  const watches: Watch[] = [];
  let lastProgressRequest = -1;
  const expected = (w: Watch, upTo: number): Event[] =>
    history
      .filter((h) => h.rev >= w.startRev && h.rev <= upTo)
      .flatMap((h) => h.events)
      .filter((ev) =>
        inRange(ev.kv!.key, buf(w.range[0]), w.range[1] === undefined ? undefined : buf(w.range[1])),
      )
      .filter((ev) => !(w.noDelete && ev.type === Event_EventType.DELETE));
  try {
    for (const op of ops) {
      switch (op.t) {
        case "put":
          src.put(KEYS[op.key], "v");
          break;
        case "del":
          src.deleteRange(KEYS[op.key]);
          break;
        case "compact":
          if (src.currentRev() > src.compactRev() + 1) src.compact(src.currentRev() - 1);
          break;
        case "create": {
          const range = RANGES[op.range];
          // Starting at or after the compact revision, so that only slow consumers could be cancelled.
          const rev = store.revision;
          const startRev = op.back === undefined ? 0 : Math.max(src.compactRev(), 1, rev - op.back);
          const createdAt = out.length;
          const id = stream.create({
            key: buf(range[0]),
            rangeEnd: range[1] === undefined ? undefined : buf(range[1]),
            startRevision: startRev,
            filters: op.noDelete ? [1] : [],
          });
          watches.push({
            id,
            range,
            startRev: startRev === 0 ? rev + 1 : startRev,
            noDelete: op.noDelete,
            createdAt,
            cancelledAt: undefined,
          });
          break;
        }
        case "cancel": {
          const w = watches[op.which];
          const at = out.length; // the canceled reply comes first
          if (w !== undefined && w.cancelledAt === undefined && stream.cancel(w.id)) w.cancelledAt = at;
          break;
        }
        case "progress":
          lastProgressRequest = out.length;
          stream.requestProgress();
          break;
        case "pause":
          stream.pause();
          break;
        case "resume":
          stream.resume();
          break;
        case "wait":
          await new Promise((r) => setTimeout(r, 1));
          break;
      }
    }
    stream.resume();
    await waitFor(() => store.stats().unsynced === 0, 2000, "catch-up");
    // Delivery of what caught up runs on later turns of the loop, later still on a loaded machine: wait
    // (bounded) until every live watcher holds as many events as the model gives it and the last progress
    // request has its answer; the checks below then say what differs, if anything does.
    const delivered = (): boolean =>
      (lastProgressRequest < 0 ||
        out.slice(lastProgressRequest).some((r) => r.progress && r.watchId === -1)) &&
      watches.every(
        (w) =>
          w.cancelledAt !== undefined ||
          out.some((r, i) => i > w.createdAt && r.watchId === w.id && r.compactRevision > 0) ||
          out
            .filter((r, i) => i > w.createdAt && r.watchId === w.id)
            .reduce((n, r) => n + r.events.length, 0) >= expected(w, src.currentRev()).length,
      );
    await waitFor(delivered, 2000, "delivery").catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));

    for (const w of watches) {
      assert.equal(out[w.createdAt].created, true, `watch ${w.id}: created first`);
      assert.equal(out[w.createdAt].watchId, w.id);
      // Compaction cancels (a slow consumer behind a compaction) end the stream of that watcher early.
      const compacted = out.findIndex(
        (r, i) => i > w.createdAt && r.watchId === w.id && r.compactRevision > 0,
      );
      // a watcher the client cancels after a compaction ended it ended at the compaction
      if (compacted >= 0) w.cancelledAt = Math.min(w.cancelledAt ?? compacted, compacted);
    }
    for (const [p, r] of out.entries()) {
      if (!(r.progress && r.watchId === -1)) continue;
      for (const w of watches) {
        if (w.createdAt > p || (w.cancelledAt !== undefined && w.cancelledAt < p)) continue;
        const before = out
          .slice(w.createdAt + 1, p)
          .filter((x) => x.watchId === w.id)
          .flatMap((x) => x.events);
        assert.deepEqual(
          before.map((e) => e.kv!.modRevision),
          expected(w, r.revision).map((e) => e.kv!.modRevision),
          `watch ${w.id}: progress @${r.revision} at response ${p} is not a bookmark`,
        );
      }
    }
    if (lastProgressRequest >= 0) {
      assert.ok(
        out.slice(lastProgressRequest).some((r) => r.progress && r.watchId === -1),
        "the last progress request was never answered",
      );
    }
    for (const w of watches) {
      if (w.cancelledAt !== undefined) continue;
      const got = out
        .slice(w.createdAt + 1)
        .filter((x) => x.watchId === w.id)
        .flatMap((x) => x.events);
      assert.deepEqual(
        got.map((e) => e.kv!.modRevision),
        expected(w, src.currentRev()).map((e) => e.kv!.modRevision),
        `watch ${w.id}: events differ from the model`,
      );
    }
  } finally {
    stream.close();
    store.close();
  }
}

test("watch stream: progress answers are bookmarks, always answered, created precedes events", async () => {
  const seed =
    process.env.WATCH_STREAM_SEED === undefined
      ? Date.now() ^ (Math.random() * 0x7fffffff)
      : Number(process.env.WATCH_STREAM_SEED);
  const path = process.env.WATCH_STREAM_PATH;
  try {
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 50 }), run), {
      seed,
      path,
      numRuns: Number(process.env.WATCH_STREAM_RUNS ?? 150),
      endOnFailure: path !== undefined,
    });
  } catch (err) {
    const m = /seed: (-?\d+), path: "([^"]*)"/.exec(String((err as Error).message));
    console.error(
      `watch stream property failed; replay with:\n  WATCH_STREAM_SEED=${m?.[1] ?? seed} WATCH_STREAM_PATH=${m?.[2] ?? ""} node --import tsx --test test/mvcc/watch-stream-property.test.ts`,
    );
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) console.error("first failure:", cause);
    throw err;
  }
});
