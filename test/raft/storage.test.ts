import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Entry, EntryType } from "../../src/gen/raftpb/raft.js";
import { RaftPanicError } from "../../src/raft/logger.js";
import {
  CompactedError,
  MemoryStorage,
  SnapOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "../../src/raft/storage.js";
import { emptyBuffer, entrySize, noLimit } from "../../src/raft/util.js";

function ent(index: number, term: number, data: Buffer = emptyBuffer): Entry {
  return { type: EntryType.EntryNormal, index, term, data };
}

/** A storage whose dummy entry is (3,3) followed by the given entries (etcd's test fixture shape). */
function storageFrom(lastTerms: number[]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({
    data: emptyBuffer,
    metadata: {
      index: 3,
      term: 3,
      confState: { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
  });
  s.append(lastTerms.map((t, k) => ent(4 + k, t)));
  return s;
}

function indexTerms(ents: readonly Entry[]): [number, number][] {
  return ents.map((e) => [e.index, e.term]);
}

describe("MemoryStorage", () => {
  it("term: compacted below the dummy entry, unavailable past the end", () => {
    const s = storageFrom([4, 5]);
    assert.throws(() => s.term(2), CompactedError);
    assert.equal(s.term(3), 3);
    assert.equal(s.term(4), 4);
    assert.equal(s.term(5), 5);
    assert.throws(() => s.term(6), UnavailableError);
  });

  it("entries: compaction errors, ranges and size limits", () => {
    const s = storageFrom([4, 5, 6]);
    assert.throws(() => s.entries(2, 6, noLimit), CompactedError);
    assert.throws(() => s.entries(3, 4, noLimit), CompactedError);
    assert.deepEqual(indexTerms(s.entries(4, 5, noLimit)), [[4, 4]]);
    assert.deepEqual(indexTerms(s.entries(4, 6, noLimit)), [
      [4, 4],
      [5, 5],
    ]);
    assert.deepEqual(indexTerms(s.entries(4, 7, noLimit)), [
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    // A zero limit still returns one entry.
    assert.deepEqual(indexTerms(s.entries(4, 7, 0)), [[4, 4]]);
    const sz = entrySize(ent(4, 4));
    assert.equal(s.entries(4, 7, 2 * sz).length, 2);
    assert.equal(s.entries(4, 7, 2 * sz + sz / 2).length, 2);
    assert.equal(s.entries(4, 7, 3 * sz - 1).length, 2);
    assert.equal(s.entries(4, 7, 3 * sz).length, 3);
    assert.throws(() => s.entries(4, 8, noLimit), RaftPanicError);
  });

  it("entries: a storage holding only the dummy entry has nothing available", () => {
    const s = new MemoryStorage();
    assert.throws(() => s.entries(1, 1, noLimit), UnavailableError);
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
  });

  it("entries returns a copy that appends do not change", () => {
    const s = storageFrom([4, 5]);
    const got = s.entries(4, 6, noLimit);
    s.append([ent(5, 9)]);
    assert.deepEqual(indexTerms(got), [
      [4, 4],
      [5, 5],
    ]);
    assert.equal(s.term(5), 9);
  });

  it("lastIndex and firstIndex follow appends and compactions", () => {
    const s = storageFrom([4, 5]);
    assert.equal(s.lastIndex(), 5);
    s.append([ent(6, 5)]);
    assert.equal(s.lastIndex(), 6);
    assert.equal(s.firstIndex(), 4);
    s.compact(4);
    assert.equal(s.firstIndex(), 5);
  });

  it("compact keeps the compacted position as the dummy entry", () => {
    const cases: [number, boolean, number, number, number][] = [
      // compactIndex, throws, dummy index, dummy term, remaining length (with dummy)
      [2, true, 3, 3, 3],
      [3, true, 3, 3, 3],
      [4, false, 4, 4, 2],
      [5, false, 5, 5, 1],
    ];
    for (const [i, throws, windex, wterm, wlen] of cases) {
      const s = storageFrom([4, 5]);
      if (throws) assert.throws(() => s.compact(i), CompactedError);
      else s.compact(i);
      assert.equal(s.firstIndex() - 1, windex, `compact(${i}) dummy index`);
      assert.equal(s.term(windex), wterm, `compact(${i}) dummy term`);
      assert.equal(s.lastIndex() - windex + 1, wlen, `compact(${i}) length`);
    }
    assert.throws(() => storageFrom([4, 5]).compact(6), RaftPanicError);
  });

  it("createSnapshot records index, term, conf state and data", () => {
    const cs = { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    const data = Buffer.from("data");
    for (const i of [4, 5]) {
      const s = storageFrom([4, 5]);
      const snap = s.createSnapshot(i, cs, data);
      assert.deepEqual(snap, { data, metadata: { index: i, term: i, confState: cs } });
      assert.deepEqual(s.snapshot(), snap);
    }
    const s = storageFrom([4, 5]);
    assert.throws(() => s.createSnapshot(3, cs, data), SnapOutOfDateError);
  });

  it("append truncates, overwrites and extends", () => {
    const cases: [Entry[], [number, number][]][] = [
      [
        [ent(1, 1), ent(2, 2)],
        [
          [3, 3],
          [4, 4],
          [5, 5],
        ],
      ],
      [
        [ent(3, 3), ent(4, 4), ent(5, 5)],
        [
          [3, 3],
          [4, 4],
          [5, 5],
        ],
      ],
      [
        [ent(3, 3), ent(4, 6), ent(5, 6)],
        [
          [3, 3],
          [4, 6],
          [5, 6],
        ],
      ],
      [
        [ent(3, 3), ent(4, 4), ent(5, 5), ent(6, 5)],
        [
          [3, 3],
          [4, 4],
          [5, 5],
          [6, 5],
        ],
      ],
      [
        [ent(2, 3), ent(3, 3), ent(4, 5)],
        [
          [3, 3],
          [4, 5],
        ],
      ],
      [
        [ent(4, 5)],
        [
          [3, 3],
          [4, 5],
        ],
      ],
      [
        [ent(6, 5)],
        [
          [3, 3],
          [4, 4],
          [5, 5],
          [6, 5],
        ],
      ],
    ];
    for (const [input, want] of cases) {
      const s = storageFrom([4, 5]);
      s.append(input);
      const got: [number, number][] = [[3, s.term(3)]];
      if (s.lastIndex() >= 4) got.push(...indexTerms(s.entries(4, s.lastIndex() + 1, noLimit)));
      assert.deepEqual(got, want, `append ${JSON.stringify(indexTerms(input))}`);
    }
    assert.throws(() => storageFrom([4, 5]).append([ent(7, 5)]), RaftPanicError);
  });

  it("applySnapshot replaces the log and refuses older snapshots", () => {
    const cs = { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    const s = new MemoryStorage();
    s.applySnapshot({ data: Buffer.from("x"), metadata: { index: 4, term: 4, confState: cs } });
    assert.equal(s.firstIndex(), 5);
    assert.equal(s.lastIndex(), 4);
    assert.equal(s.term(4), 4);
    assert.deepEqual(s.initialState().confState, cs);
    assert.throws(
      () => s.applySnapshot({ data: emptyBuffer, metadata: { index: 3, term: 3, confState: cs } }),
      SnapOutOfDateError,
    );
  });

  it("setHardState is returned by initialState", () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 3, vote: 2n, commit: 1 });
    assert.deepEqual(s.initialState().hardState, { term: 3, vote: 2n, commit: 1 });
  });

  it("errors carry etcd's messages", () => {
    assert.equal(new CompactedError().message, "requested index is unavailable due to compaction");
    assert.equal(new SnapOutOfDateError().message, "requested index is older than the existing snapshot");
    assert.equal(new UnavailableError().message, "requested entry at index is unavailable");
    assert.equal(new SnapshotTemporarilyUnavailableError().message, "snapshot is temporarily unavailable");
  });
});
