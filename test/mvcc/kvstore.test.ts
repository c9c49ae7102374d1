import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Event, Event_EventType } from "../../src/gen/mvccpb/kv.js";
import { CompactedError, FutureRevError } from "../../src/mvcc/errors.js";
import { b, openTempStore } from "./helpers.js";

describe("KVStore revisions and hooks", () => {
  it("starts at revision 1 and bumps once per changing write", async () => {
    const t = openTempStore();
    try {
      const s = t.store;
      assert.equal(s.currentRev(), 1);
      assert.equal(s.compactRev(), -1, "never compacted");
      const seen: Array<[number, Event[]]> = [];
      const off = s.onCommit((events, rev) => seen.push([rev, events]));
      s.write(1, (tx) => {
        tx.put(b("a"), b("1"), 0n);
        tx.put(b("b"), b("2"), 0n);
      });
      assert.equal(s.currentRev(), 2);
      // Deleting nothing changes nothing.
      s.write(2, (tx) => tx.deleteRange(b("zz"), undefined));
      assert.equal(s.currentRev(), 2);
      s.write(3, (tx) => tx.put(b("a"), b("3"), 0n));
      s.write(4, (tx) => tx.deleteRange(b("a"), b("c")));
      assert.equal(s.currentRev(), 4);
      assert.deepEqual(
        seen.map(([rev, evs]) => [
          rev,
          evs.map((e) => [e.type, e.kv?.key.toString(), e.kv?.modRevision, e.kv?.version]),
        ]),
        [
          [
            2,
            [
              [Event_EventType.PUT, "a", 2, 1],
              [Event_EventType.PUT, "b", 2, 1],
            ],
          ],
          [3, [[Event_EventType.PUT, "a", 3, 2]]],
          [
            4,
            [
              [Event_EventType.DELETE, "a", 4, 0],
              [Event_EventType.DELETE, "b", 4, 0],
            ],
          ],
        ],
      );
      off();
      s.write(5, (tx) => tx.put(b("c"), b("x"), 0n));
      assert.equal(seen.length, 3);
      assert.equal(s.consistentIndex(), 5);
    } finally {
      await t.cleanup();
    }
  });

  it("reads history at a revision and lists events between revisions", async () => {
    const t = openTempStore();
    try {
      const s = t.store;
      s.write(1, (tx) => tx.put(b("k"), b("v1"), 0n)); // 2
      s.write(2, (tx) => tx.put(b("k"), b("v2"), 0n)); // 3
      s.write(3, (tx) => tx.deleteRange(b("k"), undefined)); // 4
      s.write(4, (tx) => tx.put(b("k"), b("v3"), 0n)); // 5
      assert.equal(s.get(b("k"), 1), undefined);
      assert.equal(s.get(b("k"), 2)?.value.toString(), "v1");
      assert.equal(s.get(b("k"), 3)?.version, 2);
      assert.equal(s.get(b("k"), 4), undefined);
      assert.deepEqual([s.get(b("k"), 5)?.createRevision, s.get(b("k"), 5)?.version], [5, 1]);
      const evs = s.eventsBetween(b("k"), undefined, 3, 5);
      assert.deepEqual(
        evs.map((e) => [e.type, e.kv?.modRevision]),
        [
          [Event_EventType.PUT, 3],
          [Event_EventType.DELETE, 4],
          [Event_EventType.PUT, 5],
        ],
      );
      assert.equal(s.eventsBetween(b("a"), b("\0"), 1, 10, 2).length, 2);
      assert.equal(s.eventsBetween(b("l"), b("\0"), 1, 10).length, 0);
    } finally {
      await t.cleanup();
    }
  });

  it("compacts: errors, events, index and physical removal", async () => {
    const t = openTempStore({ compactionBatchLimit: 2 });
    try {
      const s = t.store;
      const compactions: number[] = [];
      s.onCompact((rev) => compactions.push(rev));
      for (let i = 0; i < 6; i++) s.write(i + 1, (tx) => tx.put(b("k"), b(`v${i}`), 0n)); // revs 2..7
      s.write(7, (tx) => tx.put(b("gone"), b("x"), 0n)); // 8
      s.write(8, (tx) => tx.deleteRange(b("gone"), undefined)); // 9
      assert.throws(() => s.compact(10, 9), FutureRevError);
      const r = s.compact(9, 9);
      assert.ok(r);
      await r.done;
      assert.deepEqual(compactions, [9]);
      assert.equal(s.compactRev(), 9);
      assert.throws(() => s.compact(9, 10), CompactedError);
      assert.throws(() => s.range(b("k"), undefined, { rev: 8 }), CompactedError);
      assert.equal(s.range(b("k"), undefined, { rev: 9 }).kvs[0].value.toString(), "v5");
      assert.throws(() => s.eventsBetween(b("k"), undefined, 8, 9), CompactedError);
      // Only the latest revision of "k" stays on disk; the tombstoned key is gone entirely.
      const records = [...s.backend.history.getKeys({})].length;
      assert.equal(records, 1);
      assert.equal(s.keyIndex.size, 1);
      // Replaying an applied compaction is skipped.
      assert.equal(s.compact(9, 9), undefined);
    } finally {
      await t.cleanup();
    }
  });

  it("is never compacted (-1) until the first compaction, so a compaction at 0 is accepted once, as in etcd", async () => {
    const t = openTempStore();
    try {
      let s = t.store;
      s.write(1, (tx) => tx.put(b("k"), b("v"), 0n)); // rev 2
      assert.equal(s.compactRev(), -1);
      assert.equal(s.hashKV(0).compactRevision, -1);
      assert.throws(() => s.compact(-1, 2), CompactedError);
      s = await t.reopen();
      assert.equal(s.compactRev(), -1, "no compaction mark after a reopen");
      await s.compact(0, 3)?.done;
      assert.equal(s.compactRev(), 0);
      assert.equal(s.hashKV(0).compactRevision, 0);
      assert.throws(() => s.compact(0, 4), CompactedError);
      // a revision at or below 0 still means the newest one (only a txn's ranges check it against 0)
      assert.equal(s.range(b("k"), undefined, { rev: -1 }).count, 1);
      s = await t.reopen();
      assert.equal(s.compactRev(), 0, "the compaction at 0 survives a reopen");
      assert.equal(s.range(b("k"), undefined).count, 1);
    } finally {
      await t.cleanup();
    }
  });

  it("hashes nothing but the bucket name at a negative revision, as etcd's HashByRev", async () => {
    const t = openTempStore();
    try {
      const s = t.store;
      const empty = s.hashKV(0);
      s.write(1, (tx) => tx.put(b("k"), b("v"), 0n));
      s.write(2, (tx) => tx.put(b("k"), b("w"), 0n));
      assert.notEqual(s.hashKV(0).hash, empty.hash);
      for (const rev of [-1, -2, -100]) {
        assert.deepEqual(s.hashKV(rev), { hash: empty.hash, compactRevision: -1, currentRevision: 3 });
      }
      await s.compact(2, 3)?.done;
      assert.equal(s.hashKV(-5).hash, empty.hash);
    } finally {
      await t.cleanup();
    }
  });

  it("reads no old lease for a replaced or deleted key while no listener wants detaches", async () => {
    const t = openTempStore();
    try {
      const s = t.store;
      const changes: string[] = [];
      let wanted = false;
      s.onLeaseChange(
        (cs) => {
          for (const c of cs) changes.push(`${c.kind} ${c.lease} ${c.key.toString()}`);
        },
        () => wanted,
      );
      s.write(1, (tx) => {
        tx.put(b("a"), b("1"), 3n);
        tx.put(b("b"), b("2"), 4n);
      });
      // the old records are not read: a lost record would otherwise fail the store
      const history = s.backend.applied.history;
      const read = history.get.bind(history);
      let reads = 0;
      history.get = (key: Buffer) => {
        reads++;
        return read(key);
      };
      s.write(2, (tx) => tx.put(b("a"), b("9"), 0n));
      s.write(3, (tx) => tx.deleteRange(b("b"), undefined));
      assert.equal(reads, 0);
      assert.deepEqual(changes, ["attach 3 a", "attach 4 b"]);
      // once detaches are wanted they are reported again, from the old records
      wanted = true;
      s.write(4, (tx) => tx.put(b("c"), b("1"), 5n));
      s.write(5, (tx) => tx.put(b("c"), b("2"), 0n));
      assert.equal(reads, 1);
      assert.deepEqual(changes.slice(2), ["attach 5 c", "detach 5 c"]);
    } finally {
      await t.cleanup();
    }
  });

  it("reports lease attachments after commit and lists leased keys for the lessor", async () => {
    const t = openTempStore();
    try {
      const s = t.store;
      const changes: string[] = [];
      s.onLeaseChange((cs) => {
        for (const c of cs) changes.push(`${c.kind} ${c.lease} ${c.key.toString()}`);
      });
      s.write(1, (tx) => {
        tx.put(b("a"), b("1"), 3n);
        tx.put(b("b"), b("2"), 4n);
        tx.put(b("c"), b("3"), 0n);
      });
      s.write(2, (tx) => tx.put(b("a"), b("1"), 0n));
      s.write(3, (tx) => tx.deleteRange(b("b"), undefined));
      s.write(4, (tx) => tx.put(b("c"), b("3"), 5n));
      assert.deepEqual(changes, ["attach 3 a", "attach 4 b", "detach 3 a", "detach 4 b", "attach 5 c"]);
      const leased = [...s.leasedKeys()].map((x) => `${x.lease} ${x.key.toString()}`);
      assert.deepEqual(leased, ["5 c"]);
      // An aborted write reports nothing.
      assert.throws(() =>
        s.write(5, (tx) => {
          tx.put(b("d"), b("4"), 6n);
          throw new Error("abort");
        }),
      );
      assert.equal(changes.length, 5);
      assert.equal(s.range(b("d"), undefined).count, 0);
      assert.equal(s.currentRev(), 5);
    } finally {
      await t.cleanup();
    }
  });

  it("a batch writes the revision and consistent index once, with the values its writes leave, and they survive a reopen", async () => {
    const t = openTempStore();
    try {
      let s = t.store;
      s.write(1, (tx) => tx.put(b("a"), b("0"), 0n));
      const backend = s.backend;
      const putMetaNumber = backend.putMetaNumber.bind(backend);
      const metaWrites: Array<[string, number]> = [];
      backend.putMetaNumber = (key, value) => {
        metaWrites.push([key, value]);
        putMetaNumber(key, value);
      };
      s.batch(() => {
        for (let i = 2; i <= 30; i++) s.write(i, (tx) => tx.put(b(`k${i}`), b("v"), 0n));
        // an entry that changes nothing, in the middle of the batch
        s.write(31, (tx) => tx.deleteRange(b("none"), undefined));
        s.write(32, (tx) => tx.put(b("k31"), b("v"), 0n));
      });
      backend.putMetaNumber = putMetaNumber;
      assert.deepEqual(metaWrites.sort(), [
        ["consistent_index", 32],
        ["currentRev", 32],
      ]);
      assert.equal(s.currentRev(), 32);
      s = await t.reopen();
      assert.equal(s.currentRev(), 32);
      assert.equal(s.consistentIndex(), 32);
      assert.equal(s.range(b("k31"), undefined).kvs[0].modRevision, 32);
    } finally {
      await t.cleanup();
    }
  });

  it("reopens with the same revision, data, compaction and consistent index", async () => {
    const t = openTempStore();
    try {
      let s = t.store;
      s.write(10, (tx) => tx.put(b("a"), b("1"), 5n));
      s.write(11, (tx) => tx.put(b("b"), b("2"), 0n));
      s.write(12, (tx) => tx.deleteRange(b("b"), undefined));
      await s.compact(3, 13)?.done;
      const hash = s.hashKV(0);
      s = await t.reopen();
      assert.equal(s.currentRev(), 4);
      assert.equal(s.compactRev(), 3);
      assert.equal(s.consistentIndex(), 13);
      assert.deepEqual(s.hashKV(0), hash);
      assert.equal(s.range(b("a"), undefined).kvs[0].lease, 5n);
      // Entries at or below the consistent index are not applied again.
      let ran = false;
      assert.equal(
        s.write(11, () => {
          ran = true;
        }),
        undefined,
      );
      assert.equal(ran, false);
      assert.equal(s.currentRev(), 4);
    } finally {
      await t.cleanup();
    }
  });
});
