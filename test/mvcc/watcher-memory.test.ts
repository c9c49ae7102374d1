// What one watcher costs the member's heap: a client may hold 10,000 of them per connection
// (--max-watchers-per-connection), so a watcher must stay a small record (etcd's costs ~1.5 KB of
// RSS in all). Measured on the watch stream and the watchable store together, after full collections.
import assert from "node:assert/strict";
import { test } from "node:test";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { WatchStream } from "../../src/mvcc/watch-stream.js";
import { WatchableStore } from "../../src/mvcc/watchable-store.js";
import { MemoryWatchSource } from "./watch-source-memory.js";

v8.setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterCollection(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test("a watcher costs less than 1 KiB of heap on its stream and store", async () => {
  const n = 20_000;
  const store = new WatchableStore(new MemoryWatchSource());
  const stream = new WatchStream(store, { admission: { take: () => true, release: () => {}, refusal: "" } });
  let created = 0;
  stream.responses$.subscribe((r) => {
    if (r.created) created++;
  });
  const before = heapAfterCollection();
  for (let i = 0; i < n; i++) {
    stream.request({
      createRequest: {
        key: Buffer.from(`w/${i}`),
        rangeEnd: Buffer.alloc(0),
        startRevision: 0,
        progressNotify: i % 2 === 0,
        filters: [],
        prevKv: i % 3 === 0,
        watchId: 0,
        fragment: false,
      },
    });
  }
  await new Promise((r) => setTimeout(r, 50));
  const perWatcher = (heapAfterCollection() - before) / n;
  assert.equal(created, n);
  assert.equal(store.stats().synced, n);
  console.log(`${n} watchers: ${perWatcher.toFixed(0)} bytes of heap per watcher`);
  assert.ok(perWatcher < 1024, `a watcher costs ${perWatcher.toFixed(0)} bytes`);
  stream.close();
  assert.equal(store.stats().synced, 0);
});
