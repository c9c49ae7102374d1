// The backend as etcd's bbolt file and back: export from one consistent view, import into a fresh backend
// that reads the same at every revision, with the same hash, compaction, consistent index and records.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BboltReader, writeBboltFile } from "../../src/bbolt/index.js";
import { exportBbolt, importBbolt } from "../../src/mvcc/index.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { b, openTempStore, tempDir } from "./helpers.js";

async function exportToFile(store: KVStore, file: string): Promise<number> {
  const exp = exportBbolt(store, { chunkSize: 10_000 });
  const size = await exp.size();
  const chunks: Buffer[] = [];
  for await (const c of exp) {
    assert.equal(c.length % 4096, 0, "chunks of whole pages");
    chunks.push(c);
  }
  const bytes = Buffer.concat(chunks);
  assert.equal(bytes.length, size, "the announced size is what the iteration yields");
  writeFileSync(file, bytes);
  return size;
}

/** Every key-value at every readable revision. */
function allReads(store: KVStore): string[] {
  const out: string[] = [];
  for (let rev = Math.max(1, store.compactRev()); rev <= store.currentRev(); rev++) {
    const r = store.range(b("\0"), b("\0"), { rev });
    out.push(
      `${rev}: ${r.kvs.map((kv) => `${kv.key}=${kv.value}@${kv.createRevision}/${kv.modRevision}/${kv.version}/${kv.lease}`).join(" ")}`,
    );
  }
  return out;
}

type Op =
  | { kind: "put"; key: number; value: number; lease: number }
  | { kind: "delete"; key: number }
  | { kind: "txn"; keys: number[] }
  | { kind: "compact"; back: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      key: fc.nat(12),
      value: fc.nat(5000),
      lease: fc.nat(3),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: fc.nat(12) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("txn" as const),
      keys: fc.array(fc.nat(12), { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), back: fc.nat(6) }) },
);

const key = (n: number) => b(`k${String(n).padStart(2, "0")}`);
// mostly small values, sometimes over a page
const value = (n: number) => Buffer.alloc(n % 7 === 0 ? n : n % 40, `v${n}`);

