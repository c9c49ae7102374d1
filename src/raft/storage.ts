// The Storage seam (what raft reads of the persisted log) and an in-memory implementation.
import type { ConfState, Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { EntryType } from "../gen/raftpb/raft.js";
import { RaftPanicError } from "./logger.js";
import { countWithinSize, emptyBuffer, emptyConfState, emptySnapshot, None } from "./util.js";

/** The requested index is below the first available one (it went into a snapshot). */
export class CompactedError extends Error {
  override name = "CompactedError";
  constructor() {
    super("requested index is unavailable due to compaction");
  }
}

/** A snapshot was requested or applied at an index older than the current one. */
export class SnapOutOfDateError extends Error {
  override name = "SnapOutOfDateError";
  constructor() {
    super("requested index is older than the existing snapshot");
  }
}

/** The requested entry is not (yet) in the storage. */
export class UnavailableError extends Error {
  override name = "UnavailableError";
  constructor() {
    super("requested entry at index is unavailable");
  }
}

/** The storage is still preparing a snapshot; raft retries later. */
export class SnapshotTemporarilyUnavailableError extends Error {
  override name = "SnapshotTemporarilyUnavailableError";
  constructor() {
    super("snapshot is temporarily unavailable");
  }
}

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

/**
 * What raft reads of the stable log. Failures are thrown: CompactedError, UnavailableError,
 * SnapshotTemporarilyUnavailableError; anything else is fatal to raft.
 */
export interface Storage {
  initialState(): InitialState;
  /** Entries in [lo, hi), limited to maxSize encoded bytes but at least one entry. A fresh array. */
  entries(lo: number, hi: number, maxSize: number): Entry[];
  /** Term of entry i, for i in [firstIndex()-1, lastIndex()]. */
  term(i: number): number;
  lastIndex(): number;
  firstIndex(): number;
  snapshot(): Snapshot;
}

function dummyEntry(index: number, term: number): Entry {
  return { type: EntryType.EntryNormal, term, index, data: emptyBuffer };
}

/**
 * Storage backed by an array. ents[0] is a dummy entry holding the index and term of the last
 * compacted position, so that ents[i] is at log index ents[0].index + i.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: None, commit: 0 };
  private snap: Snapshot = emptySnapshot();
  private ents: Entry[] = [dummyEntry(0, 0)];

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata?.confState ?? emptyConfState() };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.ents[0].index;
    if (lo <= offset) throw new CompactedError();
    if (hi > this.lastIndex() + 1) {
      throw new RaftPanicError(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    }
    if (this.ents.length === 1) throw new UnavailableError();
    const start = lo - offset;
    const n = countWithinSize(this.ents, start, hi - offset, maxSize, 0, true);
    return this.ents.slice(start, start + n);
  }

  term(i: number): number {
    const offset = this.ents[0].index;
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.ents.length) throw new UnavailableError();
    return this.ents[i - offset].term;
  }

  lastIndex(): number {
    return this.ents[0].index + this.ents.length - 1;
  }

  firstIndex(): number {
    return this.ents[0].index + 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replaces the whole content with the snapshot. Throws SnapOutOfDateError for an older one. */
  applySnapshot(snap: Snapshot): void {
    const cur = this.snap.metadata?.index ?? 0;
    const idx = snap.metadata?.index ?? 0;
    if (cur >= idx) throw new SnapOutOfDateError();
    this.snap = snap;
    this.ents = [dummyEntry(idx, snap.metadata?.term ?? 0)];
  }

  /**
   * Records a snapshot of the state machine at index i (which must be in the log); `cs`, when given,
   * replaces the recorded configuration. Used by the application before compact().
   */
  createSnapshot(i: number, cs: ConfState | undefined, data: Buffer): Snapshot {
    const prev = this.snap.metadata ?? { confState: emptyConfState(), index: 0, term: 0 };
    if (i <= prev.index) throw new SnapOutOfDateError();
    const offset = this.ents[0].index;
    if (i > this.lastIndex()) {
      throw new RaftPanicError(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    }
    this.snap = {
      data,
      metadata: { index: i, term: this.ents[i - offset].term, confState: cs ?? prev.confState },
    };
    return this.snap;
  }

  /** Discards the entries before compactIndex; compactIndex becomes the new dummy position. */
  compact(compactIndex: number): void {
    const offset = this.ents[0].index;
    if (compactIndex <= offset) throw new CompactedError();
    if (compactIndex > this.lastIndex()) {
      throw new RaftPanicError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const i = compactIndex - offset;
    const kept = this.ents[i];
    this.ents.splice(0, i);
    this.ents[0] = dummyEntry(kept.index, kept.term);
  }

  /**
   * Appends entries that must be contiguous with (or overlap) the stored ones; an overlap replaces
   * the stored suffix. Entries below the first index are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    let start = 0;
    if (first > entries[0].index) start = first - entries[0].index;
    const offset = entries[start].index - this.ents[0].index;
    if (this.ents.length > offset) {
      this.ents.length = offset;
    } else if (this.ents.length < offset) {
      throw new RaftPanicError(
        `missing log entry [last: ${this.lastIndex()}, append at: ${entries[start].index}]`,
      );
    }
    for (let k = start; k < entries.length; k++) this.ents.push(entries[k]);
  }
}
