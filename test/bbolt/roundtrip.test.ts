// Round trips through the codec: random buckets (nested, inline, empty, large values and keys, several page
// sizes) are written, read back and must come out equal.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import fc from "fast-check";
import { fnv1a64 } from "../../src/bbolt/format.js";
import {
  type BboltBucketSource,
  type BboltEntries,
  BboltReader,
  type BucketPath,
  emitBbolt,
  encodeBbolt,
  planBbolt,
  writeBboltFile,
} from "../../src/bbolt/index.js";

function drainPlan(buckets: BboltBucketSource[]) {
  const plan = planBbolt(buckets);
  let step = plan.next();
  while (!step.done) step = plan.next();
  return step.value;
}

/** A bucket as plain data: sorted entries, each a value or a nested bucket. */
interface Tree {
  entries: Array<[Buffer, Buffer | Tree]>;
}

function source(tree: Tree): BboltEntries {
  return () => tree.entries.map(([k, v]) => [k, Buffer.isBuffer(v) ? v : source(v)] as const);
}

function readTree(reader: BboltReader, path: BucketPath): Tree {
  const entries: Tree["entries"] = [];
  for (const e of reader.entries(path)) {
    entries.push([Buffer.from(e.key), e.bucket ? readTree(reader, [...path, e.key]) : Buffer.from(e.value)]);
  }
  return { entries };
}

const keyArb = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 6000 }) },
);
const valueArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 120 }).map((v) => Buffer.from(v)) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => Buffer.alloc(n, n % 251)) },
);

/** Unique keys in bytewise order. */
function sortedUnique<T>(entries: Array<[Uint8Array, T]>): Array<[Buffer, T]> {
  const byKey = new Map<string, [Buffer, T]>();
  for (const [k, v] of entries) byKey.set(Buffer.from(k).toString("hex"), [Buffer.from(k), v]);
  return [...byKey.values()].sort(([a], [b]) => Buffer.compare(a, b));
}

const treeArb: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree; value: Buffer | Tree }>((tie) => ({
  tree: fc
    .oneof(
      { weight: 6, arbitrary: fc.array(fc.tuple(keyArb, tie("value")), { maxLength: 30 }) },
      { weight: 1, arbitrary: fc.array(fc.tuple(keyArb, valueArb), { minLength: 200, maxLength: 1500 }) },
    )
    .map((entries) => ({ entries: sortedUnique(entries as Array<[Uint8Array, Buffer | Tree]>) })),
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 8, arbitrary: valueArb },
    { weight: 1, arbitrary: tie("tree") },
  ),
})).tree;

const topArb = fc
  .array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 12 }), treeArb), { maxLength: 6 })
  .map((buckets) => sortedUnique(buckets));

