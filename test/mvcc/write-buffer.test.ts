// The backend's staged writes: reads through the applied tables and read views see exactly what was
// written, whether or not its commit has landed, and the LMDB file catches up once it has.

import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Event_EventType } from "../../src/gen/mvccpb/kv.js";
import { ABORT_WRITE, Backend } from "../../src/mvcc/backend.js";
import { exportBbolt } from "../../src/mvcc/bbolt-export.js";
import { importBbolt } from "../../src/mvcc/bbolt-import.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { revKey } from "../../src/mvcc/revision.js";
import { MAX_KEY_BYTES } from "../../src/mvcc/write-buffer.js";
import { b, openTempStore, tempDir } from "./helpers.js";

type Step =
  | { kind: "batch"; changes: Array<[number, number | undefined]>; abort: boolean }
  | { kind: "commit" }
  | { kind: "read"; from: number; to: number; limit: number }
  | { kind: "view" };

const KEYS = 12;
const keyOf = (n: number) => Buffer.from([n >> 8, n & 0xff, 0x6b]);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("batch" as const),
      changes: fc.array(fc.tuple(fc.nat(KEYS - 1), fc.option(fc.nat(255), { nil: undefined })), {
        minLength: 1,
        maxLength: 6,
      }),
      abort: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "commit" as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("read" as const),
      from: fc.nat(KEYS),
      to: fc.nat(KEYS),
      limit: fc.nat(4),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "view" as const }) },
);

function sortedModel(model: Map<number, number>, from = 0, to = KEYS): Array<[number, number]> {
  return [...model].filter(([k]) => k >= from && k < to).sort(([x], [y]) => x - y);
}

