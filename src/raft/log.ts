// The raft log as the state machine sees it: stable entries in Storage followed by the unstable
// tail, plus the commit and apply cursors.
import type { Entry, Snapshot } from "../gen/raftpb/raft.js";
import { Unstable } from "./log_unstable.js";
import type { RaftLogger } from "./logger.js";
import { CompactedError, type Storage, UnavailableError } from "./storage.js";
import { entrySize, noLimit } from "./util.js";

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be stored on a quorum. */
  committed: number;
  /** Highest index handed to the application to apply. Invariant: applied <= committed. */
  applied: number;
  readonly logger: RaftLogger;
  /** Size limit of the committed entries returned by one nextEnts() call. */
  readonly maxNextEntsSize: number;

  constructor(storage: Storage, logger: RaftLogger, maxNextEntsSize: number = noLimit) {
    this.storage = storage;
    this.logger = logger;
    this.maxNextEntsSize = maxNextEntsSize;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1, logger);
    // Everything up to the last compaction is committed and applied by definition.
    this.committed = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, unstable.offset=${this.unstable.offset}, len(unstable.Entries)=${this.unstable.entries.length}`;
  }

  /**
   * Appends ents after (index, logTerm) if that entry matches, truncating conflicting entries, and
   * advances the commit index. Returns the last index of the new entries, or undefined on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        this.logger.panic(`entry ${ci} conflict with committed entry [committed(${this.committed})]`);
      }
      const start = ci - (index + 1);
      this.append(start === 0 ? ents : ents.slice(start));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries to the unstable tail; returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    if (after < this.committed) {
      this.logger.panic(`after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of ents that is not in the log with the same term (a conflict or
   * a new entry), or 0 when all of them are already there.
   */
  findConflict(ents: readonly Entry[]): number {
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k];
      if (!this.matchTerm(e.index, e.term)) {
        if (e.index <= this.lastIndex()) {
          this.logger.info(
            `found conflict at index ${e.index} [existing term: ${this.termOrZero(e.index)}, conflicting term: ${e.term}]`,
          );
        }
        return e.index;
      }
    }
    return 0;
  }

  /** The unstable tail itself (not a copy): callers that keep it must copy. */
  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet handed out for applying (size-limited), as a fresh array. */
  nextEnts(): Entry[] {
    const off = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 > off) {
      try {
        return this.slice(off, this.committed + 1, this.maxNextEntsSize);
      } catch (err) {
        this.logger.panic(`unexpected error when getting unapplied entries (${(err as Error).message})`);
      }
    }
    return [];
  }

  hasNextEnts(): boolean {
    const off = Math.max(this.applied + 1, this.firstIndex());
    return this.committed + 1 > off;
  }

  /** The pending incoming snapshot, or the storage's. May throw SnapshotTemporarilyUnavailableError. */
  snapshot(): Snapshot {
    if (this.unstable.snapshot !== undefined) return this.unstable.snapshot;
    return this.storage.snapshot();
  }

  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i !== undefined ? i : this.storage.firstIndex();
  }

  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    return i !== undefined ? i : this.storage.lastIndex();
  }

  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      if (this.lastIndex() < toCommit) {
        this.logger.panic(
          `tocommit(${toCommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
        );
      }
      this.committed = toCommit;
    }
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (this.committed < i || i < this.applied) {
      this.logger.panic(
        `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
      );
    }
    this.applied = i;
  }

  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  lastTerm(): number {
    try {
      return this.term(this.lastIndex());
    } catch (err) {
      return this.logger.panic(`unexpected error when getting the last term (${(err as Error).message})`);
    }
  }

  /**
   * The term of entry i. Outside [firstIndex()-1, lastIndex()] it is 0; a compacted or missing
   * entry throws CompactedError / UnavailableError.
   */
  term(i: number): number {
    const dummyIndex = this.firstIndex() - 1;
    if (i < dummyIndex || i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    return this.storage.term(i);
  }

  /** term(i), with a compacted entry reading as term 0. */
  termOrZero(i: number): number {
    try {
      return this.term(i);
    } catch (err) {
      if (err instanceof CompactedError) return 0;
      return this.logger.panic(`unexpected error (${(err as Error).message})`);
    }
  }

  /** Entries from i to the end, size-limited; empty past the end. */
  entries(i: number, maxSize: number): Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxSize);
  }

  /** Every entry from the first index on (used by tests). */
  allEntries(): Entry[] {
    for (;;) {
      try {
        return this.entries(this.firstIndex(), noLimit);
      } catch (err) {
        if (!(err instanceof CompactedError)) throw err;
      }
    }
  }

  /** Whether a candidate's log ending at (lasti, term) is at least as up to date as ours. */
  isUpToDate(lasti: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  matchTerm(i: number, term: number): boolean {
    try {
      return this.term(i) === term;
    } catch (err) {
      if (err instanceof CompactedError || err instanceof UnavailableError) return false;
      throw err;
    }
  }

  /** Commits up to maxIndex if that entry is of the given term (raft commits only its own term). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  restore(s: Snapshot): void {
    const md = s.metadata!;
    this.logger.info(
      `log [${this.toString()}] starts to restore snapshot [index: ${md.index}, term: ${md.term}]`,
    );
    this.committed = md.index;
    this.unstable.restore(s);
  }

  /**
   * Entries in [lo, hi) limited to maxSize, as a fresh array. Throws CompactedError when lo is below
   * the first index.
   */
  slice(lo: number, hi: number, maxSize: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    const uoff = this.unstable.offset;
    let ents: Entry[] | undefined;
    if (lo < uoff) {
      const storedHi = Math.min(hi, uoff);
      try {
        ents = this.storage.entries(lo, storedHi, maxSize);
      } catch (err) {
        if (err instanceof CompactedError) throw err;
        if (err instanceof UnavailableError) {
          this.logger.panic(`entries[${lo}:${storedHi}) is unavailable from storage`);
        }
        throw err;
      }
      // The storage stopped early because of the size limit: that is the answer.
      if (ents.length < storedHi - lo) return ents;
    }
    // Size of what is taken so far; a storage that ignored the limit is trimmed here.
    let used = 0;
    if (ents !== undefined && maxSize !== noLimit) {
      for (let k = 0; k < ents.length; k++) {
        used += entrySize(ents[k]);
        if (used > maxSize && k > 0) {
          ents.length = k;
          return ents;
        }
      }
    }
    if (hi > uoff) {
      if (ents === undefined || ents.length === 0) {
        return this.unstable.sliceWithinSize(Math.max(lo, uoff), hi, maxSize, 0, true);
      }
      // The stored part fit entirely: the unstable part gets what is left of the budget.
      const tail = this.unstable.sliceWithinSize(uoff, hi, maxSize, used, false);
      for (let k = 0; k < tail.length; k++) ents.push(tail[k]);
    }
    return ents ?? [];
  }

  private mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) this.logger.panic(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new CompactedError();
    const li = this.lastIndex();
    if (hi > li + 1) this.logger.panic(`slice[${lo},${hi}) out of bound [${fi},${li}]`);
  }
}
