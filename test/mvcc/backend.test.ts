// Replay a failed codec property with the seed and path fast-check prints: BACKEND_CODEC_SEED=<seed>
// BACKEND_CODEC_SEED_PATH=<path>.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { KeyValue } from "../../src/gen/mvccpb/kv.js";
import { Backend, backendPath } from "../../src/mvcc/backend.js";
import { importBbolt } from "../../src/mvcc/bbolt-import.js";
import { crc32c } from "../../src/mvcc/hash.js";
import { keyString } from "../../src/mvcc/keyindex.js";
import { decodeKeyValue, encodeKeyValue, scanIndexFields } from "../../src/mvcc/kvcodec.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { replayParameters } from "../seeded-random.js";
import { b, openTempStore, tempDir } from "./helpers.js";

describe("mvcc backend", () => {
  it("computes CRC-32C (Castagnoli) as etcd's HashKV does", () => {
    assert.equal(crc32c(Buffer.from("123456789")), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
    const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff));
    // Byte-at-a-time reference over the same polynomial.
    let c = 0xffffffff;
    for (const byte of data) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    assert.equal(crc32c(data), (c ^ 0xffffffff) >>> 0);
  });

  it("decodes history records exactly like the generated KeyValue codec", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(2 ** 45), { minLength: 3, maxLength: 3 }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        (key, value, [createRevision, modRevision, version], lease) => {
          const kv = {
            key: Buffer.from(key),
            value: Buffer.from(value),
            createRevision,
            modRevision,
            version,
            lease,
          };
          const bytes = encodeKeyValue(kv);
          assert.deepEqual(
            bytes,
            Buffer.from(KeyValue.encode(kv).finish()),
            "same bytes as the generated codec",
          );
          assert.deepEqual(decodeKeyValue(bytes), KeyValue.decode(bytes));
          assert.deepEqual(decodeKeyValue(bytes), kv);
          const fields = scanIndexFields(bytes);
          assert.deepEqual(fields, { key: keyString(kv.key), createRevision, version });
        },
      ),
      { numRuns: 500, ...replayParameters("BACKEND_CODEC_SEED") },
    );
  });

  it("encodes each record on its own: after a refused one, and across large and small ones", () => {
    const kv = (size: number, lease = 0n) => ({
      key: Buffer.from("k"),
      value: Buffer.alloc(size, size & 0xff),
      createRevision: 2,
      modRevision: 3,
      version: 1,
      lease,
    });
    const sizes = [5, 100_000, 7, 70_000, 300, 0];
    for (const n of sizes)
      assert.deepEqual(encodeKeyValue(kv(n)), Buffer.from(KeyValue.encode(kv(n)).finish()));
    // a lease past int64 is refused by the encoder after the key and value were written
    assert.throws(() => encodeKeyValue(kv(50, 2n ** 63n)), /too large/);
    for (const n of sizes)
      assert.deepEqual(encodeKeyValue(kv(n)), Buffer.from(KeyValue.encode(kv(n)).finish()));
  });

  it("lives at <data-dir>/member/snap/db and refuses an unknown schema", async () => {
    const dir = tempDir();
    assert.equal(backendPath(dir), path.join(dir, "member", "snap", "db"));
    const backend = Backend.open(backendPath(dir));
    backend.write(() => backend.putMetaNumber("schemaVersion", 99));
    await backend.close();
    assert.throws(() => Backend.open(backendPath(dir)), /unsupported schema version 99/);
  });

  it("streams a consistent snapshot (etcd's bbolt file) that imports as the same store", async () => {
    const t = openTempStore();
    try {
      for (let i = 0; i < 200; i++)
        t.store.write(i + 1, (tx) => tx.put(b(`k${i % 50}`), Buffer.alloc(300, i), 0n));
      const { totalBytes, chunks } = await t.store.backend.snapshot(4096);
      // Writes after the snapshot was taken are not in it.
      t.store.write(201, (tx) => tx.put(b("late"), b("x"), 0n));
      const parts: Buffer[] = [];
      for await (const chunk of chunks) {
        assert.equal(chunk.length, 4096, "one page per chunk (no value is over a page)");
        parts.push(chunk);
      }
      const copy = Buffer.concat(parts);
      assert.equal(copy.length, totalBytes);
      const snapshotFile = path.join(t.dir, "snapshot.db");
      writeFileSync(snapshotFile, copy);
      const restoredFile = path.join(t.dir, "restored", "db");
      mkdirSync(path.dirname(restoredFile), { recursive: true });
      await importBbolt(snapshotFile, restoredFile);
      const restored = KVStore.open(restoredFile);
      try {
        assert.equal(restored.currentRev(), 201);
        assert.equal(restored.consistentIndex(), 200);
        assert.equal(restored.range(b("late"), undefined).count, 0);
        assert.equal(restored.hashKV(200).hash, t.store.hashKV(200).hash);
      } finally {
        await restored.close();
      }
    } finally {
      await t.cleanup();
    }
  });

  it("defragments: smaller file, same data, writes refused while it runs", async () => {
    const t = openTempStore({ compactionBatchLimit: 500 });
    try {
      const s = t.store;
      for (let i = 0; i < 40; i++) {
        s.batch(() => {
          for (let j = 0; j < 50; j++)
            s.write(i * 50 + j + 1, (tx) => tx.put(b(`k${j}`), Buffer.alloc(1000, j), 0n));
        });
      }
      // the history reaches the file first: staged with the compaction's removals, most of it never would
      await s.committed();
      await s.compact(s.currentRev(), 5000)?.done;
      const hash = s.hashKV(0);
      const before = s.backend.size();
      assert.ok(s.backend.sizeInUse() < before, "compaction left free pages");
      const running = s.backend.defragment();
      assert.throws(() => s.write(5001, (tx) => tx.put(b("x"), b("y"), 0n)), /defragmentation/);
      await running;
      assert.ok(s.backend.size() < before / 2, `file shrank: ${before} -> ${s.backend.size()}`);
      assert.deepEqual(s.hashKV(0), hash);
      assert.equal(s.range(b("k7"), undefined).kvs[0].value[0], 7);
      s.write(5002, (tx) => tx.put(b("after"), b("defrag"), 0n));
      const reopened = await t.reopen();
      assert.equal(reopened.range(b("after"), undefined).kvs[0].value.toString(), "defrag");
      assert.equal(reopened.consistentIndex(), 5002);
    } finally {
      await t.cleanup();
    }
  });

  it("gives the same HashKV to stores that applied the same log in different batches", async () => {
    const one = openTempStore({ compactionBatchLimit: 3 });
    const two = openTempStore({ compactionBatchLimit: 1000 });
    try {
      const apply = (s: KVStore, i: number) =>
        s.write(i, (tx) => {
          if (i % 5 === 0) tx.deleteRange(b(`k${i % 7}`), b(`k${(i % 7) + 2}`));
          else tx.put(b(`k${i % 9}`), b(`v${i}`), BigInt(i % 3));
        });
      for (let i = 1; i <= 120; i++) apply(one.store, i);
      for (let i = 1; i <= 120; i += 10) {
        two.store.batch(() => {
          for (let j = i; j < i + 10; j++) apply(two.store, j);
        });
      }
      assert.deepEqual(one.store.hashKV(0), two.store.hashKV(0));
      assert.deepEqual(one.store.hashKV(50), two.store.hashKV(50));
      const c1 = one.store.compact(60, 121);
      two.store.compact(60, 121);
      // One store has removed compacted history, the other not yet: same hash.
      await c1?.done;
      assert.deepEqual(one.store.hashKV(0), two.store.hashKV(0));
      assert.notDeepEqual(one.store.hashKV(0).hash, one.store.hashKV(100).hash);
    } finally {
      await one.cleanup();
      await two.cleanup();
    }
  });
});
