import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type Entry, EntryType, type Snapshot } from "../../src/gen/raftpb/raft.js";
import { RaftLog } from "../../src/raft/log.js";
import { Unstable } from "../../src/raft/log_unstable.js";
import { discardLogger, RaftPanicError } from "../../src/raft/logger.js";
import { CompactedError, MemoryStorage } from "../../src/raft/storage.js";
import { emptyBuffer, emptyConfState, entrySize, noLimit } from "../../src/raft/util.js";

function ent(index: number, term: number): Entry {
  return { type: EntryType.EntryNormal, index, term, data: emptyBuffer };
}

function ents(...pairs: [number, number][]): Entry[] {
  return pairs.map(([i, t]) => ent(i, t));
}

function it2(es: readonly Entry[]): [number, number][] {
  return es.map((e) => [e.index, e.term]);
}

function snap(index: number, term: number): Snapshot {
  return { data: emptyBuffer, metadata: { index, term, confState: emptyConfState() } };
}

function newLog(storage = new MemoryStorage()): RaftLog {
  return new RaftLog(storage, discardLogger);
}

describe("raftLog.findConflict", () => {
  const cases: [[number, number][], number][] = [
    [[], 0],
    [
      [
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      0,
    ],
    [
      [
        [2, 2],
        [3, 3],
      ],
      0,
    ],
    [[[3, 3]], 0],
    [
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 4],
      ],
      4,
    ],
    [
      [
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 4],
      ],
      4,
    ],
    [
      [
        [3, 3],
        [4, 4],
        [5, 4],
      ],
      4,
    ],
    [
      [
        [4, 4],
        [5, 4],
      ],
      4,
    ],
    [
      [
        [1, 4],
        [2, 4],
      ],
      1,
    ],
    [
      [
        [2, 1],
        [3, 4],
        [4, 4],
      ],
      2,
    ],
    [
      [
        [3, 1],
        [4, 2],
        [5, 4],
        [6, 4],
      ],
      3,
    ],
  ];
  for (const [input, want] of cases) {
    it(`${JSON.stringify(input)} -> ${want}`, () => {
      const log = newLog();
      log.append(ents([1, 1], [2, 2], [3, 3]));
      assert.equal(log.findConflict(ents(...input)), want);
    });
  }
});

