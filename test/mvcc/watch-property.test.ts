// Property: under random writes, transactions, compactions, watchers starting at random past/now/future
// revisions, random filters, prev_kv, slow and paused consumers and cancellations, every watcher's stream is
// exactly the model's filtered history from its start revision (or a prefix of it ended by a compaction
// cancellation with a compaction that happened), in order, without duplicates, one revision per batch at most
// once, and each batch's revision is a true bookmark.
// Replay a failure: WATCH_PROP_SEED=<seed> WATCH_PROP_PATH=<path> node --import tsx --test test/mvcc/watch-property.test.ts
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { WatchCreateRequest_FilterType } from "../../src/gen/etcdserverpb/rpc.js";
import { type Event, Event_EventType, type KeyValue } from "../../src/gen/mvccpb/kv.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import type { WatchableSource } from "../../src/mvcc/watchable-source.js";
import { WatchableStore, type WatchBatch, type Watcher } from "../../src/mvcc/watchable-store.js";
import { inRange, type MemoryOp, MemoryWatchSource, waitFor } from "./watch-source-memory.js";

/** The writes a scenario performs, on the in-memory source or on the LMDB-backed KV store. */
interface Driver {
  readonly source: WatchableSource;
  put(key: string, value: string): void;
  deleteRange(key: string, end?: string): void;
  txn(ops: MemoryOp[]): void;
  compact(rev: number): void;
  close(): Promise<void>;
}

function memoryDriver(refuseCompactRev: boolean): Driver {
  const src = new MemoryWatchSource({ refuseCompactRev });
  return {
    source: src,
    put: (k, v) => src.put(k, v),
    deleteRange: (k, e) => src.deleteRange(k, e),
    txn: (ops) => src.txn(ops),
    compact: (rev) => src.compact(rev),
    close: async () => undefined,
  };
}

const raw = (x: string | Buffer): Buffer => (typeof x === "string" ? Buffer.from(x) : x);

function kvStoreDriver(): Driver {
  const dir = mkdtempSync(path.join(tmpdir(), "rxetcd-watch-"));
  const store = KVStore.open(path.join(dir, "db"));
  return {
    source: store,
    put: (k, v) => store.write(0, (tx) => tx.put(raw(k), raw(v), 0n)),
    deleteRange: (k, e) =>
      store.write(0, (tx) => tx.deleteRange(raw(k), e === undefined ? undefined : raw(e))),
    txn: (ops) =>
      store.write(0, (tx) => {
        for (const op of ops) {
          if ("put" in op) tx.put(raw(op.put.key), raw(op.put.value), op.put.lease ?? 0n);
          else tx.deleteRange(raw(op.del.key), op.del.end === undefined ? undefined : raw(op.del.end));
        }
      }),
    compact: (rev) => {
      store.compact(rev);
    },
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const KEYS = ["a", "ab", "b", "c", "d"];
const RANGES: Array<[string, string | undefined]> = [
  ["a", undefined],
  ["b", undefined],
  ["a", "b"], // prefix "a"
  ["b", "\0"], // from "b"
  ["\0", "\0"], // everything
  ["ab", "c"],
];

type Op =
  | { t: "put"; key: number; value: number }
  | { t: "del"; key: number; range: boolean }
  | { t: "txn"; ops: Array<{ key: number; value: number; del: boolean }> }
  | { t: "compact"; frac: number }
  | {
      t: "watch";
      range: number;
      start: { kind: "now" } | { kind: "past"; back: number } | { kind: "future"; ahead: number };
      noPut: boolean;
      noDelete: boolean;
      prevKv: boolean;
      slowMs: number | undefined;
    }
  | { t: "pause"; which: number }
  | { t: "resume"; which: number }
  | { t: "cancel"; which: number }
  | { t: "wait"; kind: "micro" | "immediate" | "timer" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("put" as const), key: fc.nat(4), value: fc.nat(99) }) },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant("del" as const), key: fc.nat(4), range: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("txn" as const),
      ops: fc.array(fc.record({ key: fc.nat(4), value: fc.nat(99), del: fc.boolean() }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant("compact" as const), frac: fc.double({ min: 0, max: 1 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("watch" as const),
      range: fc.nat(RANGES.length - 1),
      start: fc.oneof(
        fc.constant({ kind: "now" as const }),
        fc.record({ kind: fc.constant("past" as const), back: fc.nat(25) }),
        fc.record({ kind: fc.constant("future" as const), ahead: fc.integer({ min: 1, max: 3 }) }),
      ),
      noPut: fc.boolean(),
      noDelete: fc.boolean(),
      prevKv: fc.boolean(),
      slowMs: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("pause" as const), which: fc.nat(9) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("resume" as const), which: fc.nat(9) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("cancel" as const), which: fc.nat(12) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant("wait" as const),
      kind: fc.constantFrom("micro" as const, "immediate" as const, "timer" as const),
    }),
  },
);