describe("backend staged writes", () => {
  it("reads (point, range, limit, views) match a model whatever has committed (property)", async () => {
    const seed = process.env.MVCC_SEED !== undefined ? Number(process.env.MVCC_SEED) : Date.now() % 2 ** 31;
    const dir = tempDir();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(stepArb, { minLength: 1, maxLength: 40 }),
          fc.record({ intervalMs: fc.constantFrom(0, 100), limit: fc.integer({ min: 1, max: 8 }) }),
          async (steps, commit) => {
            const backend = Backend.open(path.join(dir, `db${run++}`), { durability: "nosync", commit });
            const table = () => backend.applied.records("lease").table;
            const model = new Map<number, number>();
            const views: Array<{
              view: ReturnType<Backend["openReadView"]>;
              expect: Array<[number, number]>;
            }> = [];
            try {
              for (const step of steps) {
                if (step.kind === "batch") {
                  const next = new Map(model);
                  backend.stage(() => {
                    for (const [k, v] of step.changes) {
                      if (v === undefined) {
                        table().remove(keyOf(k));
                        next.delete(k);
                      } else {
                        table().put(keyOf(k), Buffer.from([v]));
                        next.set(k, v);
                      }
                    }
                    // reads inside the write see its changes
                    for (const [k] of step.changes) assert.equal(table().get(keyOf(k))?.[0], next.get(k));
                    return step.abort ? ABORT_WRITE : undefined;
                  });
                  if (!step.abort) {
                    model.clear();
                    for (const [k, v] of next) model.set(k, v);
                  }
                } else if (step.kind === "commit") {
                  await backend.whenCommitted();
                  assert.equal(backend.hasPendingWrites(), false);
                  for (let k = 0; k < KEYS; k++)
                    assert.equal(backend.records("lease").getBinary(keyOf(k))?.[0], model.get(k));
                } else if (step.kind === "read") {
                  for (let k = 0; k < KEYS; k++)
                    assert.equal(table().get(keyOf(k))?.[0], model.get(k), `key ${k}`);
                  const from = Math.min(step.from, step.to);
                  const to = Math.max(step.from, step.to);
                  let expect = sortedModel(model, from, to).map(([k]) => k);
                  if (step.limit > 0) expect = expect.slice(0, step.limit);
                  const got = [
                    ...table().keys({ start: keyOf(from), end: keyOf(to), limit: step.limit || undefined }),
                  ].map((k) => (k[0] << 8) | k[1]);
                  assert.deepEqual(got, expect, `keys in [${from}, ${to}) limit ${step.limit}`);
                } else {
                  views.push({ view: backend.openReadView(), expect: sortedModel(model) });
                }
              }
              // every view still reads the state of its moment, committed since or not
              for (const { view, expect } of views) {
                const got = [...view.entries(table())].map(([k, v]): [number, number] => [
                  (k[0] << 8) | k[1],
                  v[0],
                ]);
                assert.deepEqual(got, expect);
                for (const [k, v] of expect) assert.equal(view.get(table(), keyOf(k))?.[0], v);
                view.release();
              }
              await backend.whenCommitted();
              assert.deepEqual(
                [...backend.records("lease").getRange({})].map(({ key, value }) => [
                  (key[0] << 8) | key[1],
                  value[0],
                ]),
                sortedModel(model),
                "the file holds the model once everything committed",
              );
            } finally {
              for (const { view } of views) view.release();
              await backend.close();
            }
          },
        ),
        { seed, numRuns: 60 },
      );
    } catch (err) {
      console.error(`replay: MVCC_SEED=${seed} node --import tsx --test test/mvcc/write-buffer.test.ts`);
      throw err;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers the store's reads from a batch whose commit has not landed; the file has it once landed", async () => {
    const t = openTempStore();
    try {
      const s = t.store;
      s.write(1, (tx) => tx.put(b("a"), b("1"), 0n)); // rev 2
      await s.committed();
      s.batch(() => {
        s.write(2, (tx) => tx.put(b("a"), b("2"), 0n)); // 3
        s.write(3, (tx) => tx.put(b("b"), b("3"), 0n)); // 4
        s.write(4, (tx) => tx.deleteRange(b("a"), undefined)); // 5
        s.writeRecords(5, [["lease", b("L1"), b("lease-1")]]);
      });
      // none of the batch is in the LMDB file yet
      assert.ok(s.backend.hasPendingWrites());
      assert.equal(s.backend.history.getBinary(revKey(3, 0)), undefined);
      assert.equal(s.backend.records("lease").getBinary(b("L1")), undefined);
      assert.equal(s.backend.meta.getBinary("consistent_index")?.readUInt32BE(4), 1);
      const reads = () => ({
        a: s.range(b("a"), undefined).kvs.map((kv) => kv.value.toString()),
        aAt3: s.range(b("a"), undefined, { rev: 3 }).kvs.map((kv) => kv.value.toString()),
        all: s.range(b("a"), b("z")).kvs.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`),
        events: s
          .eventsBetween(b("a"), b("z"), 1, 5)
          .map((e) => `${Event_EventType[e.type]} ${e.kv?.key} ${e.kv?.modRevision}`),
        hash: s.hashKV(0),
        hashAt4: s.hashKV(4),
        leases: s.records("lease").map(([k, v]) => `${k}=${v}`),
        meta: [s.backend.getMetaNumber("consistent_index"), s.backend.getMetaNumber("currentRev")],
      });
      const staged = reads();
      assert.deepEqual(staged.a, []);
      assert.deepEqual(staged.aAt3, ["2"]);
      assert.deepEqual(staged.all, ["b=3@4"]);
      assert.deepEqual(staged.events, ["PUT a 2", "PUT a 3", "PUT b 4", "DELETE a 5"]);
      assert.deepEqual(staged.leases, ["L1=lease-1"]);
      assert.deepEqual(staged.meta, [5, 5]);
      // an export taken now holds the staged batch, though it reads the file
      const exp = exportBbolt(s);
      assert.equal(exp.consistentIndex, 5);
      await s.committed();
      assert.equal(s.backend.hasPendingWrites(), false);
      assert.ok(s.backend.history.getBinary(revKey(3, 0)) !== undefined, "committed to the file");
      assert.deepEqual(reads(), staged, "the same answers from the file");
      const parts: Buffer[] = [];
      for await (const chunk of exp) parts.push(chunk);
      const snap = path.join(t.dir, "snap.db");
      writeFileSync(snap, Buffer.concat(parts));
      const restoredFile = path.join(t.dir, "restored", "db");
      await importBbolt(snap, restoredFile);
      const restored = KVStore.open(restoredFile);
      try {
        assert.equal(restored.consistentIndex(), 5);
        assert.deepEqual(restored.hashKV(0), staged.hash);
        assert.deepEqual(
          restored.records("lease").map(([k, v]) => `${k}=${v}`),
          staged.leases,
        );
      } finally {
        await restored.close();
      }
      // a compaction of staged history, then a reopen: the file holds exactly the applied state
      s.write(6, (tx) => tx.put(b("c"), b("4"), 0n)); // 6
      const compaction = s.compact(5, 7);
      assert.ok(compaction);
      const compacted = s.hashKV(0);
      await compaction.done;
      assert.equal(s.backend.hasPendingWrites(), false, "a finished compaction has committed");
      const reopened = await t.reopen();
      assert.deepEqual(reopened.hashKV(0), compacted);
      assert.equal(reopened.consistentIndex(), 7);
      assert.deepEqual(
        reopened.range(b("a"), b("z")).kvs.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`),
        ["b=3@4", "c=4@6"],
      );
    } finally {
      await t.cleanup();
    }
  });

  it("refuses a synchronous write while staged writes are pending (it would commit ahead of them)", async () => {
    const t = openTempStore();
    try {
      t.store.write(1, (tx) => tx.put(b("a"), b("1"), 0n));
      assert.throws(() => t.store.backend.write(() => undefined), /staged writes are pending/);
      await t.store.committed();
      assert.equal(
        t.store.backend.write(() => 7),
        7,
      );
    } finally {
      await t.cleanup();
    }
  });

  it("refuses a change of an empty key, or of a history key LMDB cannot hold, when it is staged, and the store keeps committing", async () => {
    const t = openTempStore();
    try {
      const backend = t.store.backend;
      assert.throws(
        () => backend.stage(() => backend.applied.records("alarm").remove(Buffer.alloc(0))),
        /backend: a change of an empty key/,
      );
      assert.throws(
        () => backend.stage(() => backend.applied.records("alarm").put(Buffer.alloc(0), b("x"))),
        /backend: a change of an empty key/,
      );
      // a record key of any length is kept (under a stand-in); the history's keys are revisions
      backend.stage(() =>
        backend.applied.records("authUsers").put(Buffer.alloc(MAX_KEY_BYTES + 1, 0x61), b("x")),
      );
      await backend.whenCommitted();
      assert.equal(t.store.records("authUsers")[0]?.[0].length, MAX_KEY_BYTES + 1);
      assert.throws(
        () => backend.stage(() => backend.applied.history.put(Buffer.alloc(MAX_KEY_BYTES + 1), b("x"))),
        /backend: a change of a key of 1979 bytes \(at most 1978\)/,
      );
      assert.equal(backend.hasPendingWrites(), false, "the refused writes staged nothing");
      t.store.write(1, (tx) => tx.put(b("a"), b("1"), 0n));
      await t.store.committed();
      assert.equal(t.store.range(b("a"), undefined).kvs[0]?.value.toString(), "1");
    } finally {
      await t.cleanup();
    }
  });
});
