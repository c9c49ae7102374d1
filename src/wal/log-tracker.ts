import type { LogSummary } from "./segment-header.js";

/**
 * Where the stored log stands, with the term and the segment of every stored entry: what a save is
 * checked against, and what tells purge which segments no longer hold a live entry. The writer and
 * the replay at open drive it through the same transitions, so both always agree.
 */
export class LogTracker implements LogSummary {
  firstIndex = 0;
  lastIndex = 0;
  lastTerm = 0;
  snapshotIndex = 0;
  snapshotTerm = 0;
  /** Commit index of the last written hard state. */
  commit = 0;
  /** Term and segment of entry firstIndex + k. NaN and -1 for entries a replay has not seen (see startFrom). */
  private terms: number[] = [];
  private segments: number[] = [];
  /** Live entries per segment sequence number. */
  private live = new Map<number, number>();

  /** Replay begins at a segment header: the entries it summarises are unknown until records bring them. */
  startFrom(summary: LogSummary, commit: number): void {
    this.snapshotIndex = summary.snapshotIndex;
    this.snapshotTerm = summary.snapshotTerm;
    this.firstIndex = summary.firstIndex;
    this.lastIndex = summary.lastIndex;
    this.lastTerm = summary.lastTerm;
    this.commit = commit;
    const count = this.lastIndex > 0 ? this.lastIndex - this.firstIndex + 1 : 0;
    this.terms = new Array<number>(count).fill(Number.NaN);
    this.segments = new Array<number>(count).fill(-1);
    this.live.clear();
  }

  /** Term of a stored entry; undefined when it is not stored (or not known). */
  term(index: number): number | undefined {
    if (this.lastIndex === 0 || index < this.firstIndex || index > this.lastIndex) return undefined;
    const term = this.terms[index - this.firstIndex];
    return Number.isNaN(term) ? undefined : term;
  }

  /** Stores entry `index` written into segment `seq`; an index already stored replaces it and all after it. */
  append(index: number, term: number, seq: number): void {
    if (this.lastIndex > 0 && index <= this.lastIndex) this.truncateFrom(index);
    if (this.lastIndex === 0) this.firstIndex = index;
    this.terms.push(term);
    this.segments.push(seq);
    this.live.set(seq, (this.live.get(seq) ?? 0) + 1);
    this.lastIndex = index;
    this.lastTerm = term;
  }

  /** A newer snapshot becomes the base of the log, dropping the stored entries when they belong elsewhere. */
  restoreSnapshot(index: number, term: number, dropLog: boolean): void {
    if (dropLog) this.dropAll();
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Drops entries before keepFrom (all of them when keepFrom is past the last). */
  purgeBefore(keepFrom: number): void {
    if (this.lastIndex === 0 || keepFrom <= this.firstIndex) return;
    if (keepFrom > this.lastIndex) {
      this.dropAll();
      return;
    }
    const k = keepFrom - this.firstIndex;
    this.release(0, k);
    this.terms.splice(0, k);
    this.segments.splice(0, k);
    this.firstIndex = keepFrom;
  }

  /** Live entries in segment seq. */
  liveIn(seq: number): number {
    return this.live.get(seq) ?? 0;
  }

  private truncateFrom(index: number): void {
    if (index <= this.firstIndex) {
      this.dropAll();
      return;
    }
    const k = index - this.firstIndex;
    this.release(k, this.terms.length);
    this.terms.length = k;
    this.segments.length = k;
    this.lastIndex = index - 1;
    this.lastTerm = this.terms[k - 1];
  }

  private dropAll(): void {
    this.release(0, this.terms.length);
    this.terms = [];
    this.segments = [];
    this.firstIndex = this.lastIndex = this.lastTerm = 0;
  }

  private release(from: number, to: number): void {
    for (let k = from; k < to; k++) {
      const seq = this.segments[k];
      if (seq >= 0) this.live.set(seq, (this.live.get(seq) ?? 1) - 1);
    }
  }
}