const configArb = fc.record({
  maxPendingBatches: fc.integer({ min: 1, max: 4 }),
  maxEventsPerBatch: fc.integer({ min: 1, max: 5 }),
  maxRevisionsPerRead: fc.integer({ min: 1, max: 8 }),
  maxEventsPerRead: fc.integer({ min: 1, max: 8 }),
  maxWatchersPerSync: fc.integer({ min: 1, max: 3 }),
  refuseCompactRev: fc.boolean(),
});

type ScenarioConfig = typeof configArb extends fc.Arbitrary<infer T> ? T : never;

interface Record {
  watcher: Watcher;
  range: [string, string | undefined];
  startRev: number;
  noPut: boolean;
  noDelete: boolean;
  prevKv: boolean;
  batches: WatchBatch[];
  done: boolean;
  cancelledByUs: boolean;
}

const buf = (s: string) => (s === "\0" ? Buffer.from([0]) : Buffer.from(s));

function expectedFor(r: Record, history: Array<{ rev: number; events: Event[] }>): Event[] {
  const key = buf(r.range[0]);
  const end = r.range[1] === undefined ? undefined : buf(r.range[1]);
  const out: Event[] = [];
  for (const { rev, events } of history) {
    if (rev < r.startRev) continue;
    for (const ev of events) {
      if (!inRange(ev.kv!.key, key, end)) continue;
      if (ev.type === Event_EventType.PUT ? r.noPut : r.noDelete) continue;
      out.push(ev);
    }
  }
  return out;
}

/** The key's value just before `rev` according to the model, undefined when absent. */
function modelPrev(
  history: Array<{ rev: number; events: Event[] }>,
  key: Buffer,
  rev: number,
): KeyValue | undefined {
  let prev: KeyValue | undefined;
  for (const h of history) {
    if (h.rev >= rev) break;
    for (const ev of h.events) {
      if (!ev.kv!.key.equals(key)) continue;
      prev = ev.type === Event_EventType.PUT ? ev.kv : undefined;
    }
  }
  return prev;
}

const strip = (ev: Event): Event => ({ ...ev, prevKv: undefined });

