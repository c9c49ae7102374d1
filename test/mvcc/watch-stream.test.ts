import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { WatchCreateRequest_FilterType } from "../../src/gen/etcdserverpb/rpc.js";
import { Event } from "../../src/gen/mvccpb/kv.js";
import {
  DUPLICATE_WATCH_ID,
  fragments,
  WatchStream,
  type WatchStreamResponse,
} from "../../src/mvcc/watch-stream.js";
import { WatchableStore } from "../../src/mvcc/watchable-store.js";
import { describeEvents, MemoryWatchSource, settle, waitFor } from "./watch-source-memory.js";

const b = (s: string) => Buffer.from(s);

function setup(options = {}) {
  const src = new MemoryWatchSource();
  const store = new WatchableStore(src, options);
  const stream = new WatchStream(store);
  const out: WatchStreamResponse[] = [];
  stream.responses$.subscribe((r) => out.push(r));
  return { src, store, stream, out };
}

/** The responses in a short text form: "created 0 @1", "events 0 @3 PUT a=1@3", "canceled 0", "progress -1 @4". */
function summary(out: WatchStreamResponse[]): string[] {
  return out.map((r) => {
    if (r.created && r.canceled) return `refused ${r.watchId} ${r.cancelReason}`;
    if (r.created) return `created ${r.watchId} @${r.revision}`;
    if (r.canceled && r.compactRevision !== 0) return `compacted ${r.watchId} ${r.compactRevision}`;
    if (r.canceled) return `canceled ${r.watchId}`;
    if (r.progress) return `progress ${r.watchId} @${r.revision}`;
    return `events ${r.watchId} @${r.revision} ${describeEvents(r.events).join(",")}`;
  });
}

