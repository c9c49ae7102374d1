// The watchable store over the real LMDB-backed KV store: history replay, prev_kv, compaction, restart.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { WatchableStore, type WatchBatch } from "../../src/mvcc/watchable-store.js";
import { collect, describeEvents, settle, waitFor } from "./watch-source-memory.js";

const b = (s: string) => Buffer.from(s);

async function withStore(fn: (kv: KVStore, reopen: () => Promise<KVStore>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "rxetcd-watch-kv-"));
  const file = path.join(dir, "db");
  let kv = KVStore.open(file);
  try {
    await fn(kv, async () => {
      await kv.close();
      kv = KVStore.open(file);
      return kv;
    });
  } finally {
    await kv.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const put = (kv: KVStore, k: string, v: string) => kv.write(0, (tx) => tx.put(b(k), b(v), 0n));
const del = (kv: KVStore, k: string) => kv.write(0, (tx) => tx.deleteRange(b(k), undefined));
const flat = (batches: WatchBatch[]) => batches.flatMap((x) => x.events);

test("LMDB store: live events, history replay and prev_kv", async () => {
  await withStore(async (kv) => {
    put(kv, "a", "1"); // 2
    put(kv, "a", "2"); // 3
    const store = new WatchableStore(kv);
    const past = collect(store.watch({ key: b("a"), startRev: 2, prevKv: true }).events$);
    const live = collect(store.watch({ key: b("a"), prevKv: true }).events$);
    del(kv, "a"); // 4
    kv.write(0, (tx) => {
      tx.put(b("a"), b("3"), 0n);
      tx.put(b("b"), b("x"), 0n);
    }); // 5
    await waitFor(() => store.stats().unsynced === 0);
    await settle();
    assert.deepEqual(describeEvents(flat(past.batches)), [
      "PUT a=1@2",
      "PUT a=2@3",
      "DELETE a@4",
      "PUT a=3@5",
    ]);
    assert.deepEqual(describeEvents(flat(live.batches)), ["DELETE a@4", "PUT a=3@5"]);
    const prev = (bs: WatchBatch[]) => flat(bs).map((e) => e.prevKv?.value.toString() ?? "-");
    assert.deepEqual(prev(past.batches), ["-", "1", "2", "-"]);
    assert.deepEqual(prev(live.batches), ["2", "-"]);
    store.close();
  });
});

test("LMDB store: compaction cancels watchers behind it; the compact revision itself is served", async () => {
  await withStore(async (kv) => {
    for (let i = 0; i < 6; i++) put(kv, "a", String(i)); // 2..7
    await kv.compact(5)?.done;
    const store = new WatchableStore(kv);
    const behind = collect(store.watch({ key: b("a"), startRev: 4 }).events$);
    const at = collect(store.watch({ key: b("a"), startRev: 5 }).events$);
    await waitFor(() => behind.done && store.stats().unsynced === 0);
    await settle();
    assert.deepEqual(behind.batches, [{ events: [], revision: 7, compactRevision: 5, canceled: true }]);
    assert.deepEqual(describeEvents(flat(at.batches)), ["PUT a=3@5", "PUT a=4@6", "PUT a=5@7"]);
    store.close();
  });
});

test("LMDB store: after a restart, a watch from a past revision replays the history on disk", async () => {
  await withStore(async (kv, reopen) => {
    for (let i = 0; i < 5; i++) put(kv, i % 2 === 0 ? "a" : "b", String(i)); // 2..6
    const again = await reopen();
    const store = new WatchableStore(again);
    assert.equal(store.revision, 6);
    const seen = collect(store.watch({ key: b("a"), rangeEnd: b("c"), startRev: 3 }).events$);
    put(again, "b", "live"); // 7
    await waitFor(() => store.stats().unsynced === 0);
    await settle();
    assert.deepEqual(describeEvents(flat(seen.batches)), [
      "PUT b=1@3",
      "PUT a=2@4",
      "PUT b=3@5",
      "PUT a=4@6",
      "PUT b=live@7",
    ]);
    store.close();
  });
});

test("LMDB store: a delete at the compact revision reaches a watch started there", {
  todo: "the KV store drops the tombstone at exactly the compaction revision (etcd 3.4.23 did too; fixed upstream by etcd PR 18474/18475, issue 18089)",
}, async () => {
  await withStore(async (kv) => {
    put(kv, "a", "1"); // 2
    put(kv, "b", "1"); // 3
    del(kv, "a"); // 4
    await kv.compact(4)?.done;
    const store = new WatchableStore(kv);
    const seen = collect(
      store.watch({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRev: 4 }).events$,
    );
    await waitFor(() => store.stats().unsynced === 0);
    await settle();
    store.close();
    assert.deepEqual(describeEvents(flat(seen.batches)), ["DELETE a@4"]);
  });
});