async function runScenario(config: ScenarioConfig, ops: Op[], driver: Driver): Promise<void> {
  const src = driver.source;
  const history: Array<{ rev: number; events: Event[] }> = [];
  src.onCommit((events, rev) => history.push({ rev, events }));
  const compactions: number[] = [];
  const store = new WatchableStore(src, config);
  const records: Record[] = [];
  try {
    for (const op of ops) {
      switch (op.t) {
        case "put":
          driver.put(KEYS[op.key], String(op.value));
          break;
        case "del":
          if (op.range) driver.deleteRange(KEYS[op.key], "\0");
          else driver.deleteRange(KEYS[op.key]);
          break;
        case "txn": {
          // Distinct keys, as etcd refuses duplicate keys in one transaction.
          const seen = new Set<number>();
          const txnOps: MemoryOp[] = [];
          for (const o of op.ops) {
            if (seen.has(o.key)) continue;
            seen.add(o.key);
            txnOps.push(
              o.del ? { del: { key: KEYS[o.key] } } : { put: { key: KEYS[o.key], value: String(o.value) } },
            );
          }
          driver.txn(txnOps);
          break;
        }
        case "compact": {
          const lo = src.compactRev() + 1;
          const hi = src.currentRev();
          if (hi >= lo) {
            const at = lo + Math.floor(op.frac * (hi - lo));
            driver.compact(at);
            compactions.push(at);
          }
          break;
        }
        case "watch": {
          const rev = store.revision;
          const startRev =
            op.start.kind === "now"
              ? 0
              : op.start.kind === "past"
                ? Math.max(1, rev - op.start.back)
                : rev + op.start.ahead;
          const filters: WatchCreateRequest_FilterType[] = [];
          if (op.noPut) filters.push(WatchCreateRequest_FilterType.NOPUT);
          if (op.noDelete) filters.push(WatchCreateRequest_FilterType.NODELETE);
          const range = RANGES[op.range];
          const watcher = store.watch({
            key: buf(range[0]),
            rangeEnd: range[1] === undefined ? undefined : buf(range[1]),
            startRev,
            filters,
            prevKv: op.prevKv,
          });
          const r: Record = {
            watcher,
            range,
            startRev: startRev === 0 ? rev + 1 : startRev,
            noPut: op.noPut,
            noDelete: op.noDelete,
            prevKv: op.prevKv,
            batches: [],
            done: false,
            cancelledByUs: false,
          };
          records.push(r);
          const slowMs = op.slowMs;
          watcher.events$.subscribe({
            next: (batch) => {
              r.batches.push(batch);
              if (slowMs !== undefined) {
                // A slow consumer: busy after each batch for a moment.
                watcher.pause();
                setTimeout(() => watcher.resume(), slowMs);
              }
            },
            complete: () => {
              r.done = true;
            },
            error: (e) => {
              throw e;
            },
          });
          break;
        }
        case "pause":
          records[op.which % Math.max(1, records.length)]?.watcher.pause();
          break;
        case "resume":
          records[op.which % Math.max(1, records.length)]?.watcher.resume();
          break;
        case "cancel": {
          const r = records[op.which];
          if (r !== undefined && !r.done) {
            r.cancelledByUs = true;
            r.watcher.cancel();
          }
          break;
        }
        case "wait":
          if (op.kind === "micro") await Promise.resolve();
          else if (op.kind === "immediate") await new Promise((res) => setImmediate(res));
          else await new Promise((res) => setTimeout(res, 1));
          break;
      }
    }
    for (const r of records) r.watcher.resume();
    await waitFor(
      () =>
        records.every(
          (r) =>
            r.done || (r.watcher.state === "synced" && r.watcher.pendingBatches === 0 && !r.watcher.isPaused),
        ),
      2000,
      "every watcher to catch up",
    );
    await new Promise((res) => setTimeout(res, 5));

    for (const [i, r] of records.entries()) {
      const label = `watcher #${i} range=${JSON.stringify(r.range)} start=${r.startRev}`;
      const expected = expectedFor(r, history);
      const dataBatches = r.batches.filter((b) => !b.canceled);
      const got = dataBatches.flatMap((b) => b.events);
      // Batches: non-empty, ordered, each revision in one batch only, and every batch revision a bookmark.
      let bookmark = 0;
      const revsSeen = new Set<number>();
      for (const b of dataBatches) {
        assert.ok(b.events.length > 0, `${label}: empty data batch`);
        let last = 0;
        const inBatch = new Set<number>();
        for (const ev of b.events) {
          const rev = ev.kv!.modRevision;
          assert.ok(
            rev > bookmark,
            `${label}: event @${rev} not after the previous batch revision ${bookmark}`,
          );
          assert.ok(rev >= last, `${label}: events out of order in a batch`);
          assert.ok(!revsSeen.has(rev), `${label}: revision ${rev} split across batches`);
          inBatch.add(rev);
          last = rev;
        }
        for (const rev of inBatch) revsSeen.add(rev);
        assert.ok(b.revision >= last, `${label}: batch revision ${b.revision} below its last event ${last}`);
        bookmark = b.revision;
      }
      const cancel = r.batches.find((b) => b.canceled);
      if (cancel !== undefined) {
        assert.equal(r.batches.at(-1), cancel, `${label}: batches after the cancellation`);
        assert.ok(
          compactions.includes(cancel.compactRevision!) || compactions.includes(cancel.compactRevision! - 1),
          `${label}: compact revision ${cancel.compactRevision} is not a compaction (${compactions})`,
        );
        assert.ok(
          r.startRev < cancel.compactRevision!,
          `${label}: cancelled though it started at the compact revision`,
        );
        const lastRev = got.at(-1)?.kv?.modRevision ?? 0;
        assert.ok(
          lastRev + 1 < cancel.compactRevision!,
          `${label}: cancelled after reaching the compact revision`,
        );
      }
      const prefixOnly = cancel !== undefined || r.cancelledByUs;
      const want = prefixOnly ? expected.slice(0, got.length) : expected;
      assert.deepEqual(got.map(strip), want.map(strip), `${label}: events differ from the model's history`);
      if (r.prevKv) {
        const floor = Math.max(0, ...compactions);
        for (const ev of got) {
          const kv = ev.kv!;
          const isCreate = ev.type === Event_EventType.PUT && kv.createRevision === kv.modRevision;
          const prev = modelPrev(history, kv.key, kv.modRevision);
          if (isCreate) assert.equal(ev.prevKv, undefined, `${label}: prev_kv on a create`);
          else if (ev.prevKv !== undefined)
            assert.deepEqual(ev.prevKv, prev, `${label}: wrong prev_kv @${kv.modRevision}`);
          else
            assert.ok(
              prev === undefined || kv.modRevision - 1 < floor,
              `${label}: prev_kv missing @${kv.modRevision}`,
            );
        }
      } else {
        assert.ok(
          got.every((ev) => ev.prevKv === undefined),
          `${label}: prev_kv not asked for`,
        );
      }
    }
  } finally {
    store.close();
    await driver.close();
  }
}

