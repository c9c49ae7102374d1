// A set of voters deciding by simple majority: the building block of (joint) Raft configurations.
import { type AckedIndexer, compareIds, VoteResult } from "./types.js";

// Scratch space for committedIndex, so the hot path (every MsgAppResp) allocates nothing. Grown on demand.
let scratch = new Float64Array(16);
let scratchBusy = false;

export class MajorityConfig {
  ids: Set<bigint>;

  constructor(ids?: Iterable<bigint>) {
    this.ids = new Set(ids ?? []);
  }

  get size(): number {
    return this.ids.size;
  }

  /** "(1 2 3)": the ids in ascending order, in decimal as etcd prints them. */
  toString(): string {
    return `(${this.slice().join(" ")})`;
  }

  /** The ids in ascending order. */
  slice(): bigint[] {
    return [...this.ids].sort(compareIds);
  }

  clone(): MajorityConfig {
    return new MajorityConfig(this.ids);
  }

  /**
   * A table of the acknowledged index of every voter, with a bar per voter that grows with its rank among
   * the indexes (equal to etcd's Describe, used by the data-driven tests).
   */
  describe(l: AckedIndexer): string {
    const n = this.ids.size;
    if (n === 0) return "<empty majority quorum>";
    const rows: { id: bigint; idx: number; ok: boolean; bar: number }[] = [];
    for (const id of this.ids) {
      const idx = l.ackedIndex(id);
      rows.push({ id, idx: idx ?? 0, ok: idx !== undefined, bar: 0 });
    }
    rows.sort((a, b) => (a.idx === b.idx ? compareIds(a.id, b.id) : a.idx - b.idx));
    // The i-th smallest index gets a bar of length i; etcd only sets it where the index strictly grows.
    for (let i = 1; i < rows.length; i++) {
      if (rows[i - 1].idx < rows[i].idx) rows[i].bar = i;
    }
    rows.sort((a, b) => compareIds(a.id, b.id));
    let out = `${" ".repeat(n)}    idx\n`;
    for (const r of rows) {
      out += r.ok ? `${"x".repeat(r.bar)}>${" ".repeat(n - r.bar)}` : `?${" ".repeat(n)}`;
      out += ` ${String(r.idx).padStart(5)}    (id=${r.id})\n`;
    }
    return out;
  }

  /**
   * The largest index acknowledged by a majority of the voters. Voters that have not reported count as 0.
   * An empty configuration places no constraint: Infinity (so a joint config with an empty half behaves
   * like its other half). The AckedIndexer must not call back into committedIndex.
   */
  committedIndex(l: AckedIndexer): number {
    const n = this.ids.size;
    if (n === 0) return Number.POSITIVE_INFINITY;
    let srt: Float64Array;
    const borrowed = !scratchBusy;
    if (borrowed) {
      if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
      srt = scratch;
      scratchBusy = true;
    } else {
      srt = new Float64Array(n);
    }
    try {
      let k = 0;
      for (const id of this.ids) srt[k++] = l.ackedIndex(id) ?? 0;
      // Insertion sort: n is the number of voters, small in practice.
      for (let i = 1; i < n; i++) {
        const v = srt[i];
        let j = i - 1;
        while (j >= 0 && srt[j] > v) {
          srt[j + 1] = srt[j];
          j--;
        }
        srt[j + 1] = v;
      }
      // The quorum is n/2+1 voters; the index at that distance from the top is held by all of them.
      return srt[n - (Math.floor(n / 2) + 1)];
    } finally {
      if (borrowed) scratchBusy = false;
    }
  }

  /**
   * Won when a majority voted yes, lost when a majority can no longer vote yes, pending otherwise.
   * An empty configuration wins by convention (a joint config with an empty half behaves like its other half).
   */
  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    const n = this.ids.size;
    if (n === 0) return VoteResult.VoteWon;
    let yes = 0;
    let missing = 0;
    for (const id of this.ids) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const quorum = Math.floor(n / 2) + 1;
    if (yes >= quorum) return VoteResult.VoteWon;
    if (yes + missing >= quorum) return VoteResult.VotePending;
    return VoteResult.VoteLost;
  }
}
