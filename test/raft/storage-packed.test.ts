// MemoryStorage keeps its log packed: random runs of appends (overlapping, truncating), compactions,
// snapshots and packTo calls must read back what a plain array of entries would give, and the entries
// not yet packed must come back as the very objects appended.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Entry, EntryType, type Snapshot } from "../../src/gen/raftpb/raft.js";
import {
  CompactedError,
  MemoryStorage,
  SnapOutOfDateError,
  UnavailableError,
} from "../../src/raft/storage.js";
import { countWithinSize, emptyBuffer, noLimit } from "../../src/raft/util.js";

const FILE = "test/raft/storage-packed.test.ts";

/** The log as an array of entries (entries[0] the dummy), as MemoryStorage kept it before. */
class ArrayLog {
  ents: Entry[] = [{ type: EntryType.EntryNormal, term: 0, index: 0, data: emptyBuffer }];
  snapIndex = 0;
  get offset(): number {
    return this.ents[0].index;
  }
  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    if (lo <= this.offset) throw new CompactedError();
    if (hi > this.lastIndex() + 1) throw new Error("panic");
    if (this.ents.length === 1) throw new UnavailableError();
    const start = lo - this.offset;
    return this.ents.slice(
      start,
      start + countWithinSize(this.ents, start, hi - this.offset, maxSize, 0, true),
    );
  }
  term(i: number): number {
    if (i < this.offset) throw new CompactedError();
    if (i - this.offset >= this.ents.length) throw new UnavailableError();
    return this.ents[i - this.offset].term;
  }
  compact(ci: number): void {
    if (ci <= this.offset) throw new CompactedError();
    if (ci > this.lastIndex()) throw new Error("panic");
    const kept = this.ents[ci - this.offset];
    this.ents = [
      { type: EntryType.EntryNormal, term: kept.term, index: ci, data: emptyBuffer },
      ...this.ents.slice(ci - this.offset + 1),
    ];
  }
  applySnapshot(index: number, term: number): void {
    if (this.snapIndex >= index) throw new SnapOutOfDateError();
    this.snapIndex = index;
    this.ents = [{ type: EntryType.EntryNormal, term, index, data: emptyBuffer }];
  }
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.offset + 1;
    if (entries[0].index + entries.length - 1 < first) return;
    const start = first > entries[0].index ? first - entries[0].index : 0;
    const at = entries[start].index - this.offset;
    if (this.ents.length < at) throw new Error("panic");
    this.ents = [...this.ents.slice(0, at), ...entries.slice(start)];
  }
}