describe("bbolt export and import", () => {
  test("random histories survive export then import: reads at every revision, hash, compaction, records", async () => {
    const seed = process.env.BBOLT_SEED !== undefined ? Number(process.env.BBOLT_SEED) : Date.now() % 2 ** 31;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
          const t = openTempStore({ durability: "nosync" });
          try {
            const { store } = t;
            let index = 0;
            for (const op of ops) {
              index++;
              if (op.kind === "put")
                store.write(index, (tx) => tx.put(key(op.key), value(op.value), BigInt(op.lease)));
              else if (op.kind === "delete")
                store.write(index, (tx) => tx.deleteRange(key(op.key), undefined));
              else if (op.kind === "txn") {
                store.write(index, (tx) => {
                  for (const k of op.keys) tx.put(key(k), value(k), 0n);
                  tx.deleteRange(key(op.keys[0] + 1), undefined);
                });
              } else {
                const rev = store.currentRev() - op.back;
                // a first compaction may be at 0 (etcd accepts it once and keeps its marks)
                if (rev > store.compactRev() && rev >= 0) await store.compact(rev, index)?.done;
              }
            }
            index++;
            store.writeRecords(index, [
              ["lease", b("\0\0\0\0\0\0\0\x01"), b("\x08\x01\x10\x05")],
              ["members", b("8e9e05c52164694d"), b("{}")],
              ["cluster", b("clusterVersion"), b("3.4.0")],
            ]);
            const file = path.join(t.dir, "export.db");
            await exportToFile(store, file);
            const imported = path.join(t.dir, "imported", "db");
            const result = await importBbolt(file, imported);
            assert.equal(result.consistentIndex, store.consistentIndex());
            assert.equal(result.revision, store.currentRev());
            const back = KVStore.open(imported);
            try {
              assert.equal(back.currentRev(), store.currentRev());
              assert.equal(back.compactRev(), store.compactRev());
              assert.equal(back.consistentIndex(), store.consistentIndex());
              assert.deepEqual(back.hashKV(0), store.hashKV(0));
              assert.deepEqual(allReads(back), allReads(store));
              for (const bucket of ["lease", "members", "cluster", "alarm"] as const) {
                assert.deepEqual(back.records(bucket), store.records(bucket), bucket);
              }
            } finally {
              await back.close();
            }
          } finally {
            await t.cleanup();
          }
        }),
        { seed, numRuns: Number(process.env.BBOLT_RUNS ?? 40) },
      );
    } catch (err) {
      console.log(`replay: BBOLT_SEED=${seed} node --import tsx --test test/mvcc/bbolt.test.ts`);
      throw err;
    }
  });

  test("the file has etcd's ten buckets, its meta keys and auth's initial values", async () => {
    const t = openTempStore();
    try {
      t.store.write(7, (tx) => tx.put(b("a"), b("1"), 0n));
      t.store.write(8, (tx) => tx.put(b("a"), b("2"), 0n));
      await t.store.compact(3, 9)?.done;
      const file = path.join(t.dir, "etcd.db");
      await exportToFile(t.store, file);
      const reader = BboltReader.open(file);
      try {
        assert.deepEqual(reader.bucketNames().map(String), [
          "alarm",
          "auth",
          "authRoles",
          "authUsers",
          "cluster",
          "key",
          "lease",
          "members",
          "members_removed",
          "meta",
        ]);
        const hex = (name: string) =>
          [...reader.entries([name])].map((e) => [e.key.toString(), e.value.toString("hex")]);
        assert.deepEqual(hex("meta"), [
          ["consistent_index", "0000000000000009"],
          ["finishedCompactRev", "00000000000000035f0000000000000000"],
          ["scheduledCompactRev", "00000000000000035f0000000000000000"],
        ]);
        assert.deepEqual(hex("auth"), [
          ["authEnabled", "00"],
          ["authRevision", "0000000000000001"],
        ]);
        assert.equal([...reader.entries(["key"])].length, 1, "compaction kept the newest revision of a");
      } finally {
        reader.close();
      }
    } finally {
      await t.cleanup();
    }
  });

  test("record keys longer than LMDB's go to the file whole and in byte order, and come back from it", async () => {
    const t = openTempStore();
    try {
      // etcd keys a user record by its name, and a bbolt key holds up to 32,768 bytes
      const names = [
        b("alice"),
        Buffer.alloc(2000, 0x61),
        Buffer.concat([Buffer.alloc(2000, 0x61), b("b")]),
        Buffer.alloc(32_768, 0x62),
        b("zed"),
        Buffer.from([0xff, 0x01]),
      ];
      t.store.writeRecords(
        3,
        names.map((n, i) => ["authUsers", n, b(`user${i}`)]),
      );
      const file = path.join(t.dir, "etcd.db");
      await exportToFile(t.store, file);
      const expect = [...names]
        .sort(Buffer.compare)
        .map((n) => [n.toString("hex"), `user${names.indexOf(n)}`]);
      const reader = BboltReader.open(file);
      try {
        const got = [...reader.entries(["authUsers"])].map((e) => [
          e.key.toString("hex"),
          e.value.toString(),
        ]);
        assert.deepEqual(got, expect);
      } finally {
        reader.close();
      }
      const target = path.join(t.dir, "imported", "db");
      await importBbolt(file, target);
      const imported = KVStore.open(target);
      try {
        assert.deepEqual(
          imported.records("authUsers").map(([k, v]) => [k.toString("hex"), v.toString()]),
          expect,
        );
      } finally {
        await imported.close();
      }
    } finally {
      await t.cleanup();
    }
  });

  test("a compaction at 0 leaves etcd's marks at 0 in the file and comes back from it", async () => {
    const t = openTempStore();
    try {
      t.store.write(1, (tx) => tx.put(b("a"), b("1"), 0n));
      await t.store.compact(0, 2)?.done;
      const file = path.join(t.dir, "etcd.db");
      await exportToFile(t.store, file);
      const reader = BboltReader.open(file);
      try {
        assert.deepEqual(
          [...reader.entries(["meta"])].map((e) => [e.key.toString(), e.value.toString("hex")]),
          [
            ["consistent_index", "0000000000000002"],
            ["finishedCompactRev", "00000000000000005f0000000000000000"],
            ["scheduledCompactRev", "00000000000000005f0000000000000000"],
          ],
        );
      } finally {
        reader.close();
      }
      const imported = path.join(t.dir, "imported", "db");
      await importBbolt(file, imported);
      const back = KVStore.open(imported);
      try {
        assert.equal(back.compactRev(), 0);
      } finally {
        await back.close();
      }
    } finally {
      await t.cleanup();
    }
  });

  test("an export reads the state as it was when it started", async () => {
    const t = openTempStore();
    try {
      t.store.write(1, (tx) => tx.put(b("before"), b("1"), 0n));
      const exp = exportBbolt(t.store);
      t.store.write(2, (tx) => tx.put(b("after"), b("2"), 0n));
      t.store.writeRecords(3, [["lease", b("\0\0\0\0\0\0\0\x07"), b("\x08\x07")]]);
      assert.equal(exp.consistentIndex, 1);
      const chunks: Buffer[] = [];
      for await (const c of exp) chunks.push(c);
      const file = path.join(t.dir, "view.db");
      writeFileSync(file, Buffer.concat(chunks));
      const reader = BboltReader.open(file);
      try {
        assert.equal([...reader.entries(["key"])].length, 1);
        assert.equal([...reader.entries(["lease"])].length, 0);
      } finally {
        reader.close();
      }
      await assert.rejects(async () => {
        for await (const _ of exp) break;
      }, /a bbolt export can be read once/);
    } finally {
      await t.cleanup();
    }
  });

  test("defragmentation waits for an export in progress; closing the backend ends it with a clear error", async () => {
    const t = openTempStore();
    try {
      t.store.batch(() => {
        for (let i = 0; i < 3000; i++)
          t.store.write(i + 1, (tx) => tx.put(b(`k${i}`), Buffer.alloc(200, i), 0n));
      });
      const exp = exportBbolt(t.store, { chunkSize: 4096 });
      const it = exp[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.done, false);
      let defragged = false;
      const defrag = t.store.backend.defragment().then(() => {
        defragged = true;
      });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(defragged, false, "defragmentation waits for the export");
      let rest = 0;
      for (let r = await it.next(); !r.done; r = await it.next()) rest += r.value.length;
      assert.equal(first.value.length + rest, await exp.size());
      await defrag;
      assert.equal(defragged, true);

      const exp2 = exportBbolt(t.store, { chunkSize: 4096 });
      const it2 = exp2[Symbol.asyncIterator]();
      await it2.next();
      await t.store.close();
      await assert.rejects(async () => {
        for (let r = await it2.next(); !r.done; r = await it2.next());
      }, /the backend was closed during the export/);
    } finally {
      await t.cleanup();
    }
  });

  test("import refuses a file that is not an etcd backend, and leaves the target as it was", async () => {
    const dir = tempDir();
    const target = path.join(dir, "db");
    writeFileSync(target, "previous");
    const noKey = path.join(dir, "nokey.db");
    writeBboltFile(noKey, [{ name: "other", entries: () => [] }]);
    await assert.rejects(
      importBbolt(noKey, target),
      /bbolt file .*nokey\.db: not an etcd backend: it has no key bucket/,
    );
    const badKey = path.join(dir, "badkey.db");
    writeBboltFile(badKey, [{ name: "key", entries: () => [[b("not-a-revision"), b("x")]] }]);
    await assert.rejects(importBbolt(badKey, target), /key bucket entry 1 is not a revision/);
    const damaged = path.join(dir, "damaged.db");
    writeFileSync(damaged, Buffer.alloc(8192, 1));
    await assert.rejects(importBbolt(damaged, target), /bbolt file .*damaged\.db: no valid meta page/);
    assert.equal(readFileSync(target, "utf8"), "previous");
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".import-")),
      [],
      "no leftovers of the failed imports",
    );
    assert.ok(existsSync(target));
  });
});