describe("raftLog", () => {
  it("isUpToDate compares last term first, then last index", () => {
    const log = newLog();
    log.append(ents([1, 1], [2, 2], [3, 3]));
    const li = log.lastIndex();
    const cases: [number, number, boolean][] = [
      [li - 1, 4, true],
      [li, 4, true],
      [li + 1, 4, true],
      [li - 1, 2, false],
      [li, 2, false],
      [li + 1, 2, false],
      [li - 1, 3, false],
      [li, 3, true],
      [li + 1, 3, true],
    ];
    for (const [i, t, want] of cases) assert.equal(log.isUpToDate(i, t), want, `isUpToDate(${i}, ${t})`);
  });

  it("append truncates conflicting unstable or stable entries", () => {
    const cases: [[number, number][], number, [number, number][], number][] = [
      [
        [],
        2,
        [
          [1, 1],
          [2, 2],
        ],
        3,
      ],
      [
        [[3, 2]],
        3,
        [
          [1, 1],
          [2, 2],
          [3, 2],
        ],
        3,
      ],
      [[[1, 2]], 1, [[1, 2]], 1],
      [
        [
          [2, 3],
          [3, 3],
        ],
        3,
        [
          [1, 1],
          [2, 3],
          [3, 3],
        ],
        2,
      ],
    ];
    for (const [input, windex, wents, wunstable] of cases) {
      const storage = new MemoryStorage();
      storage.append(ents([1, 1], [2, 2]));
      const log = newLog(storage);
      assert.equal(log.append(ents(...input)), windex);
      assert.deepEqual(it2(log.entries(1, noLimit)), wents);
      assert.equal(log.unstable.offset, wunstable);
    }
  });

  it("maybeAppend matches, truncates, commits within bounds and refuses committed conflicts", () => {
    const lastIndex = 3;
    const lastTerm = 3;
    const commit = 1;
    // logTerm, index, committed, entries, want last new index (undefined = refused), want commit, panics
    const cases: [number, number, number, [number, number][], number | undefined, number, boolean][] = [
      [lastTerm - 1, lastIndex, lastIndex, [[lastIndex + 1, 4]], undefined, commit, false],
      [lastTerm, lastIndex + 1, lastIndex, [[lastIndex + 2, 4]], undefined, commit, false],
      [lastTerm, lastIndex, lastIndex, [], lastIndex, lastIndex, false],
      [lastTerm, lastIndex, lastIndex + 1, [], lastIndex, lastIndex, false],
      [lastTerm, lastIndex, lastIndex - 1, [], lastIndex, lastIndex - 1, false],
      [lastTerm, lastIndex, 0, [], lastIndex, commit, false],
      [0, 0, lastIndex, [], 0, commit, false],
      [lastTerm, lastIndex, lastIndex, [[lastIndex + 1, 4]], lastIndex + 1, lastIndex, false],
      [lastTerm, lastIndex, lastIndex + 1, [[lastIndex + 1, 4]], lastIndex + 1, lastIndex + 1, false],
      [lastTerm, lastIndex, lastIndex + 2, [[lastIndex + 1, 4]], lastIndex + 1, lastIndex + 1, false],
      [
        lastTerm,
        lastIndex,
        lastIndex + 2,
        [
          [lastIndex + 1, 4],
          [lastIndex + 2, 4],
        ],
        lastIndex + 2,
        lastIndex + 2,
        false,
      ],
      [lastTerm - 1, lastIndex - 1, lastIndex, [[lastIndex, 4]], lastIndex, lastIndex, false],
      [lastTerm - 2, lastIndex - 2, lastIndex, [[lastIndex - 1, 4]], lastIndex - 1, lastIndex - 1, false],
      [lastTerm - 3, lastIndex - 3, lastIndex, [[lastIndex - 2, 4]], lastIndex - 2, lastIndex - 2, true],
      [
        lastTerm - 2,
        lastIndex - 2,
        lastIndex,
        [
          [lastIndex - 1, 4],
          [lastIndex, 4],
        ],
        lastIndex,
        lastIndex,
        false,
      ],
    ];
    cases.forEach(([logTerm, index, committed, input, wlast, wcommit, wpanic], k) => {
      const log = newLog();
      log.append(ents([1, 1], [2, 2], [3, 3]));
      log.committed = commit;
      if (wpanic) {
        assert.throws(
          () => log.maybeAppend(index, logTerm, committed, ents(...input)),
          RaftPanicError,
          `#${k}`,
        );
        return;
      }
      const got = log.maybeAppend(index, logTerm, committed, ents(...input));
      assert.equal(got, wlast, `#${k} last new index`);
      assert.equal(log.committed, wcommit, `#${k} committed`);
      if (got !== undefined && input.length > 0) {
        const li = log.lastIndex();
        assert.deepEqual(it2(log.slice(li - input.length + 1, li + 1, noLimit)), input, `#${k} entries`);
      }
    });
  });

  it("keeps terms and unstable entries across a storage compaction", () => {
    const storage = new MemoryStorage();
    for (let i = 1; i <= 750; i++) storage.append([ent(i, i)]);
    const log = newLog(storage);
    for (let i = 750; i < 1000; i++) log.append([ent(i + 1, i + 1)]);
    assert.equal(log.maybeCommit(1000, 1000), true);
    log.appliedTo(log.committed);
    storage.compact(500);
    assert.equal(log.lastIndex(), 1000);
    for (let j = 500; j <= 1000; j++) {
      assert.equal(log.term(j), j);
      assert.equal(log.matchTerm(j, j), true);
    }
    const unstable = log.unstableEntries();
    assert.equal(unstable.length, 250);
    assert.equal(unstable[0].index, 751);
    const prev = log.lastIndex();
    log.append([ent(prev + 1, prev + 1)]);
    assert.equal(log.lastIndex(), prev + 1);
    assert.equal(log.entries(log.lastIndex(), noLimit).length, 1);
  });

  it("hasNextEnts and nextEnts hand out committed, unapplied entries", () => {
    const cases: [number, boolean, [number, number][]][] = [
      [
        0,
        true,
        [
          [4, 1],
          [5, 1],
        ],
      ],
      [
        3,
        true,
        [
          [4, 1],
          [5, 1],
        ],
      ],
      [4, true, [[5, 1]]],
      [5, false, []],
    ];
    for (const [applied, hasNext, want] of cases) {
      const storage = new MemoryStorage();
      storage.applySnapshot(snap(3, 1));
      const log = newLog(storage);
      log.append(ents([4, 1], [5, 1], [6, 1]));
      log.maybeCommit(5, 1);
      log.appliedTo(applied);
      assert.equal(log.hasNextEnts(), hasNext, `applied=${applied}`);
      assert.deepEqual(it2(log.nextEnts()), want, `applied=${applied}`);
    }
  });

  it("unstableEntries and stableTo move the unstable offset", () => {
    const prev = ents([1, 1], [2, 2]);
    for (const [stableCount, want] of [
      [2, []],
      [0, it2(prev)],
    ] as [number, [number, number][]][]) {
      const storage = new MemoryStorage();
      storage.append(prev.slice(0, stableCount));
      const log = newLog(storage);
      log.append(prev.slice(stableCount));
      const got = it2(log.unstableEntries());
      const n = log.unstableEntries().length;
      if (n > 0) {
        const last = log.unstableEntries()[n - 1];
        log.stableTo(last.index, last.term);
      }
      assert.deepEqual(got, want);
      assert.equal(log.unstable.offset, 3);
    }
  });

  it("stableTo ignores a position whose term changed", () => {
    const cases: [[number, number][], number, number, number][] = [
      [[], 1, 1, 1],
      [
        [
          [1, 1],
          [2, 2],
        ],
        2,
        2,
        3,
      ],
      [
        [
          [1, 1],
          [2, 2],
        ],
        2,
        1,
        1,
      ], // wrong term
      [
        [
          [1, 1],
          [2, 2],
        ],
        3,
        1,
        1,
      ], // past the end
    ];
    for (const [input, i, t, woff] of cases) {
      const log = newLog();
      log.append(ents(...input));
      log.stableTo(i, t);
      assert.equal(log.unstable.offset, woff, `stableTo(${i}, ${t})`);
    }
  });

  it("commitTo never decreases and panics past the last index", () => {
    for (const [commit, want, panics] of [
      [3, 3, false],
      [1, 2, false],
      [4, 0, true],
    ] as [number, number, boolean][]) {
      const log = newLog();
      log.append(ents([1, 1], [2, 2], [3, 3]));
      log.committed = 2;
      if (panics) assert.throws(() => log.commitTo(commit), RaftPanicError);
      else {
        log.commitTo(commit);
        assert.equal(log.committed, want);
      }
    }
  });

  it("appliedTo must stay within [applied, committed]", () => {
    const log = newLog();
    log.append(ents([1, 1], [2, 2], [3, 3]));
    log.commitTo(2);
    log.appliedTo(2);
    assert.equal(log.applied, 2);
    assert.throws(() => log.appliedTo(3), RaftPanicError);
    assert.throws(() => log.appliedTo(1), RaftPanicError);
  });

  it("term: zero outside the log, compacted below the first index", () => {
    const offset = 100;
    const num = 100;
    const storage = new MemoryStorage();
    storage.applySnapshot(snap(offset, 1));
    const log = newLog(storage);
    for (let i = 1; i < num; i++) log.append([ent(offset + i, i)]);
    assert.equal(log.term(offset - 1), 0);
    assert.equal(log.term(offset), 1);
    assert.equal(log.term(offset + num / 2), num / 2);
    assert.equal(log.term(offset + num - 1), num - 1);
    assert.equal(log.term(offset + num), 0);
  });

  it("term with an unstable snapshot", () => {
    const storage = new MemoryStorage();
    storage.applySnapshot(snap(100, 1));
    const log = newLog(storage);
    log.restore(snap(102, 2));
    assert.equal(log.term(100), 0); // below the dummy of the unstable snapshot
    assert.equal(log.term(101), 0);
    assert.equal(log.term(102), 2);
    assert.equal(log.term(103), 0);
    assert.equal(log.firstIndex(), 103);
    assert.equal(log.lastIndex(), 102);
    assert.equal(log.committed, 102);
  });

  it("termOrZero and matchTerm treat compacted entries as unknown", () => {
    const storage = new MemoryStorage();
    storage.append(ents([1, 1], [2, 1], [3, 2], [4, 2]));
    const log = newLog(storage);
    storage.compact(3);
    // Below the dummy position the term reads as 0 (etcd returns no error there).
    assert.equal(log.term(2), 0);
    assert.equal(log.term(3), 2);
    assert.equal(log.termOrZero(2), 0);
    assert.equal(log.matchTerm(2, 1), false);
    assert.equal(log.matchTerm(3, 2), true);
  });

  it("slice: bounds, compaction and size limits across stable and unstable parts", () => {
    const offset = 100;
    const num = 100;
    const last = offset + num;
    const half = offset + num / 2;
    const storage = new MemoryStorage();
    storage.applySnapshot(snap(offset, 0));
    for (let i = 1; i < num / 2; i++) storage.append([ent(offset + i, offset + i)]);
    const log = newLog(storage);
    for (let i = num / 2; i < num; i++) log.append([ent(offset + i, offset + i)]);
    const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, k) => lo + k);
    const halfSize = entrySize(ent(half, half));
    // from, to, limit, want indexes; "compacted" or "panic"
    const cases: [number, number, number, number[] | "compacted" | "panic"][] = [
      [offset - 1, offset + 1, noLimit, "compacted"],
      [offset, offset + 1, noLimit, "compacted"],
      [half - 1, half + 1, noLimit, [half - 1, half]],
      [half, half + 1, noLimit, [half]],
      [last - 1, last, noLimit, [last - 1]],
      [last, last + 1, noLimit, "panic"],
      [half - 1, half + 1, 0, [half - 1]],
      [half - 1, half + 1, halfSize + 1, [half - 1]],
      [half - 2, half + 1, halfSize + 1, [half - 2]],
      [half - 1, half + 1, halfSize * 2, [half - 1, half]],
      [half - 1, half + 2, halfSize * 3, [half - 1, half, half + 1]],
      [half, half + 2, halfSize, [half]],
      [half, half + 2, halfSize * 2, [half, half + 1]],
      [offset + 1, last, noLimit, range(offset + 1, last)],
    ];
    for (const [lo, hi, limit, want] of cases) {
      const label = `slice(${lo}, ${hi}, ${limit})`;
      if (want === "compacted") assert.throws(() => log.slice(lo, hi, limit), CompactedError, label);
      else if (want === "panic") assert.throws(() => log.slice(lo, hi, limit), RaftPanicError, label);
      else
        assert.deepEqual(
          log.slice(lo, hi, limit).map((e) => e.index),
          want,
          label,
        );
    }
    assert.throws(() => log.slice(half + 1, half, noLimit), RaftPanicError);
  });

  it("restore sets committed and the unstable offset from the snapshot", () => {
    const storage = new MemoryStorage();
    storage.applySnapshot(snap(1000, 1000));
    const log = newLog(storage);
    assert.equal(log.allEntries().length, 0);
    assert.equal(log.firstIndex(), 1001);
    assert.equal(log.committed, 1000);
    assert.equal(log.unstable.offset, 1001);
    assert.equal(log.term(1000), 1000);
  });

  it("compaction: entries before the compact index become unavailable", () => {
    const cases: [number, number[], number[]][] = [
      // last index, compactions, remaining lengths after each
      [1000, [1001], []],
      [1000, [300, 500, 800, 900], [700, 500, 200, 100]],
      [1000, [300, 299], [700]],
    ];
    for (const [lastIndex, compacts, wleft] of cases) {
      const storage = new MemoryStorage();
      for (let i = 1; i <= lastIndex; i++) storage.append([ent(i, 0)]);
      const log = newLog(storage);
      log.maybeCommit(lastIndex, 0);
      log.appliedTo(log.committed);
      compacts.forEach((c, k) => {
        if (c > lastIndex) {
          assert.throws(() => storage.compact(c), RaftPanicError);
          return;
        }
        if (k >= wleft.length) {
          assert.throws(() => storage.compact(c), CompactedError);
          return;
        }
        storage.compact(c);
        assert.equal(log.allEntries().length, wleft[k]);
      });
    }
  });
});