type Op =
  | { op: "append"; from: number; terms: number[]; at: number }
  | { op: "compact"; at: number }
  | { op: "snapshot"; at: number; term: number }
  | { op: "packTo"; at: number }
  | { op: "entries"; lo: number; hi: number; maxSize: number }
  | { op: "term"; at: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("append" as const),
      from: fc.integer({ min: -6, max: 1 }),
      terms: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 0, maxLength: 120, size: "max" }),
      at: fc.nat(4000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("compact" as const), at: fc.integer({ min: -3, max: 60 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("snapshot" as const),
      at: fc.integer({ min: -3, max: 10 }),
      term: fc.integer({ min: 1, max: 9 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("packTo" as const), at: fc.integer({ min: -5, max: 8 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("entries" as const),
      lo: fc.integer({ min: -3, max: 400 }),
      hi: fc.integer({ min: 0, max: 400 }),
      maxSize: fc.oneof(fc.constant(noLimit), fc.nat(400)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("term" as const), at: fc.integer({ min: -3, max: 400 }) }),
  },
);

/** What a call gave: its value or the name of what it threw (a panic whatever its class). */
function outcome<T>(f: () => T): T | string {
  try {
    return f();
  } catch (err) {
    const name = (err as Error).name;
    return name === "CompactedError" || name === "UnavailableError" || name === "SnapOutOfDateError"
      ? name
      : "panic";
  }
}

const described = (r: Entry[] | string): string[] =>
  typeof r === "string"
    ? [r]
    : r.map((e) => `${e.index}/${e.term}/${e.type}/${Buffer.from(e.data).toString("hex")}`);

/** Throws at the first entry that differs (node's diff of two long arrays takes minutes). */
function sameEntries(got: Entry[] | string, want: Entry[] | string, what: string): void {
  const [g, w] = [described(got), described(want)];
  for (let k = 0; k < Math.max(g.length, w.length); k++) {
    if (g[k] !== w[k]) throw new Error(`${what}: at ${k} got ${g[k]}, want ${w[k]}`);
  }
}

function snapshotAt(index: number, term: number): Snapshot {
  const confState = { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  return { data: emptyBuffer, metadata: { index, term, confState } };
}

/** 4 KiB of bytes the entries' data are views of, from a seed. */
function slabOf(seed: number): Uint8Array {
  const slab = new Uint8Array(4096);
  let x = seed >>> 0;
  for (let k = 0; k < slab.length; k++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    slab[k] = x >>> 24;
  }
  return slab;
}

function run(ops: Op[], slab: Uint8Array): void {
  const s = new MemoryStorage();
  const ref = new ArrayLog();
  /** The last index passed to packTo (or of a snapshot): entries after it come back as appended. */
  let packed = 0;
  const appended = new Map<number, Entry>();
  for (const o of ops) {
    switch (o.op) {
      case "append": {
        const from = ref.lastIndex() + o.from;
        if (from < 1) break;
        const ents = o.terms.map((term, k): Entry => {
          // type, data length and offset vary with `at` and k
          const len = (o.at + 7 * k) % 31;
          const at = (o.at + 31 * k) % (slab.length - len);
          return {
            type: ((o.at >> 3) + k) % 3,
            term,
            index: from + k,
            data: len === 0 ? emptyBuffer : Buffer.from(slab.buffer, slab.byteOffset + at, len),
          };
        });
        const want = outcome(() => ref.append(ents));
        assert.equal(
          outcome(() => s.append(ents)),
          want,
        );
        if (want !== "panic" && ents.length > 0) {
          for (const [i] of appended) if (i >= ents[0].index) appended.delete(i);
          for (const e of ents) if (e.index > ref.offset) appended.set(e.index, e);
        }
        break;
      }
      case "compact": {
        const at = ref.offset + Math.round(o.at * (ref.lastIndex() - ref.offset));
        assert.equal(
          outcome(() => s.compact(at)),
          outcome(() => ref.compact(at)),
        );
        break;
      }
      case "snapshot": {
        const at = ref.lastIndex() + o.at;
        if (at < 0) break;
        const want = outcome(() => ref.applySnapshot(at, o.term));
        assert.equal(
          outcome(() => s.applySnapshot(snapshotAt(at, o.term))),
          want,
        );
        if (want === undefined) {
          appended.clear();
          packed = Math.max(packed, at);
        }
        break;
      }
      case "packTo": {
        const at = ref.lastIndex() + o.at;
        s.packTo(at);
        packed = Math.max(packed, at);
        break;
      }
      case "entries": {
        const lo = ref.offset + o.lo;
        const hi = Math.max(lo, ref.offset + o.hi);
        const got = outcome(() => s.entries(lo, hi, o.maxSize));
        sameEntries(
          got,
          outcome(() => ref.entries(lo, hi, o.maxSize)),
          `entries(${lo}, ${hi}, ${o.maxSize})`,
        );
        if (typeof got !== "string") {
          for (const e of got)
            if (e.index > packed)
              assert.equal(e, appended.get(e.index), `entry ${e.index} is the one appended`);
        }
        break;
      }
      case "term": {
        const at = ref.offset + o.at;
        assert.equal(
          outcome(() => s.term(at)),
          outcome(() => ref.term(at)),
        );
        break;
      }
    }
    assert.equal(s.lastIndex(), ref.lastIndex());
    assert.equal(s.firstIndex(), ref.offset + 1);
  }
  // the whole log reads back alike at the end
  if (ref.lastIndex() > ref.offset) {
    const all = [ref.offset + 1, ref.lastIndex() + 1] as const;
    sameEntries(s.entries(...all, noLimit), ref.entries(...all, noLimit), "the whole log");
  }
}

test("MemoryStorage reads back its packed log as an array of entries would", () => {
  const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
  // no shrinking: it takes minutes on runs of 150 operations; the replay line gives the run as found
  const params: fc.Parameters<[Op[], number]> =
    seed === undefined
      ? { numRuns: 300, endOnFailure: true }
      : { numRuns: 300, endOnFailure: true, seed, path: process.env.FC_PATH };
  const details = fc.check(
    fc.property(
      fc.array(opArb, { minLength: 10, maxLength: 150, size: "max" }),
      fc.integer(),
      (ops, fill) => {
        run(ops, slabOf(fill));
      },
    ),
    params,
  );
  if (details.failed) {
    const replay = `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ""} node --import tsx --test ${FILE}`;
    throw new Error(
      `${fc.defaultReportMessage(details) ?? "property failed"}\n{ seed: ${details.seed}, path: "${details.counterexamplePath}" }\nreplay: ${replay}`,
    );
  }
});

test("MemoryStorage grows past its first arrays and moves its log back after a compaction", () => {
  const s = new MemoryStorage();
  const slab = Buffer.from("abcdefghijklmnopqrstuvwxyz");
  // entry i: term 1 + i / 1024, data 3 bytes of the slab from i % 20
  const termOf = (i: number) => 1 + (i >> 10);
  const dataOf = (i: number) => slab.subarray(i % 20, (i % 20) + 3);
  const append = (from: number, to: number) => {
    for (let i = from; i <= to; i++)
      s.append([{ type: EntryType.EntryNormal, term: termOf(i), index: i, data: dataOf(i) }]);
  };
  const readBack = (lo: number, hi: number) => {
    const got = s.entries(lo, hi, noLimit);
    assert.equal(got.length, hi - lo);
    for (const [k, e] of got.entries()) {
      const i = lo + k;
      assert.equal(`${e.index}/${e.term}/${e.data}`, `${i}/${termOf(i)}/${dataOf(i)}`);
    }
  };
  append(1, 5000);
  s.packTo(4000);
  readBack(1, 5001);
  s.compact(4990);
  append(5001, 20000);
  s.packTo(20000);
  assert.equal(s.firstIndex(), 4991);
  assert.equal(s.term(4990), termOf(4990));
  readBack(4991, 20001);
  s.compact(19990);
  append(20001, 40000);
  readBack(19991, 40001);
});