describe("watch stream", () => {
  test("server-chosen ids count from 0 and skip ids the client took; created comes before events", async () => {
    const { src, stream, out } = setup();
    assert.equal(stream.create({ key: b("a"), watchId: 1 }), 1);
    assert.equal(stream.create({ key: b("a") }), 0);
    assert.equal(stream.create({ key: b("a") }), 2);
    src.put("a", "1");
    await settle();
    assert.deepEqual(summary(out), [
      "created 1 @1",
      "created 0 @1",
      "created 2 @1",
      "events 1 @2 PUT a=1@2",
      "events 0 @2 PUT a=1@2",
      "events 2 @2 PUT a=1@2",
    ]);
    stream.close();
  });

  test("a history watch replies created with the current revision, then the replayed events", async () => {
    const { src, stream, out } = setup();
    src.put("a", "1"); // 2
    src.put("a", "2"); // 3
    stream.request({ createRequest: { key: b("a"), startRevision: 2 } as never });
    await waitFor(() => out.length === 2);
    assert.deepEqual(summary(out), ["created 0 @3", "events 0 @3 PUT a=1@2,PUT a=2@3"]);
    stream.close();
  });

  test("a duplicate client id is refused with etcd's text and watch id -1", () => {
    const { stream, out } = setup();
    stream.create({ key: b("a"), watchId: 7 });
    assert.equal(stream.create({ key: b("b"), watchId: 7 }), -1);
    assert.deepEqual(summary(out), ["created 7 @1", `refused -1 ${DUPLICATE_WATCH_ID}`]);
    assert.equal(DUPLICATE_WATCH_ID, "mvcc: duplicate watch ID provided on the WatchStream");
    assert.deepEqual(stream.watchIds(), [7]);
  });

  test("a negative start revision below the compact revision (-1 before any compaction) ends compacted", async () => {
    const { src, stream, out } = setup();
    src.put("a", "1"); // 2
    assert.equal(stream.create({ key: b("a"), startRevision: -5 }), 0);
    await settle();
    src.compact(2);
    assert.equal(stream.create({ key: b("a"), startRevision: -1 }), 1);
    await settle();
    assert.deepEqual(summary(out), ["created 0 @2", "compacted 0 -1", "created 1 @2", "compacted 1 2"]);
    // as in etcd, the ids of compacted watchers stay taken until the client cancels them
    assert.deepEqual(stream.watchIds(), [0, 1]);
    // as in etcd, the compaction notice's header has revision 0
    assert.deepEqual(
      out.filter((r) => r.canceled).map((r) => r.revision),
      [0, 0],
    );
  });

  test("a watcher ended by a compaction at revision 0 gets an empty answer that is not canceled, as etcd 3.4's", async () => {
    const { src, stream, out } = setup();
    src.put("a", "1"); // 2
    src.compact(0);
    assert.equal(stream.create({ key: b("a"), startRevision: -1 }), 0);
    await settle();
    src.put("a", "2"); // 3: the watcher is gone, though the client was not told
    await settle();
    assert.equal(out.length, 2);
    assert.deepEqual(summary(out.slice(0, 1)), ["created 0 @2"]);
    assert.deepEqual(
      [out[1].watchId, out[1].canceled, out[1].compactRevision, out[1].revision, out[1].events.length],
      [0, false, 0, 0, 0],
    );
    assert.deepEqual(stream.watchIds(), [0]);
  });

  test("start revision -1 on a store never compacted watches from now on, with no history (as etcd 3.4)", async () => {
    const { src, stream, out } = setup();
    src.put("a", "1"); // 2
    stream.create({ key: b("a"), startRevision: -1 });
    await settle();
    src.put("a", "2"); // 3
    await settle();
    assert.deepEqual(summary(out), ["created 0 @2", "events 0 @3 PUT a=2@3"]);
  });

  test("a watcher ended by compaction keeps its id until cancelled, as etcd's watch stream does", async () => {
    const { src, stream, out } = setup();
    src.put("a", "1"); // 2
    src.put("a", "2"); // 3
    src.compact(3);
    assert.equal(stream.create({ key: b("a"), startRevision: 2, watchId: 3 }), 3);
    await settle();
    // the id is still taken: a server-chosen id skips it, a client-chosen one is a duplicate
    assert.equal(stream.create({ key: b("a") }), 0);
    assert.equal(stream.create({ key: b("a") }), 1);
    assert.equal(stream.create({ key: b("a") }), 2);
    assert.equal(stream.create({ key: b("a") }), 4);
    assert.equal(stream.create({ key: b("b"), watchId: 3 }), -1);
    // a progress request is not held up by it
    stream.requestProgress();
    await settle();
    assert.equal(stream.cancel(3), true);
    assert.equal(stream.create({ key: b("b"), watchId: 3 }), 3);
    assert.deepEqual(summary(out), [
      "created 3 @3",
      "compacted 3 3",
      "created 0 @3",
      "created 1 @3",
      "created 2 @3",
      "created 4 @3",
      `refused -1 ${DUPLICATE_WATCH_ID}`,
      "progress -1 @3",
      "canceled 3",
      "created 3 @3",
    ]);
  });

  test("an empty interval is refused before the watch id is looked at, and uses up no id", () => {
    const { stream, out } = setup();
    assert.equal(stream.create({ key: b("b"), rangeEnd: b("a") }), -1);
    assert.equal(stream.create({ key: b("a") }), 0);
    // the id is taken, but the empty range is what etcd reports
    assert.equal(stream.create({ key: b("b"), rangeEnd: b("b"), watchId: 0 }), -1);
    assert.deepEqual(summary(out), [
      "refused -1 mvcc: watcher range is empty",
      "created 0 @1",
      "refused -1 mvcc: watcher range is empty",
    ]);
    assert.equal(out[0].created && out[0].canceled, true);
    assert.deepEqual(stream.watchIds(), [0]);
  });

  test("an empty key watches from the smallest key; range end \\0 means every key after", async () => {
    const { src, stream, out } = setup();
    stream.create({ key: Buffer.alloc(0), rangeEnd: Buffer.from([0]) });
    src.put("x", "1");
    await settle();
    assert.deepEqual(summary(out), ["created 0 @1", "events 0 @2 PUT x=1@2"]);
  });

  test("cancel answers canceled and stops that watcher only; unknown ids get no answer", async () => {
    const { src, stream, out } = setup();
    stream.create({ key: b("a") });
    stream.create({ key: b("a") });
    stream.request({ cancelRequest: { watchId: 0 } });
    stream.cancel(42);
    src.put("a", "1");
    await settle();
    assert.deepEqual(summary(out), ["created 0 @1", "created 1 @1", "canceled 0", "events 1 @2 PUT a=1@2"]);
  });

  test("filters and prev_kv from the create request reach the watcher", async () => {
    const { src, stream, out } = setup();
    src.put("a", "0"); // 2
    stream.create({ key: b("a"), filters: [WatchCreateRequest_FilterType.NOPUT], prevKv: true });
    src.put("a", "1"); // 3
    src.deleteRange("a"); // 4
    await settle();
    assert.deepEqual(summary(out), ["created 0 @2", "events 0 @4 DELETE a@4"]);
    assert.equal(out[1].events[0].prevKv?.value.toString(), "1");
  });

  test("a watcher ended by compaction is announced with its compact revision and gets no more events", async () => {
    const { src, stream, out } = setup();
    for (let i = 0; i < 5; i++) src.put("a", String(i)); // 2..6
    src.compact(4);
    stream.create({ key: b("a"), startRevision: 2 });
    await waitFor(() => out.length === 2);
    src.put("a", "later");
    await settle();
    assert.deepEqual(summary(out), ["created 0 @6", "compacted 0 4"]);
  });

  test("a progress request is answered at once when every watcher is synced", async () => {
    const { src, stream, out } = setup();
    stream.create({ key: b("a") });
    src.put("b", "1"); // 2
    stream.requestProgress();
    assert.deepEqual(summary(out), ["created 0 @1", "progress -1 @2"]);
  });

  test("a progress request waits while a watcher catches up, and comes after its events", async () => {
    const { src, stream, out } = setup({ maxPendingBatches: 2 });
    for (let i = 0; i < 20; i++) src.put("a", String(i)); // 2..21
    stream.create({ key: b("b") }); // synced
    stream.create({ key: b("a"), startRevision: 2 }); // unsynced, catching up
    stream.pause();
    stream.request({ progressRequest: {} });
    await settle(10);
    assert.equal(
      out.some((r) => r.progress),
      false,
      "no progress while a watcher is behind",
    );
    stream.resume();
    await waitFor(() => out.some((r) => r.progress));
    const progressAt = out.findIndex((r) => r.progress);
    const events = out.slice(0, progressAt).flatMap((r) => r.events);
    assert.equal(events.length, 20, "every event up to the progress revision came before it");
    assert.deepEqual(summary([out[progressAt]]), ["progress -1 @21"]);
    assert.equal(progressAt, out.length - 1);
  });

  test("a progress request with a watcher starting in the future is answered at once, as etcd 3.4 does", async () => {
    const { src, stream, out } = setup();
    src.put("z", "1"); // 2
    stream.create({ key: b("a"), startRevision: 5 });
    stream.requestProgress();
    assert.deepEqual(summary(out), ["created 0 @2", "progress -1 @2"]);
    src.put("a", "1"); // 3: before the watcher's start
    src.put("a", "2"); // 4
    stream.requestProgress();
    src.put("a", "3"); // 5: its first event
    await settle();
    assert.deepEqual(summary(out), [
      "created 0 @2",
      "progress -1 @2",
      "progress -1 @4",
      "events 0 @5 PUT a=3@5",
    ]);
  });

  test("periodic progress_notify reaches idle watchers that asked for it, with their own id", async () => {
    const { src, stream, out } = setup({ progressNotifyIntervalMs: 100 });
    stream.create({ key: b("a"), progressNotify: true });
    stream.create({ key: b("a") });
    src.put("q", "1"); // 2
    await waitFor(() => out.some((r) => r.progress), 2000, "progress notify");
    const p = out.find((r) => r.progress)!;
    assert.equal(p.watchId, 0);
    assert.equal(p.revision, 2);
    assert.deepEqual(p.events, []);
    stream.close();
  });

  test("close cancels every watcher and completes the responses", async () => {
    const { src, store, stream } = setup();
    let completed = false;
    stream.responses$.subscribe({ complete: () => (completed = true) });
    stream.create({ key: b("a") });
    stream.create({ key: b("b"), startRevision: 1 });
    stream.close();
    src.put("a", "1");
    assert.equal(completed, true);
    assert.deepEqual(store.stats(), { synced: 0, unsynced: 0, revision: 2 });
  });
});