describe("bbolt round trip", () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-bbolt-rt-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("random buckets written then read are equal", () => {
    const seed = process.env.BBOLT_SEED !== undefined ? Number(process.env.BBOLT_SEED) : Date.now() % 2 ** 31;
    let run = 0;
    try {
      fc.assert(
        fc.property(topArb, fc.constantFrom(4096, 4096, 1024, 16384), (top, pageSize) => {
          const file = join(dir, `rt-${run++}.db`);
          const buckets: BboltBucketSource[] = top.map(([name, tree]) => ({ name, entries: source(tree) }));
          const layout = writeBboltFile(file, buckets, { pageSize, txid: BigInt(1 + (run % 3)) });
          assert.equal(statSync(file).size, layout.size);
          const reader = BboltReader.open(file);
          try {
            assert.equal(reader.pageSize, pageSize);
            assert.equal(reader.size, layout.size);
            assert.equal(reader.meta.txid, layout.txid);
            const back = readTree(reader, []);
            assert.deepEqual(
              back.entries.map(([k]) => k),
              top.map(([k]) => k),
            );
            back.entries.forEach(([, t], i) => {
              assert.deepEqual(t, top[i][1]);
            });
          } finally {
            reader.close();
            rmSync(file);
          }
        }),
        { seed, numRuns: Number(process.env.BBOLT_RUNS ?? 60) },
      );
    } catch (err) {
      console.log(`replay: BBOLT_SEED=${seed} node --import tsx --test test/bbolt/roundtrip.test.ts`);
      throw err;
    }
  });

  test("the planned layout and the emitted bytes agree, and small buckets are inline", () => {
    const small = { entries: [[Buffer.from("a"), Buffer.from("1")]] as Tree["entries"] };
    const { layout, chunks } = encodeBbolt([
      { name: "small", entries: source(small) },
      { name: "empty", entries: () => [] },
    ]);
    const bytes = Buffer.concat([...chunks()]);
    assert.equal(bytes.length, layout.size);
    // metas, and one root leaf holding both buckets inline
    assert.equal(layout.pages, 3);
    assert.equal(layout.root, 2);
    assert.equal(bytes.readUInt16LE(2 * 4096 + 8), 0x02, "root page is a leaf");
    assert.equal(bytes.readUInt16LE(2 * 4096 + 10), 2, "two buckets");
  });

  test("emitted chunks are whole pages up to the chunk size; a longer run is a chunk of its own", () => {
    const entries: Array<[Buffer, Buffer]> = [];
    for (let i = 0; i < 2000; i++)
      entries.push([Buffer.from(`k${String(i).padStart(4, "0")}`), Buffer.alloc(i === 100 ? 30_000 : 50, i)]);
    const buckets = [{ name: "b", entries: () => entries }];
    const layout = drainPlan(buckets);
    const chunks = [...emitBbolt(buckets, layout, { chunkSize: 5 * 4096 + 100 })];
    const runs = chunks.filter((c) => c.length > 5 * 4096);
    assert.equal(runs.length, 1, "the 30 000-byte value's run");
    assert.equal(runs[0].length, 8 * 4096);
    for (const c of chunks) assert.equal(c.length % 4096, 0);
    assert.ok(chunks.filter((c) => c.length === 5 * 4096).length > 1, "full chunks");
    const whole = Buffer.concat(chunks);
    assert.equal(whole.length, layout.size);
    assert.deepEqual(
      whole,
      Buffer.concat([...encodeBbolt(buckets).chunks()]),
      "chunking does not change the bytes",
    );
  });

  test("meta pages: txid T on page T % 2, T - 1 on the other, FNV-1a checksums", () => {
    for (const txid of [1n, 2n, 10n]) {
      const { chunks } = encodeBbolt([], { txid });
      const [first] = [...chunks()];
      const [m0, m1] = [first.subarray(0, 4096), first.subarray(4096, 8192)];
      const t0 = m0.readBigUInt64LE(64);
      const t1 = m1.readBigUInt64LE(64);
      assert.equal(txid % 2n === 0n ? t0 : t1, txid);
      assert.equal(txid % 2n === 0n ? t1 : t0, txid - 1n);
      for (const m of [m0, m1]) assert.equal(m.readBigUInt64LE(72), fnv1a64(m.subarray(16, 72)));
      assert.equal(m0.readBigUInt64LE(48), 0xffff_ffff_ffff_ffffn, "no freelist persisted");
    }
  });

  test("FNV-1a 64 matches the definition", () => {
    const reference = (b: Uint8Array) => {
      let h = 0xcbf29ce484222325n;
      for (const x of b) h = ((h ^ BigInt(x)) * 0x100000001b3n) & 0xffff_ffff_ffff_ffffn;
      return h;
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => fnv1a64(b) === reference(b)));
    assert.equal(fnv1a64(Buffer.from("hello")), 0xa430d84680aabd0bn);
  });

  test("the writer refuses what bbolt would refuse, naming the bucket", () => {
    const one = (entries: BboltEntries) => () => encodeBbolt([{ name: "b", entries }]);
    assert.throws(
      one(() => [
        [Buffer.from("b"), Buffer.from("1")],
        [Buffer.from("a"), Buffer.from("2")],
      ]),
      /bucket "b": keys out of order at entry 2: "a" after "b"/,
    );
    assert.throws(
      one(() => [[Buffer.alloc(0), Buffer.from("1")]]),
      /bucket "b": entry 1 has an empty key/,
    );
    assert.throws(
      one(() => [[Buffer.alloc(40_000, 1), Buffer.from("1")]]),
      /key of entry 1 is 40000 bytes, over bbolt's 32768/,
    );
    assert.throws(
      () => encodeBbolt([{ name: "b", entries: () => [] }], { pageSize: 3000 }),
      /page size 3000/,
    );
    let calls = 0;
    const unstable: BboltEntries = () => (calls++ === 0 ? [] : [[Buffer.from("x"), Buffer.alloc(5000)]]);
    const { chunks } = encodeBbolt([{ name: "b", entries: unstable }]);
    assert.throws(() => [...chunks()], /the entries changed between planning and writing/);
  });
});