describe("unstable", () => {
  const sn = snap(4, 1);
  it("maybeFirstIndex / maybeLastIndex / maybeTerm", () => {
    const u = new Unstable(5, discardLogger);
    u.entries = ents([5, 1]);
    assert.equal(u.maybeFirstIndex(), undefined);
    assert.equal(u.maybeLastIndex(), 5);
    assert.equal(u.maybeTerm(5), 1);
    assert.equal(u.maybeTerm(4), undefined);
    assert.equal(u.maybeTerm(6), undefined);
    u.snapshot = sn;
    assert.equal(u.maybeFirstIndex(), 5);
    assert.equal(u.maybeTerm(4), 1);
    u.entries = [];
    assert.equal(u.maybeLastIndex(), 4);
    assert.equal(u.maybeTerm(5), undefined);
  });

  it("restore drops the entries and keeps the snapshot", () => {
    const u = new Unstable(5, discardLogger);
    u.entries = ents([5, 1]);
    u.snapshot = sn;
    const s = snap(6, 2);
    u.restore(s);
    assert.equal(u.offset, 7);
    assert.equal(u.entries.length, 0);
    assert.equal(u.snapshot, s);
  });

  it("stableTo only moves on a matching unstable entry", () => {
    // entries (offset), snapshot?, stableTo(i, t), want offset, want length
    const cases: [[number, number][], number, boolean, number, number, number, number][] = [
      [[], 0, false, 5, 1, 0, 0],
      [[[5, 1]], 5, false, 5, 1, 6, 0],
      [
        [
          [5, 1],
          [6, 1],
        ],
        5,
        false,
        5,
        1,
        6,
        1,
      ],
      [[[6, 2]], 6, false, 6, 1, 6, 1], // term mismatch
      [[[5, 1]], 5, false, 4, 1, 5, 1], // old index
      [[[5, 1]], 5, true, 4, 1, 5, 1], // matches the snapshot only
      [[[5, 1]], 5, false, 6, 1, 5, 1], // past the end
    ];
    for (const [es, offset, withSnap, i, t, woff, wlen] of cases) {
      const u = new Unstable(offset, discardLogger);
      u.entries = ents(...es);
      if (withSnap) u.snapshot = sn;
      u.stableTo(i, t);
      assert.equal(u.offset, woff);
      assert.equal(u.entries.length, wlen);
    }
  });

  it("truncateAndAppend appends, replaces or truncates", () => {
    const cases: [[number, number][], number, [number, number][], number, [number, number][]][] = [
      [
        [[5, 1]],
        5,
        [
          [6, 1],
          [7, 1],
        ],
        5,
        [
          [5, 1],
          [6, 1],
          [7, 1],
        ],
      ],
      [
        [[5, 1]],
        5,
        [
          [5, 2],
          [6, 2],
        ],
        5,
        [
          [5, 2],
          [6, 2],
        ],
      ],
      [
        [[5, 1]],
        5,
        [
          [4, 2],
          [5, 2],
          [6, 2],
        ],
        4,
        [
          [4, 2],
          [5, 2],
          [6, 2],
        ],
      ],
      [
        [
          [5, 1],
          [6, 1],
          [7, 1],
        ],
        5,
        [[6, 2]],
        5,
        [
          [5, 1],
          [6, 2],
        ],
      ],
      [
        [
          [5, 1],
          [6, 1],
          [7, 1],
        ],
        5,
        [
          [7, 2],
          [8, 2],
        ],
        5,
        [
          [5, 1],
          [6, 1],
          [7, 2],
          [8, 2],
        ],
      ],
    ];
    for (const [es, offset, toAppend, woff, want] of cases) {
      const u = new Unstable(offset, discardLogger);
      u.entries = ents(...es);
      const input = ents(...toAppend);
      u.truncateAndAppend(input);
      assert.equal(u.offset, woff);
      assert.deepEqual(it2(u.entries), want);
      // The unstable tail never aliases the caller's array.
      assert.notEqual(u.entries, input);
    }
  });
});

describe("raftLog.slice with a storage that ignores the size limit", () => {
  class GreedyStorage extends MemoryStorage {
    override entries(lo: number, hi: number): Entry[] {
      return super.entries(lo, hi, noLimit);
    }
  }
  it("trims the stored part and gives the unstable part only the remaining budget", () => {
    const storage = new GreedyStorage();
    storage.append(ents([1, 1], [2, 1], [3, 1]));
    const log = newLog(storage);
    log.append(ents([4, 1], [5, 1]));
    const sz = entrySize(ent(1, 1));
    assert.deepEqual(
      log.slice(1, 6, 2 * sz).map((e) => e.index),
      [1, 2],
    );
    assert.deepEqual(
      log.slice(2, 6, 3 * sz).map((e) => e.index),
      [2, 3, 4],
    );
    assert.deepEqual(
      log.slice(1, 6, 0).map((e) => e.index),
      [1],
    );
    assert.deepEqual(
      log.slice(4, 6, 0).map((e) => e.index),
      [4],
    );
    assert.equal(log.slice(1, 6, noLimit).length, 5);
  });
});