async function checkProperty(name: string, numRuns: number, makeDriver: (c: ScenarioConfig) => Driver) {
  const seed =
    process.env.WATCH_PROP_SEED === undefined
      ? Date.now() ^ (Math.random() * 0x7fffffff)
      : Number(process.env.WATCH_PROP_SEED);
  const path = process.env.WATCH_PROP_PATH;
  const runs = Number(process.env.WATCH_PROP_RUNS ?? numRuns);
  try {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(opArb, { minLength: 5, maxLength: 60 }), (config, ops) =>
        runScenario(config, ops, makeDriver(config)),
      ),
      { seed, path, numRuns: runs, endOnFailure: path !== undefined },
    );
  } catch (err) {
    const m = /seed: (-?\d+), path: "([^"]*)"/.exec(String((err as Error).message));
    console.error(
      `watch property (${name}) failed; replay with:\n  WATCH_PROP_SEED=${m?.[1] ?? seed} WATCH_PROP_PATH=${m?.[2] ?? ""} node --import tsx --test --test-name-pattern="${name}" test/mvcc/watch-property.test.ts`,
    );
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) console.error("first failure:", cause);
    throw err;
  }
}

test("in-memory source: watch streams equal the model's filtered history under random writes, watchers, slow consumers and compactions", () =>
  checkProperty("in-memory source", 150, (c) => memoryDriver(c.refuseCompactRev)));

test("LMDB KV store: watch streams equal the model's filtered history under random writes, watchers, slow consumers and compactions", () =>
  checkProperty("LMDB KV store", 40, () => kvStoreDriver()));
