// The not-yet-persisted tail of the log (and possibly an incoming snapshot). Entries leave it once
// the application reports them stable; `offset` is the log index of entries[0].
import type { Entry, Snapshot } from "../gen/raftpb/raft.js";
import type { RaftLogger } from "./logger.js";
import { countWithinSize } from "./util.js";

export class Unstable {
  /** An incoming snapshot not yet written to storage. */
  snapshot: Snapshot | undefined = undefined;
  /** Entries not yet written to storage; entries[k] has index offset + k. */
  entries: Entry[] = [];
  offset: number;
  readonly logger: RaftLogger;

  constructor(offset: number, logger: RaftLogger) {
    this.offset = offset;
    this.logger = logger;
  }

  /** The first log index, known only when a snapshot is pending. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot !== undefined ? this.snapshot.metadata!.index + 1 : undefined;
  }

  /** The last log index, known when there are unstable entries or a pending snapshot. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length !== 0) return this.offset + this.entries.length - 1;
    if (this.snapshot !== undefined) return this.snapshot.metadata!.index;
    return undefined;
  }

  /** The term of entry i if this tail (or its snapshot) knows it. */
  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const md = this.snapshot?.metadata;
      if (md !== undefined && md.index === i) return md.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset].term;
  }

  /** Drops the entries up to i once they are persisted, unless i was since overwritten. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    // Below offset the term matched the snapshot: nothing of the entries is stable then.
    if (gt === t && i >= this.offset) {
      this.entries.splice(0, i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata!.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata!.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends ents, first truncating whatever they overwrite. */
  truncateAndAppend(ents: readonly Entry[]): void {
    const after = ents[0].index;
    if (after === this.offset + this.entries.length) {
      for (let k = 0; k < ents.length; k++) this.entries.push(ents[k]);
    } else if (after <= this.offset) {
      this.logger.info(`replace the unstable entries from index ${after}`);
      // The whole tail is replaced: take our own copy of the caller's array.
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.logger.info(`truncate the unstable entries before index ${after}`);
      this.mustCheckOutOfBounds(this.offset, after);
      this.entries.length = after - this.offset;
      for (let k = 0; k < ents.length; k++) this.entries.push(ents[k]);
    }
  }

  /** A copy of the entries in [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }

  /**
   * A copy of the entries in [lo, hi) that fit in maxSize bytes after `used` bytes already taken
   * (at least one when `atLeastOne`).
   */
  sliceWithinSize(lo: number, hi: number, maxSize: number, used: number, atLeastOne: boolean): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    const start = lo - this.offset;
    const n = countWithinSize(this.entries, start, hi - this.offset, maxSize, used, atLeastOne);
    return this.entries.slice(start, start + n);
  }

  private mustCheckOutOfBounds(lo: number, hi: number): void {
    if (lo > hi) this.logger.panic(`invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + this.entries.length;
    if (lo < this.offset || hi > upper) {
      this.logger.panic(`unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
  }
}
