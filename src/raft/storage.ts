// The Storage seam (what raft reads of the persisted log) and an in-memory implementation.
import type { ConfState, Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { EntryType } from "../gen/raftpb/raft.js";
import { RaftPanicError } from "./logger.js";
import { emptyBuffer, emptyConfState, emptySnapshot, encodedEntrySize, None, noLimit } from "./util.js";

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

/** Entries the packed log has room for at first; its arrays double as it grows. */
const INITIAL_CAPACITY = 256;

/**
 * Storage held in memory. The log is packed: each entry's term, type and data (the data's backing
 * buffer, offset and length) sit in arrays indexed by position, and an Entry object is made when it
 * is read. A log keeps up to --snapshot-count entries (100,000 by default), and an object and a
 * Buffer view per entry, each kept that long, were what scavenges copied most: every write left both
 * in the old generation. The entries after `packedTo` (not yet applied) are also kept as the objects
 * appended, so that the apply reads the very objects proposed (and their data buffers, by which the
 * server finds its own proposals' decoded requests).
 *
 * Position `head` holds a dummy entry: the index and term of the last compacted position, so that
 * log index `dummyIndex + k` is at position `head + k`, for k < `count`.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: None, commit: 0 };
  private snap: Snapshot = emptySnapshot();
  private dummyIndex = 0;
  private head = 0;
  private count = 1;
  private terms = new Float64Array(INITIAL_CAPACITY);
  private types = new Uint8Array(INITIAL_CAPACITY);
  /** The data's backing buffer (undefined for no data), offset into it and length. */
  private dataBuffers: Array<ArrayBufferLike | undefined> = new Array(INITIAL_CAPACITY).fill(undefined);
  private dataOffsets = new Float64Array(INITIAL_CAPACITY);
  private dataLengths = new Float64Array(INITIAL_CAPACITY);
  /** The last index whose entry needs no object of its own any more (see packTo). */
  private packedTo = 0;
  /** The entries appended after packedTo as objects: held[k] is at index heldFirst + k. */
  private held: Entry[] = [];
  private heldFirst = 0;

  initialState(): InitialState {
    return { hardState: this.hardState, confState: this.snap.metadata?.confState ?? emptyConfState() };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: number, hi: number, maxSize: number): Entry[] {
    const offset = this.dummyIndex;
    if (lo <= offset) throw new CompactedError();
    if (hi > this.lastIndex() + 1) {
      throw new RaftPanicError(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    }
    if (this.count === 1) throw new UnavailableError();
    const n = this.countWithinSize(lo, hi, maxSize);
    const out: Entry[] = [];
    const held = this.held;
    const heldFirst = this.heldFirst;
    for (let i = lo; i < lo + n; i++) {
      const k = i - heldFirst;
      out.push(k >= 0 && k < held.length ? held[k] : this.materialize(i));
    }
    return out;
  }

  term(i: number): number {
    const offset = this.dummyIndex;
    if (i < offset) throw new CompactedError();
    if (i - offset >= this.count) throw new UnavailableError();
    return this.terms[this.head + i - offset];
  }

  lastIndex(): number {
    return this.dummyIndex + this.count - 1;
  }

  firstIndex(): number {
    return this.dummyIndex + 1;
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
    this.dataBuffers.fill(undefined, this.head, this.head + this.count);
    this.head = 0;
    this.count = 1;
    this.dummyIndex = idx;
    this.setDummy(0, snap.metadata?.term ?? 0);
    this.held = [];
    this.packedTo = Math.max(this.packedTo, idx);
  }

  /**
   * Records a snapshot of the state machine at index i (which must be in the log); `cs`, when given,
   * replaces the recorded configuration. Used by the application before compact().
   */
  createSnapshot(i: number, cs: ConfState | undefined, data: Buffer): Snapshot {
    const prev = this.snap.metadata ?? { confState: emptyConfState(), index: 0, term: 0 };
    if (i <= prev.index) throw new SnapOutOfDateError();
    if (i > this.lastIndex()) {
      throw new RaftPanicError(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    }
    this.snap = {
      data,
      metadata: {
        index: i,
        term: this.terms[this.head + i - this.dummyIndex],
        confState: cs ?? prev.confState,
      },
    };
    return this.snap;
  }

  /** Discards the entries before compactIndex; compactIndex becomes the new dummy position. */
  compact(compactIndex: number): void {
    const offset = this.dummyIndex;
    if (compactIndex <= offset) throw new CompactedError();
    if (compactIndex > this.lastIndex()) {
      throw new RaftPanicError(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const i = compactIndex - offset;
    // the compacted entries' data buffers go (a slab is freed once no entry points into it)
    this.dataBuffers.fill(undefined, this.head, this.head + i);
    this.head += i;
    this.count -= i;
    this.dummyIndex = compactIndex;
    this.setDummy(this.head, this.terms[this.head]);
    this.dropHeld(compactIndex);
  }

  /**
   * Says that the entries up to index i were applied: nothing needs their objects any more, and the log
   * keeps them packed only (a read then makes new objects of the same content).
   */
  packTo(i: number): void {
    if (i <= this.packedTo) return;
    this.packedTo = i;
    this.dropHeld(i);
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
    const at = entries[start].index;
    const offset = at - this.dummyIndex;
    if (this.count > offset) {
      this.dataBuffers.fill(undefined, this.head + offset, this.head + this.count);
      this.count = offset;
      const keep = at - this.heldFirst;
      if (keep < this.held.length) this.held.length = Math.max(0, keep);
    } else if (this.count < offset) {
      throw new RaftPanicError(`missing log entry [last: ${this.lastIndex()}, append at: ${at}]`);
    }
    this.reserve(entries.length - start);
    for (let k = start; k < entries.length; k++) {
      const e = entries[k];
      const pos = this.head + this.count++;
      this.terms[pos] = e.term;
      this.types[pos] = e.type;
      const data = e.data;
      this.dataBuffers[pos] = data.length === 0 ? undefined : data.buffer;
      this.dataOffsets[pos] = data.byteOffset;
      this.dataLengths[pos] = data.length;
      if (e.index > this.packedTo) {
        if (this.held.length === 0) this.heldFirst = e.index;
        this.held.push(e);
      }
    }
  }

  /** The entry at index i (in the log) as a new object. */
  private materialize(i: number): Entry {
    const pos = this.head + i - this.dummyIndex;
    const buffer = this.dataBuffers[pos];
    return {
      type: this.types[pos] as EntryType,
      term: this.terms[pos],
      index: i,
      data:
        buffer === undefined
          ? emptyBuffer
          : Buffer.from(buffer, this.dataOffsets[pos], this.dataLengths[pos]),
    };
  }

  /** How many entries of [lo, hi) fit in maxSize encoded bytes (at least one), as countWithinSize. */
  private countWithinSize(lo: number, hi: number, maxSize: number): number {
    if (maxSize === noLimit) return hi - lo;
    const base = this.head - this.dummyIndex;
    let size = 0;
    let i = lo;
    for (; i < hi; i++) {
      const pos = base + i;
      size += encodedEntrySize(this.types[pos], this.terms[pos], i, this.dataLengths[pos]);
      if (size > maxSize && i !== lo) break;
    }
    return i - lo;
  }

  private setDummy(pos: number, term: number): void {
    this.terms[pos] = term;
    this.types[pos] = EntryType.EntryNormal;
    this.dataBuffers[pos] = undefined;
    this.dataOffsets[pos] = 0;
    this.dataLengths[pos] = 0;
  }

  /** Forgets the held objects of the entries up to index i. */
  private dropHeld(i: number): void {
    const n = Math.min(this.held.length, i - this.heldFirst + 1);
    if (n <= 0) return;
    this.held.splice(0, n);
    this.heldFirst += n;
  }

  /** Makes room for n more entries after the last: moves the log to the arrays' start, or grows them. */
  private reserve(n: number): void {
    const need = this.count + n;
    const capacity = this.terms.length;
    if (this.head + need <= capacity) return;
    const from = this.head;
    const to = from + this.count;
    if (need <= capacity >> 1) {
      this.terms.copyWithin(0, from, to);
      this.types.copyWithin(0, from, to);
      this.dataOffsets.copyWithin(0, from, to);
      this.dataLengths.copyWithin(0, from, to);
      this.dataBuffers.copyWithin(0, from, to);
      this.dataBuffers.fill(undefined, this.count);
    } else {
      let size = capacity * 2;
      while (size < need) size *= 2;
      const grow = <T extends Float64Array | Uint8Array>(old: T, made: T): T => {
        made.set(old.subarray(from, to));
        return made;
      };
      this.terms = grow(this.terms, new Float64Array(size));
      this.types = grow(this.types, new Uint8Array(size));
      this.dataOffsets = grow(this.dataOffsets, new Float64Array(size));
      this.dataLengths = grow(this.dataLengths, new Float64Array(size));
      const buffers: Array<ArrayBufferLike | undefined> = new Array(size).fill(undefined);
      for (let k = 0; k < this.count; k++) buffers[k] = this.dataBuffers[from + k];
      this.dataBuffers = buffers;
    }
    this.head = 0;
  }
}
