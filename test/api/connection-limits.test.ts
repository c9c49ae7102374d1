// The per-connection bounds: places for watchers shared by every watch stream of a connection and given
// back as watchers leave (cancel, compaction notice then cancel, stream end); keep-alive stream slots.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnectionBudgets, connectionName } from "../../src/api/connection-limits.js";
import { WatchStream, type WatchStreamResponse } from "../../src/mvcc/watch-stream.js";
import { WatchableStore } from "../../src/mvcc/watchable-store.js";
import { MemoryWatchSource, settle } from "../mvcc/watch-source-memory.js";

const b = (s: string) => Buffer.from(s);

function streamOn(store: WatchableStore, budgets: ConnectionBudgets, connection: string) {
  const stream = new WatchStream(store, { admission: budgets.watchers(connection) });
  const out: WatchStreamResponse[] = [];
  stream.responses$.subscribe((r) => out.push(r));
  return { stream, out };
}

describe("connection budgets", () => {
  test("watchers over every stream of a connection are bounded; other connections are not affected", () => {
    const store = new WatchableStore(new MemoryWatchSource());
    const budgets = new ConnectionBudgets({
      maxWatchersPerConnection: 3,
      maxKeepAliveStreamsPerConnection: 1,
    });
    const a = streamOn(store, budgets, "10.0.0.1:1000");
    const a2 = streamOn(store, budgets, "10.0.0.1:1000");
    const other = streamOn(store, budgets, "10.0.0.1:1001");
    assert.equal(a.stream.create({ key: b("x") }), 0);
    assert.equal(a.stream.create({ key: b("y") }), 1);
    assert.equal(a2.stream.create({ key: b("z") }), 0);
    // the fourth is refused, created and canceled with etcd's text, and uses up no id
    assert.equal(a.stream.create({ key: b("w") }), -1);
    assert.equal(a2.stream.create({ key: b("w"), watchId: 7 }), -1);
    const refused = a.out.at(-1);
    assert.equal(refused?.created, true);
    assert.equal(refused?.canceled, true);
    assert.equal(refused?.cancelReason, "etcdserver: too many requests");
    assert.equal(other.stream.create({ key: b("x") }), 0);
    assert.deepEqual(budgets.holdings("10.0.0.1:1000"), { watchers: 3, keepAliveStreams: 0 });
    // a cancel gives a place back; the next server-chosen id follows the last one given
    assert.equal(a.stream.cancel(0), true);
    assert.equal(a.stream.create({ key: b("w") }), 2);
    // closing streams gives back all their places; the entry goes once nothing is held
    a.stream.close();
    a2.stream.close();
    other.stream.close();
    assert.equal(budgets.connections, 0);
  });

  test("a watcher ended by compaction keeps its place until the client cancels it", async () => {
    const src = new MemoryWatchSource();
    const store = new WatchableStore(src);
    const budgets = new ConnectionBudgets({
      maxWatchersPerConnection: 1,
      maxKeepAliveStreamsPerConnection: 1,
    });
    const a = streamOn(store, budgets, "c");
    src.put("k", "1");
    src.put("k", "2");
    src.compact(3);
    assert.equal(a.stream.create({ key: b("k"), startRevision: 2 }), 0);
    await settle();
    assert.ok(
      a.out.some((r) => r.watchId === 0 && r.compactRevision > 0),
      "compaction notice",
    );
    assert.equal(a.stream.create({ key: b("j") }), -1);
    a.stream.cancel(0);
    assert.equal(a.stream.create({ key: b("j") }), 1);
    a.stream.close();
    assert.equal(budgets.connections, 0);
  });

  test("refused ranges and duplicate ids take no place", () => {
    const store = new WatchableStore(new MemoryWatchSource());
    const budgets = new ConnectionBudgets({
      maxWatchersPerConnection: 1,
      maxKeepAliveStreamsPerConnection: 1,
    });
    const a = streamOn(store, budgets, "c");
    assert.equal(a.stream.create({ key: b("b"), rangeEnd: b("a") }), -1);
    assert.equal(a.stream.create({ key: b("a"), watchId: 5 }), 5);
    assert.equal(a.stream.create({ key: b("a"), watchId: 5 }), -1);
    assert.deepEqual(budgets.holdings("c"), { watchers: 1, keepAliveStreams: 0 });
    a.stream.close();
  });

  test("keep-alive streams per connection: refused past the bound, a closed one frees its slot once", () => {
    const budgets = new ConnectionBudgets({
      maxWatchersPerConnection: 1,
      maxKeepAliveStreamsPerConnection: 2,
    });
    const first = budgets.openKeepAlive("c");
    const second = budgets.openKeepAlive("c");
    assert.ok(first && second);
    assert.equal(budgets.openKeepAlive("c"), undefined);
    assert.ok(budgets.openKeepAlive("d"), "another connection has its own slots");
    first();
    first();
    assert.deepEqual(budgets.holdings("c"), { watchers: 0, keepAliveStreams: 1 });
    const third = budgets.openKeepAlive("c");
    assert.ok(third);
    assert.equal(budgets.openKeepAlive("c"), undefined);
  });

  test("bounds must be whole numbers; a connection is named as grpc-js names a call's peer", () => {
    assert.throws(
      () => new ConnectionBudgets({ maxWatchersPerConnection: -1, maxKeepAliveStreamsPerConnection: 1 }),
      /maxWatchersPerConnection must be a whole number/,
    );
    assert.equal(connectionName({ remoteAddress: "127.0.0.1", remotePort: 4242 }), "127.0.0.1:4242");
    assert.equal(connectionName({ remoteAddress: "::1", remotePort: 4242 }), "::1:4242");
    assert.equal(connectionName({}), "unknown");
  });
});
