import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WatchCreateRequest_FilterType } from "../../src/gen/etcdserverpb/rpc.js";
import type { Event } from "../../src/gen/mvccpb/kv.js";
import {
  WatchableStore,
  type WatchBatch,
  type WatcherSink,
  WatchRangeEmptyError,
} from "../../src/mvcc/watchable-store.js";
import { collect, describeEvents, MemoryWatchSource, settle, waitFor } from "./watch-source-memory.js";

const b = (s: string) => Buffer.from(s);
const flat = (batches: WatchBatch[]): Event[] => batches.flatMap((x) => x.events);

function setup(options = {}) {
  const src = new MemoryWatchSource();
  const store = new WatchableStore(src, options);
  return { src, store };
}

describe("watchable store: live watchers", () => {
  test("a watcher from now sees later writes on its key only, one batch per revision", async () => {
    const { src, store } = setup();
    src.put("a", "0");
    const w = store.watch({ key: b("a") });
    const seen = collect(w.events$);
    src.put("a", "1");
    src.put("b", "x");
    src.put("a", "2");
    src.deleteRange("a");
    await settle();
    assert.deepEqual(
      seen.batches.map((x) => [x.revision, describeEvents(x.events)]),
      [
        [3, ["PUT a=1@3"]],
        [5, ["PUT a=2@5"]],
        [6, ["DELETE a@6"]],
      ],
    );
    store.close();
    assert.equal(seen.done, true);
  });

  test("prefix, from-key and all-keys ranges follow etcd's range rules", async () => {
    const { src, store } = setup();
    const prefix = collect(store.watch({ key: b("ab"), rangeEnd: b("ac") }).events$);
    const fromKey = collect(store.watch({ key: b("b"), rangeEnd: Buffer.from([0]) }).events$);
    const all = collect(store.watch({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) }).events$);
    for (const k of ["a", "ab", "abz", "ac", "b", "zz"]) src.put(k, "v");
    await settle();
    const keys = (c: typeof prefix) => flat(c.batches).map((e) => e.kv!.key.toString());
    assert.deepEqual(keys(prefix), ["ab", "abz"]);
    assert.deepEqual(keys(fromKey), ["b", "zz"]);
    assert.deepEqual(keys(all), ["a", "ab", "abz", "ac", "b", "zz"]);
    store.close();
  });

  test("an interval ending at or before its start is refused", () => {
    const { store } = setup();
    assert.throws(() => store.watch({ key: b("b"), rangeEnd: b("a") }), WatchRangeEmptyError);
    assert.throws(() => store.watch({ key: b("b"), rangeEnd: b("b") }), /mvcc: watcher range is empty/);
  });

  test("all events of a transaction arrive in one batch", async () => {
    const { src, store } = setup();
    const seen = collect(store.watch({ key: b("k"), rangeEnd: b("l") }).events$);
    src.txn([
      { put: { key: "k1", value: "a" } },
      { put: { key: "k2", value: "b" } },
      { put: { key: "x", value: "c" } },
    ]);
    src.txn([{ del: { key: "k", end: "l" } }]);
    await settle();
    assert.deepEqual(
      seen.batches.map((x) => describeEvents(x.events)),
      [
        ["PUT k1=a@2", "PUT k2=b@2"],
        ["DELETE k1@3", "DELETE k2@3"],
      ],
    );
    store.close();
  });

  test("a future start revision waits for that revision", async () => {
    const { src, store } = setup();
    const seen = collect(store.watch({ key: b("a"), startRev: 4 }).events$);
    src.put("a", "1"); // 2
    src.put("a", "2"); // 3
    src.put("a", "3"); // 4
    await settle();
    assert.deepEqual(describeEvents(flat(seen.batches)), ["PUT a=3@4"]);
    store.close();
  });

  test("filters NOPUT and NODELETE drop those events and nothing else", async () => {
    const { src, store } = setup();
    const noPut = collect(
      store.watch({ key: b("a"), filters: [WatchCreateRequest_FilterType.NOPUT] }).events$,
    );
    const noDel = collect(
      store.watch({ key: b("a"), filters: [WatchCreateRequest_FilterType.NODELETE] }).events$,
    );
    src.put("a", "1");
    src.deleteRange("a");
    src.put("a", "2");
    await settle();
    assert.deepEqual(describeEvents(flat(noPut.batches)), ["DELETE a@3"]);
    assert.deepEqual(describeEvents(flat(noDel.batches)), ["PUT a=1@2", "PUT a=2@4"]);
    // Filtered-out revisions produce no empty batches.
    assert.equal(noPut.batches.length, 1);
    store.close();
  });

  test("prev_kv: previous value for updates and deletes, omitted for creates and when compacted", async () => {
    const { src, store } = setup();
    const w = store.watch({ key: b("a"), prevKv: true, startRev: 1 });
    const seen = collect(w.events$);
    src.put("a", "1"); // 2 create
    src.put("a", "2"); // 3 update
    src.deleteRange("a"); // 4 delete
    src.put("a", "3"); // 5 create again
    await settle();
    const prev = flat(seen.batches).map((e) => (e.prevKv === undefined ? "-" : e.prevKv.value.toString()));
    assert.deepEqual(prev, ["-", "1", "2", "-"]);
    assert.equal(flat(seen.batches)[1].prevKv?.modRevision, 2);
    // A watcher whose delivery happens after the previous version was compacted gets no prev_kv.
    const late = store.watch({ key: b("a"), prevKv: true });
    late.pause();
    const lateSeen = collect(late.events$);
    src.put("a", "4"); // 6 update of 5
    src.compact(6);
    late.resume();
    await settle();
    assert.deepEqual(describeEvents(flat(lateSeen.batches)), ["PUT a=4@6"]);
    assert.equal(flat(lateSeen.batches)[0].prevKv, undefined);
    store.close();
  });

  test("prev_kv watchers of one event share one read, one event object and one array; after a compaction they read again", async () => {
    const { src, store } = setup();
    src.put("k", "old"); // 2
    const reads: number[] = [];
    const get = src.get.bind(src);
    src.get = (key, atRev) => {
      reads.push(atRev);
      return get(key, atRev);
    };
    const watchers = Array.from({ length: 5 }, () => store.watch({ key: b("k"), prevKv: true }));
    const seen = watchers.map((w) => collect(w.events$));
    const plain = collect(store.watch({ key: b("k") }).events$);
    src.put("k", "new"); // 3
    await settle();
    const events = seen.map((x) => flat(x.batches)[0]);
    assert.deepEqual(reads, [2]);
    for (const ev of events) {
      assert.equal(ev, events[0]);
      assert.equal(ev.prevKv?.value.toString(), "old");
    }
    // and one array of them
    for (const x of seen) assert.equal(x.batches[0].events, seen[0].batches[0].events);
    assert.equal(flat(plain.batches)[0].prevKv, undefined);
    // one watcher delivers before a compaction passes the previous revision, one after: etcd's rule holds for each
    const early = store.watch({ key: b("k"), prevKv: true });
    const late = store.watch({ key: b("k"), prevKv: true });
    late.pause();
    const earlySeen = collect(early.events$);
    const lateSeen = collect(late.events$);
    src.put("k", "newer"); // 4
    await settle();
    src.put("other", "x"); // 5
    src.compact(5);
    late.resume();
    await settle();
    assert.equal(flat(earlySeen.batches)[0].prevKv?.value.toString(), "new");
    assert.equal(flat(lateSeen.batches)[0].prevKv, undefined);
    store.close();
  });

  test("cancel completes the stream and stops delivery", async () => {
    const { src, store } = setup();
    const w = store.watch({ key: b("a") });
    const seen = collect(w.events$);
    src.put("a", "1");
    await settle();
    w.cancel();
    src.put("a", "2");
    await settle();
    assert.equal(seen.done, true);
    assert.deepEqual(describeEvents(flat(seen.batches)), ["PUT a=1@2"]);
    assert.deepEqual(store.stats(), { synced: 0, unsynced: 0, revision: 3 });
  });

  test("a sink that takes events alone gets them as calls, the rest as batches, in the watcher's order", async () => {
    const { src, store } = setup({ progressNotifyIntervalMs: 100 });
    const w = store.watch({ key: b("a"), progressNotify: true });
    const got: string[] = [];
    const sink: WatcherSink = {
      next: (batch) =>
        got.push(`batch ${batch.revision} ${describeEvents(batch.events)} ${batch.progress === true}`),
      events: (events, revision) => {
        got.push(`events ${revision} ${describeEvents(events)}`);
        // a write made while the watcher hands out is given in the same pass, after this one
        if (revision === 2) src.put("a", "again");
      },
      complete: () => got.push("complete"),
      error: () => got.push("error"),
    };
    w.attach(sink);
    src.put("a", "1"); // 2
    await settle();
    assert.deepEqual(got, ["events 2 PUT a=1@2", "events 3 PUT a=again@3"]);
    // two revisions queued before the watcher hands out: the first as its head, the second behind it
    src.put("a", "2"); // 4
    src.put("a", "3"); // 5
    await settle();
    assert.deepEqual(got.slice(2), ["events 4 PUT a=2@4", "batch 5 PUT a=3@5 false"]);
    // a progress notification is a batch
    await waitFor(() => got.length > 4, 2000, "a progress notification");
    assert.equal(got[4], "batch 5  true");
    // paused: held (and counted) until resumed, then handed out in order
    w.pause();
    src.put("a", "4"); // 6
    src.put("a", "5"); // 7
    await settle();
    assert.equal(got.length, 5);
    assert.equal(w.pendingBatches, 2);
    assert.equal(w.isSettled, false);
    w.resume();
    await settle();
    assert.deepEqual(got.slice(5), ["events 6 PUT a=4@6", "batch 7 PUT a=5@7 false"]);
    assert.equal(w.pendingBatches, 0);
    assert.equal(w.isSettled, true);
    store.close();
    assert.equal(got.at(-1), "complete");
  });

  test("unsubscribing cancels the watcher", async () => {
    const { src, store } = setup();
    const seen = collect(store.watch({ key: b("a") }).events$);
    seen.stop();
    src.put("a", "1");
    assert.equal(store.stats().synced, 0);
  });
});

