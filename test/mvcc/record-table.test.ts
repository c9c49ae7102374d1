// Record keys of any length: a key LMDB cannot hold (or one that begins with the stand-ins' first
// byte) is stored under a hashed stand-in, and every reader gets the records' own keys back in the
// order of their bytes, whatever has committed; schema-2 files move their 0xff keys on open.
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { open } from "lmdb";
import { BACKEND_SCHEMA_VERSION, Backend } from "../../src/mvcc/backend.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { MAX_KEY_BYTES } from "../../src/mvcc/write-buffer.js";
import { b, tempDir } from "./helpers.js";

/** Keys around the stand-ins: short, the longest LMDB holds, longer, 0xff-led, and prefixes of each other. */
const KEYS: Buffer[] = [
  b("a"),
  b("b"),
  Buffer.alloc(MAX_KEY_BYTES, 0x61),
  Buffer.alloc(MAX_KEY_BYTES + 1, 0x61),
  Buffer.concat([Buffer.alloc(2000, 0x61), b("b")]),
  Buffer.alloc(40_000, 0x61),
  Buffer.alloc(40_000, 0x7a),
  Buffer.from([0xff]),
  Buffer.from([0xff, 0x00]),
  Buffer.alloc(33, 0xff),
  Buffer.alloc(3000, 0xff),
  Buffer.from([0xfe, 0xff]),
];

type Step =
  | { kind: "put"; key: number; value: number }
  | { kind: "remove"; key: number }
  | { kind: "commit" }
  | { kind: "read" }
  | { kind: "view" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("put" as const),
      key: fc.nat(KEYS.length - 1),
      value: fc.nat(255),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("remove" as const), key: fc.nat(KEYS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "commit" as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: "read" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "view" as const }) },
);

/** The model's records in the order of their keys' bytes, as [key index, value]. */
function sorted(model: Map<number, number>): Array<[number, number]> {
  return [...model].sort(([x], [y]) => Buffer.compare(KEYS[x], KEYS[y]));
}

const indexOf = (key: Buffer) => KEYS.findIndex((k) => k.equals(key));

describe("record keys of any length", () => {
  test("reads (point, in order, views) match a model whatever has committed, and after reopening (property)", async () => {
    const seed =
      process.env.RECORD_SEED !== undefined ? Number(process.env.RECORD_SEED) : Date.now() % 2 ** 31;
    const dir = tempDir();
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(stepArb, { minLength: 1, maxLength: 30 }),
          fc.constantFrom(0, 100),
          async (steps, intervalMs) => {
            const file = path.join(dir, `db${run++}`);
            let backend = Backend.open(file, { durability: "nosync", commit: { intervalMs } });
            const model = new Map<number, number>();
            const views: Array<{
              view: ReturnType<Backend["openReadView"]>;
              expect: Array<[number, number]>;
            }> = [];
            const check = (what: string) => {
              const table = backend.applied.records("authUsers");
              for (let k = 0; k < KEYS.length; k++) {
                assert.equal(table.get(KEYS[k])?.[0], model.get(k), `${what}: get key ${k}`);
                assert.equal(table.getStable(KEYS[k])?.[0], model.get(k), `${what}: getStable key ${k}`);
              }
              const keys = [...table.keys()].map((k) => indexOf(Buffer.from(k)));
              assert.deepEqual(
                keys,
                sorted(model).map(([k]) => k),
                `${what}: keys in byte order`,
              );
            };
            try {
              for (const step of steps) {
                if (step.kind === "put") {
                  backend.stage(() =>
                    backend.applied.records("authUsers").put(KEYS[step.key], Buffer.from([step.value])),
                  );
                  model.set(step.key, step.value);
                } else if (step.kind === "remove") {
                  backend.stage(() => backend.applied.records("authUsers").remove(KEYS[step.key]));
                  model.delete(step.key);
                } else if (step.kind === "commit") {
                  await backend.whenCommitted();
                } else if (step.kind === "read") {
                  check("staged or committed");
                } else {
                  views.push({ view: backend.openReadView(), expect: sorted(model) });
                }
              }
              for (const { view, expect } of views) {
                const got = [...view.entries(backend.applied.records("authUsers"))].map(
                  ([k, v]): [number, number] => [indexOf(k), v[0]],
                );
                assert.deepEqual(got, expect, "a view reads the records of its moment in byte order");
                view.release();
              }
              views.length = 0;
              await backend.close();
              backend = Backend.open(file, { durability: "nosync" });
              check("reopened");
            } finally {
              for (const { view } of views) view.release();
              await backend.close();
            }
          },
        ),
        { seed, numRuns: 40 },
      );
    } catch (err) {
      console.error(`replay: RECORD_SEED=${seed} node --import tsx --test test/mvcc/record-table.test.ts`);
      throw err;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("LMDB holds a long or 0xff-led key under a 33-byte stand-in, and every other key as itself", async () => {
    const dir = tempDir();
    const backend = Backend.open(path.join(dir, "db"), { durability: "nosync" });
    try {
      backend.stage(() => {
        for (const key of KEYS) backend.applied.records("authRoles").put(key, b("v"));
      });
      await backend.whenCommitted();
      const stored = [...backend.records("authRoles").getKeys({})].map((k) => Buffer.from(k));
      const itself = stored.filter((k) => k[0] !== 0xff);
      assert.deepEqual(
        itself,
        KEYS.filter((k) => k.length <= MAX_KEY_BYTES && k[0] !== 0xff).sort(Buffer.compare),
      );
      const standIns = stored.filter((k) => k[0] === 0xff);
      assert.equal(standIns.length, KEYS.filter((k) => k.length > MAX_KEY_BYTES || k[0] === 0xff).length);
      for (const k of standIns) assert.equal(k.length, 33);
    } finally {
      await backend.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a schema-2 file's 0xff-led record keys read as before once it is opened", async () => {
    const dir = tempDir();
    const file = path.join(dir, "member", "snap", "db");
    mkdirSync(path.dirname(file), { recursive: true });
    const num = (n: number) => {
      const v = Buffer.alloc(8);
      v.writeBigUInt64BE(BigInt(n));
      return v;
    };
    // the schema-2 layout: every record key stored as itself (a negative lease id leads with 0xff)
    const negativeLease = Buffer.from("ffffffffffffff9c", "hex");
    const env = open({ path: file, noSubdir: true, maxDbs: 16 });
    env.openDB<Buffer, Buffer>({ name: "key", keyEncoding: "binary", encoding: "binary" });
    const meta = env.openDB<Buffer, string>({ name: "meta", encoding: "binary" });
    const lease = env.openDB<Buffer, Buffer>({ name: "lease", keyEncoding: "binary", encoding: "binary" });
    env.transactionSync(() => {
      meta.put("schemaVersion", num(2));
      meta.put("consistent_index", num(4));
      lease.put(negativeLease, b("negative"));
      lease.put(Buffer.from("0000000000000064", "hex"), b("positive"));
    });
    await env.close();

    let store = KVStore.open(file);
    try {
      assert.equal(store.backend.getMetaNumber("schemaVersion"), BACKEND_SCHEMA_VERSION);
      const expect = [
        [Buffer.from("0000000000000064", "hex"), b("positive")],
        [negativeLease, b("negative")],
      ];
      assert.deepEqual(store.records("lease"), expect);
      assert.equal(
        store.backend.records("lease").getBinary(negativeLease),
        undefined,
        "moved to its stand-in",
      );
      await store.close();
      store = KVStore.open(file);
      assert.deepEqual(store.records("lease"), expect, "and reads the same after another start");
      assert.equal(store.consistentIndex(), 4);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
