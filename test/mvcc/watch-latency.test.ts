// Writers never wait for watchers: a stalled subscriber costs a write nothing once its bounded outbox is full,
// and watchers catching up from history are served in bounded passes between writes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Event } from "../../src/gen/mvccpb/kv.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { WatchableStore } from "../../src/mvcc/watchable-store.js";
import { collect, MemoryWatchSource, waitFor } from "./watch-source-memory.js";

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

test("a stalled watcher on the written key does not slow writes, holds a bounded outbox and loses nothing", async (t) => {
  const N = 4000;
  const run = (stalled: boolean) => {
    const src = new MemoryWatchSource();
    const store = new WatchableStore(src, { maxPendingBatches: 128 });
    const w = store.watch({ key: Buffer.from("hot") });
    const seen = collect(w.events$);
    if (stalled) w.pause();
    const costs: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      src.put("hot", String(i));
      costs.push(performance.now() - t0);
    }
    return { src, store, w, seen, costs };
  };
  run(false); // warm-up
  const base = run(false);
  const slow = run(true);
  const baseMedian = quantile(base.costs, 0.5);
  const slowMedian = quantile(slow.costs, 0.5);
  t.diagnostic(
    `put cost median ${(baseMedian * 1000).toFixed(1)} us without, ${(slowMedian * 1000).toFixed(1)} us with a stalled watcher; p99 ${(quantile(base.costs, 0.99) * 1000).toFixed(1)} / ${(quantile(slow.costs, 0.99) * 1000).toFixed(1)} us`,
  );
  assert.ok(
    slowMedian <= baseMedian * 2 + 0.02,
    `writes slowed by a stalled watcher: ${slowMedian} vs ${baseMedian} ms`,
  );
  assert.equal(slow.w.pendingBatches, 128, "the outbox stops at its bound");
  assert.equal(slow.w.state, "unsynced");
  slow.w.resume();
  await waitFor(() => slow.w.state === "synced" && slow.w.pendingBatches === 0, 5000, "catch-up");
  const revs = slow.seen.batches.flatMap((x) => x.events.map((e) => e.kv!.modRevision));
  assert.deepEqual(
    revs,
    Array.from({ length: N }, (_, i) => i + 2),
  );
  base.store.close();
  slow.store.close();
});

test("watchers catching up from a long LMDB history do not stall concurrent writes", async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "rxetcd-watch-latency-"));
  const kv = KVStore.open(path.join(dir, "db"), { durability: "overlapping" });
  try {
    const HISTORY = 40_000;
    const WRITES = 300;
    kv.batch(() => {
      for (let i = 0; i < HISTORY; i++) {
        kv.write(0, (tx) => tx.put(Buffer.from(`k${i % 50}`), Buffer.from(String(i)), 0n));
      }
    });
    const store = new WatchableStore(kv);
    const watchers = Array.from({ length: 8 }, (_, i) =>
      collect(
        store.watch({
          key: Buffer.from(i % 2 === 0 ? "k" : `k${i}`),
          rangeEnd: i % 2 === 0 ? Buffer.from("l") : undefined,
          startRev: 2,
        }).events$,
      ),
    );
    const stalled = store.watch({ key: Buffer.from("k"), rangeEnd: Buffer.from("l"), startRev: 2 });
    stalled.pause();
    collect(stalled.events$);

    // How long each write waited for the event loop after the previous one finished: sync passes and
    // deliveries run in that time, the writes' own LMDB time does not count.
    const waits: number[] = [];
    const writeTimes: number[] = [];
    let prevEnd = performance.now();
    for (let i = 0; i < WRITES; i++) {
      await nextTurn();
      const start = performance.now();
      waits.push(start - prevEnd);
      kv.write(0, (tx) => tx.put(Buffer.from(`k${i % 50}`), Buffer.from(`live${i}`), 0n));
      prevEnd = performance.now();
      writeTimes.push(prevEnd - start);
    }
    // Done when every running watcher has everything (the stalled one may or may not have left the synced
    // group: that depends on how large the adaptive catch-up batches were). Generous: on a loaded 2-core
    // machine the catch-up itself can take tens of seconds.
    const lastRevNow = kv.currentRev();
    const wanted = (i: number) => (i % 2 === 0 ? lastRevNow - 1 : (HISTORY + WRITES) / 50);
    await waitFor(
      () => watchers.every((seen, i) => seen.batches.reduce((n, b) => n + b.events.length, 0) >= wanted(i)),
      180_000,
      "the catch-up of every running watcher",
    );
    t.diagnostic(
      `${WRITES} writes during the catch-up of ${HISTORY} revisions by 8 watchers: wait before a write p50 ${quantile(waits, 0.5).toFixed(2)} ms, p99 ${quantile(waits, 0.99).toFixed(2)} ms, max ${Math.max(...waits).toFixed(2)} ms (the writes themselves: p50 ${quantile(writeTimes, 0.5).toFixed(2)} ms, max ${Math.max(...writeTimes).toFixed(2)} ms)`,
    );
    // Reading the whole history in one go takes about a second on this store: no write may wait for anything
    // like that, and the typical write must not wait at all. (The bounds leave room for a loaded machine.)
    assert.ok(Math.max(...waits) < 2000, `a write waited ${Math.max(...waits)} ms for watchers`);
    assert.ok(quantile(waits, 0.5) < 20, `writes typically waited ${quantile(waits, 0.5)} ms`);
    assert.ok(stalled.pendingBatches <= 128);
    // Every running watcher got the whole history and the live writes, in order, exactly once.
    const lastRev = kv.currentRev();
    for (const [i, seen] of watchers.entries()) {
      const events: Event[] = seen.batches.flatMap((x) => x.events);
      const want = i % 2 === 0 ? lastRev - 1 : (HISTORY + WRITES) / 50;
      assert.equal(events.length, want, `watcher ${i}`);
      const revs = events.map((e) => e.kv!.modRevision);
      assert.ok(
        revs.every((r, j) => j === 0 || r > revs[j - 1]),
        `watcher ${i} out of order`,
      );
    }
    store.close();
  } finally {
    await kv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