describe("watchable store: history and catching up", () => {
  test("a past start revision replays history inclusively, then continues live without duplicates", async () => {
    const { src, store } = setup();
    for (let i = 0; i < 10; i++) src.put(i % 2 === 0 ? "a" : "b", String(i)); // revs 2..11
    const w = store.watch({ key: b("a"), startRev: 4 });
    const seen = collect(w.events$);
    src.put("a", "live1"); // 12, before the catch-up ran
    await waitFor(() => w.state === "synced");
    src.put("a", "live2"); // 13
    await settle();
    assert.deepEqual(describeEvents(flat(seen.batches)), [
      "PUT a=2@4",
      "PUT a=4@6",
      "PUT a=6@8",
      "PUT a=8@10",
      "PUT a=live1@12",
      "PUT a=live2@13",
    ]);
    store.close();
  });

  test("history is read in bounded slices cut at revision boundaries; a huge revision goes out whole", async () => {
    const { src, store } = setup({ maxEventsPerBatch: 3, maxRevisionsPerRead: 4 });
    src.txn([1, 2, 3, 4, 5].map((i) => ({ put: { key: `k${i}`, value: "big" } }))); // 2: five events
    for (let i = 0; i < 6; i++)
      src.txn([{ put: { key: "k1", value: `${i}` } }, { put: { key: "k2", value: `${i}` } }]);
    const seen = collect(store.watch({ key: b("k"), rangeEnd: b("l"), startRev: 1 }).events$);
    await waitFor(() => store.stats().unsynced === 0);
    await settle();
    const revsPerBatch = seen.batches.map((x) => [...new Set(x.events.map((e) => e.kv!.modRevision))]);
    // No revision spans two batches, and none holds more than 3 events unless it is one revision.
    const allRevs = revsPerBatch.flat();
    assert.equal(new Set(allRevs).size, allRevs.length);
    for (const x of seen.batches) {
      assert.ok(x.events.length <= 3 || new Set(x.events.map((e) => e.kv!.modRevision)).size === 1);
      assert.ok(x.revision >= x.events[x.events.length - 1].kv!.modRevision);
    }
    assert.equal(flat(seen.batches).length, 5 + 12);
    assert.deepEqual(allRevs, [2, 3, 4, 5, 6, 7, 8]);
    store.close();
  });

  test("a slow subscriber holds at most maxPendingBatches, then is caught up from history with nothing lost", async () => {
    const { src, store } = setup({ maxPendingBatches: 4 });
    const w = store.watch({ key: b("a") });
    const seen = collect(w.events$);
    w.pause();
    for (let i = 0; i < 50; i++) src.put("a", String(i)); // 2..51
    assert.equal(w.pendingBatches, 4);
    assert.equal(w.state, "unsynced");
    await settle(10);
    assert.equal(w.pendingBatches, 4, "no catch-up while the subscriber is paused");
    w.resume();
    await waitFor(() => w.state === "synced" && w.pendingBatches === 0);
    src.put("a", "after"); // 52
    await settle();
    const revs = flat(seen.batches).map((e) => e.kv!.modRevision);
    assert.deepEqual(
      revs,
      Array.from({ length: 51 }, (_, i) => i + 2),
    );
    store.close();
  });

  test("resumable: a new watch at last revision + 1 continues exactly", async () => {
    const { src, store } = setup();
    const first = store.watch({ key: b("a"), rangeEnd: b("b") });
    const seen1 = collect(first.events$);
    for (let i = 0; i < 5; i++) src.put(`a${i}`, "x"); // 2..6
    await settle();
    first.cancel();
    const last = seen1.batches[seen1.batches.length - 1].revision;
    for (let i = 5; i < 9; i++) src.put(`a${i}`, "y"); // 7..10, while nobody watches
    const seen2 = collect(store.watch({ key: b("a"), rangeEnd: b("b"), startRev: last + 1 }).events$);
    src.put("a9", "z"); // 11
    await waitFor(() => store.stats().unsynced === 0);
    await settle();
    assert.deepEqual(
      [...flat(seen1.batches), ...flat(seen2.batches)].map((e) => e.kv!.modRevision),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    store.close();
  });
});

describe("watchable store: compaction", () => {
  test("a watcher starting before the compact revision is cancelled with it; one at it is served", async () => {
    const { src, store } = setup();
    for (let i = 0; i < 6; i++) src.put("a", String(i)); // 2..7
    src.compact(5);
    const early = collect(store.watch({ key: b("a"), startRev: 3 }).events$);
    const atCompact = collect(store.watch({ key: b("a"), startRev: 5 }).events$);
    await waitFor(() => early.done && store.stats().unsynced === 0);
    await settle();
    assert.equal(early.batches.length, 1);
    assert.equal(early.batches[0].canceled, true);
    assert.equal(early.batches[0].compactRevision, 5);
    assert.deepEqual(early.batches[0].events, []);
    assert.deepEqual(describeEvents(flat(atCompact.batches)), ["PUT a=3@5", "PUT a=4@6", "PUT a=5@7"]);
  });

  test("a store that refuses the compact revision itself yields compactRevision + 1", async () => {
    const src = new MemoryWatchSource({ refuseCompactRev: true });
    const store = new WatchableStore(src);
    for (let i = 0; i < 6; i++) src.put("a", String(i));
    src.compact(5);
    const seen = collect(store.watch({ key: b("a"), startRev: 5 }).events$);
    await waitFor(() => seen.done);
    assert.equal(seen.batches.at(-1)?.compactRevision, 6);
  });

  test("a paused watcher that falls behind a compaction gets its queued batches, then the cancellation", async () => {
    const { src, store } = setup({ maxPendingBatches: 2 });
    const w = store.watch({ key: b("a") });
    w.pause();
    const seen = collect(w.events$);
    for (let i = 0; i < 6; i++) src.put("a", String(i)); // 2..7; 2 and 3 queued, from 4 on unsynced
    src.compact(6);
    await settle(10);
    w.resume();
    await waitFor(() => seen.done);
    assert.deepEqual(describeEvents(flat(seen.batches)), ["PUT a=0@2", "PUT a=1@3"]);
    const last = seen.batches.at(-1)!;
    assert.equal(last.canceled, true);
    assert.equal(last.compactRevision, 6);
    assert.equal(store.stats().unsynced, 0);
  });
});

describe("watchable store: progress notifications", () => {
  test("an idle synced watcher that asked for progress gets empty notifications with the current revision", async () => {
    const { src, store } = setup({ progressNotifyIntervalMs: 100 });
    const seen = collect(store.watch({ key: b("a"), progressNotify: true }).events$);
    const quiet = collect(store.watch({ key: b("a") }).events$);
    src.put("zzz", "1"); // 2, another key: the revision moves on
    await waitFor(() => seen.batches.length > 0, 2000, "a progress notification");
    assert.deepEqual(seen.batches[0], { events: [], revision: 2, progress: true });
    assert.equal(quiet.batches.length, 0);
    store.close();
  });
});

test("the KV store's commit revisions must be contiguous; a gap is recovered from history", async () => {
  const { src, store } = setup();
  const seen = collect(store.watch({ key: b("a") }).events$);
  src.put("a", "1"); // 2
  // Simulate a lost announcement: revision 3 committed without telling the store.
  const listeners = (src as unknown as { commitListeners: Set<(e: Event[], r: number) => void> })
    .commitListeners;
  const saved = [...listeners];
  listeners.clear();
  src.put("a", "2"); // 3, unannounced
  for (const l of saved) listeners.add(l);
  src.put("a", "3"); // 4, announced: the store notices the gap
  await waitFor(() => store.stats().unsynced === 0);
  await settle();
  assert.deepEqual(
    flat(seen.batches).map((e) => e.kv!.modRevision),
    [2, 3, 4],
  );
  store.close();
});

test("resync re-reads history for every watcher without duplicating or losing events", async () => {
  const { src, store } = setup();
  const seen = collect(store.watch({ key: b("a"), rangeEnd: b("b") }).events$);
  src.put("a1", "1"); // 2
  await settle();
  store.resync();
  assert.equal(store.stats().unsynced, 1);
  src.put("a2", "2"); // 3
  await waitFor(() => store.stats().unsynced === 0);
  src.put("a3", "3"); // 4
  await settle();
  assert.deepEqual(
    flat(seen.batches).map((e) => e.kv!.modRevision),
    [2, 3, 4],
  );
  store.close();
});

test("many watchers on the same prefix each get every event once", async () => {
  const { src, store } = setup();
  const all = Array.from({ length: 50 }, () =>
    collect(store.watch({ key: b("p/"), rangeEnd: b("p0") }).events$),
  );
  const other = collect(store.watch({ key: b("p/x"), rangeEnd: b("p/y") }).events$);
  all[3].stop();
  src.put("p/a", "1");
  src.put("p/x1", "2");
  src.put("q", "3");
  await settle();
  for (const [i, c] of all.entries()) {
    assert.deepEqual(describeEvents(flat(c.batches)), i === 3 ? [] : ["PUT p/a=1@2", "PUT p/x1=2@3"]);
  }
  assert.deepEqual(describeEvents(flat(other.batches)), ["PUT p/x1=2@3"]);
  assert.equal(store.stats().synced, 50);
  store.close();
});