describe("watch stream fragments", () => {
  test("with fragment, a response over the size limit is split; all parts but the last say fragment", async () => {
    const src = new MemoryWatchSource();
    const store = new WatchableStore(src);
    const stream = new WatchStream(store, { maxResponseBytes: 300 });
    const out: WatchStreamResponse[] = [];
    stream.responses$.subscribe((r) => out.push(r));
    stream.create({ key: b("k"), rangeEnd: b("l"), fragment: true });
    stream.create({ key: b("k"), rangeEnd: b("l") });
    src.txn(Array.from({ length: 6 }, (_, i) => ({ put: { key: `k${i}`, value: "x".repeat(60) } })));
    await settle();
    const parts = out.filter((r) => r.watchId === 0 && r.events.length > 0);
    const whole = out.filter((r) => r.watchId === 1 && r.events.length > 0);
    assert.equal(whole.length, 1);
    assert.equal(whole[0].fragment, false);
    assert.ok(parts.length > 1, "split into several responses");
    assert.deepEqual(
      parts.map((r) => r.fragment),
      [...parts.slice(1).map(() => true), false],
    );
    assert.deepEqual(
      parts.flatMap((r) => r.events),
      whole[0].events,
    );
    for (const r of parts) assert.equal(r.revision, 2);
    stream.close();
  });

  test("fragments() keeps every part under the limit unless it holds a single event", () => {
    const ev = (n: number) => ({
      type: 0,
      kv: {
        key: Buffer.from(`k${n}`),
        value: Buffer.alloc(n * 10),
        createRevision: 2,
        modRevision: 2,
        version: 1,
        lease: 0n,
      },
      prevKv: undefined,
    });
    const events = [1, 50, 2, 3, 40, 1].map(ev);
    const parts = fragments(events, 200);
    assert.deepEqual(parts.flat(), events);
    for (const p of parts) {
      const size = p.reduce((a, e) => a + Event.encode(e).finish().length + 2, 64);
      assert.ok(p.length === 1 || size < 200, `part of ${p.length} events is ${size} bytes`);
    }
    assert.deepEqual(fragments(events, 1_000_000), [events]);
  });
});
