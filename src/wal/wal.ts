import { closeSync, fdatasyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type Entry, type HardState, Snapshot } from "../gen/raftpb/raft.js";
import { encodeEntryFrame } from "./entry-frame.js";
import { WalCorruptError, WalError, WalInputError, WalStateError } from "./errors.js";
import { encodeFrame, FrameKind } from "./frame.js";
import { encodeHardStateFrame } from "./hard-state-frame.js";
import { convertLegacyWal, hasLegacyLayout, removeLegacyFiles } from "./legacy/convert.js";
import { lockWal } from "./lock.js";
import type { LogTracker } from "./log-tracker.js";
import { encodePurgeMark, encodeSnapshotMark } from "./markers.js";
import { indexKey, RecordKind, seal } from "./record.js";
import { type Replayed, replay, type WalContents } from "./replay.js";
import {
  DEFAULT_SEGMENT_BYTES,
  fsyncDirectory,
  INITIAL_SEGMENT_BYTES,
  listSegments,
  segmentName,
  TEMPORARY_SUFFIX,
  writeSegmentFile,
  zeroFill,
} from "./segment-files.js";
import { encodeHeader, SCHEMA_VERSION } from "./segment-header.js";
import { SegmentWriter } from "./segment-writer.js";
import { removeSnapshotFile, writeSnapshotFile } from "./snapshot-files.js";

/** Batches of at most this many entries may be synced on the event loop; larger ones on the thread pool. */
const SYNC_COMMIT_MAX_ENTRIES = 2;
/**
 * Small batches in a row before their syncs move onto the event loop. One client waiting makes a run of
 * small batches, and a sync on the loop answers it without a thread-pool round trip; under concurrent
 * load small batches fall between big ones, and a sync on the loop would hold up every other client
 * (put with 64 clients: a third of the syncs were small, and 11 % of the loop's busy time was fdatasync).
 */
const LOOP_SYNC_AFTER_SMALL_BATCHES = 8;

export interface PurgeOptions {
  /** Entries kept before the newest snapshot for slow followers (etcd's --snapshot-catchup-entries). */
  readonly catchUpEntries?: number;
  /** Snapshots kept, newest first (etcd 3.4's --max-snapshots). */
  readonly maxSnapshots?: number;
}

export interface PurgeResult {
  readonly entriesRemoved: number;
  readonly snapshotsRemoved: number;
}

export interface WalStats {
  /** save/saveSnapshot/purge calls that were committed. */
  readonly saves: number;
  /** Synced writes (one fdatasync each) that carried them. */
  readonly transactions: number;
  readonly entriesWritten: number;
  readonly bytesWritten: number;
}

/** One commit as seen by observers (for etcd_disk_wal_fsync_duration_seconds and friends). */
export interface WalCommit {
  readonly saves: number;
  readonly entries: number;
  readonly bytes: number;
  /** From the start of the write to the end of its sync. */
  readonly durationMs: number;
}

export interface WalOptions {
  readonly onCommit?: (commit: WalCommit) => void;
  /** Size of every segment after a new log's first one of 1 MiB (default 64 MiB, as etcd's). */
  readonly segmentBytes?: number;
  /**
   * etcd's --unsafe-no-fsync: a save resolves once written, without its fdatasync. A process crash loses
   * nothing (the kernel has the pages); a crash of the machine can lose acknowledged writes.
   */
  readonly unsafeNoFsync?: boolean;
}

export interface OpenedWal extends WalContents {
  readonly wal: WAL;
  /** What open mended at the tail (a write a crash cut short); empty after a clean stop. */
  readonly repairs: readonly WalRepair[];
}

/** One piece of crash damage open mended before writing again; the caller logs it, as etcd logs its repair. */
export type WalRepair =
  | { readonly kind: "dropped-empty-segment"; readonly file: string }
  | { readonly kind: "zeroed-torn-tail"; readonly file: string; readonly from: number; readonly to: number }
  | { readonly kind: "removed-orphan-snapshot"; readonly index: number };

/** An entry encoded and framed when save() is called: later changes to the caller's objects cannot leak in. */
interface SealedEntry {
  readonly index: number;
  readonly term: number;
  readonly frame: Buffer;
}

interface SealedHardState {
  readonly commit: number;
  readonly proto: Buffer;
  readonly frame: Buffer;
}

interface SealedSnapshot {
  readonly index: number;
  readonly term: number;
  /** The snapshot file's content (record.ts sealing). */
  readonly sealed: Buffer;
}

interface SaveJob {
  readonly kind: "save";
  readonly hardState: SealedHardState | undefined;
  readonly entries: readonly SealedEntry[];
  readonly snapshot: SealedSnapshot | undefined;
  /** Written once the microtasks queued before the save have run, not in the loop's check phase. */
  readonly soon?: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface PurgeJob {
  readonly kind: "purge";
  readonly catchUpEntries: number;
  readonly maxSnapshots: number;
  readonly resolve: (result: PurgeResult) => void;
  readonly reject: (error: Error) => void;
}

type Job = SaveJob | PurgeJob;
type Outcome = { ok: true; value?: PurgeResult } | { ok: false; error: Error };

/** What one batch writes: its records, and the files to delete once they are durable. */
interface BatchOutput {
  readonly frames: Buffer[];
  readonly afterSync: (() => void)[];
  entries: number;
  bytes: number;
}

const DEFAULT_CATCH_UP_ENTRIES = 5000;
const DEFAULT_MAX_SNAPSHOTS = 5;
/** Upper bound of a snapshot or purge record with its frame, for the room a batch needs. */
const MARK_FRAME_BYTES = 32;

function segmentBytesOf(options: WalOptions): number {
  const bytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (!Number.isSafeInteger(bytes) || bytes < 4096) {
    throw new WalInputError(`wal: segmentBytes must be an integer >= 4096, got ${bytes}`);
  }
  return bytes;
}

/**
 * The write-ahead log of one member: hard states and raft entries appended to segment files,
 * snapshots in files of their own. Writes are group-committed: at most one sync is in flight, and
 * every save that arrives meanwhile is carried by the next write, so a burst of Readys costs one sync.
 */
export class WAL {
  private pending: Job[] = [];
  /** A hard state saved without MustSync, written with the next synced save (or on close). */
  private deferredHardState: SealedHardState | undefined;
  private committing = false;
  /** Batches of at most SYNC_COMMIT_MAX_ENTRIES written in a row, the last one included. */
  private smallBatches = 0;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private counters = { saves: 0, transactions: 0, entriesWritten: 0, bytesWritten: 0 };

  private constructor(
    readonly dir: string,
    private readonly log: LogTracker,
    private readonly writer: SegmentWriter,
    /** Snapshot files on disk, ascending. */
    private snapshotFiles: number[],
    private readonly metadata: Buffer,
    /** The hard state last written (protobuf), repeated in every new segment's header. */
    private hardStateBytes: Buffer,
    private readonly unlock: () => void,
    private readonly options: WalOptions,
  ) {}

  /** True when dir holds a WAL, of this layout or the LMDB one before it (like etcd's wal.Exist). */
  static exists(dir: string): boolean {
    return listSegments(dir).length > 0 || hasLegacyLayout(dir);
  }

  /**
   * Creates an empty WAL carrying metadata. Its first segment is built in a sibling directory and
   * renamed into place once synced, so a crash never leaves a WAL without metadata.
   */
  static async create(dir: string, metadata: Buffer, options: WalOptions = {}): Promise<WAL> {
    dir = resolve(dir);
    const segmentBytes = segmentBytesOf(options);
    if (WAL.exists(dir)) throw new WalStateError(`wal: ${dir} already exists`);
    const staging = `${dir}${TEMPORARY_SUFFIX}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    try {
      const header = encodeHeader({
        schema: SCHEMA_VERSION,
        seq: 0,
        metadata,
        hardState: Buffer.alloc(0),
        snapshotIndex: 0,
        snapshotTerm: 0,
        firstIndex: 0,
        lastIndex: 0,
        lastTerm: 0,
      });
      writeSegmentFile(
        join(staging, segmentName(0, 1)),
        [encodeFrame(FrameKind.header, header)],
        Math.min(INITIAL_SEGMENT_BYTES, segmentBytes),
      );
      fsyncDirectory(staging);
      renameSync(staging, dir);
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw new WalStateError(`wal: cannot create ${dir}: ${(error as Error).message}`);
    }
    fsyncDirectory(dirname(dir));
    const { wal } = await WAL.open(dir, options);
    return wal;
  }

  /** Opens and fully validates a WAL; returns the handle and everything a restart needs. */
  static async open(dir: string, options: WalOptions = {}): Promise<OpenedWal> {
    dir = resolve(dir);
    const segmentBytes = segmentBytesOf(options);
    if (!WAL.exists(dir)) throw new WalStateError(`wal: ${dir} does not exist`);
    const unlock = lockWal(dir);
    let writer: SegmentWriter | undefined;
    try {
      // files a crash left half made: a segment being prepared, a snapshot being written
      for (const name of readdirSync(dir)) {
        if (name.endsWith(TEMPORARY_SUFFIX)) rmSync(join(dir, name), { force: true });
      }
      if (listSegments(dir).length === 0)
        await convertLegacyWal(dir, Math.min(INITIAL_SEGMENT_BYTES, segmentBytes));
      else if (hasLegacyLayout(dir)) removeLegacyFiles(dir);
      const replayed = replay(dir);
      const repairs = repairTail(dir, replayed);
      writer = SegmentWriter.resume(dir, replayed.segments, replayed.end, segmentBytes);
      const wal = new WAL(
        dir,
        replayed.tracker,
        writer,
        replayed.snapshots,
        replayed.contents.metadata,
        replayed.hardStateBytes,
        unlock,
        options,
      );
      return { ...replayed.contents, wal, repairs };
    } catch (error) {
      await writer?.close().catch(() => {});
      unlock();
      if (error instanceof WalError) throw error;
      throw new WalCorruptError(dir, `cannot read the log: ${(error as Error).message}`);
    }
  }

  /**
   * Persists a hard state and entries (and optionally a snapshot first, as in one Ready) and
   * resolves once they are synced to disk. Entries starting at index i replace every stored entry
   * from i on (Raft overwriting a conflicting suffix). `soon`: the caller waits for this save alone
   * (a member of a cluster), so a small one is written as soon as the microtasks queued before it
   * have run (a leader's appends to its followers) instead of gathering with others until the check
   * phase of the event loop.
   */
  save(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snapshot?: Snapshot,
    mustSync = true,
    soon = false,
  ): Promise<void> {
    let sealed: Pick<SaveJob, "hardState" | "entries" | "snapshot">;
    try {
      sealed = this.seal(hardState, entries, snapshot);
    } catch (error) {
      return Promise.reject(error);
    }
    if (!mustSync && sealed.entries.length === 0 && sealed.snapshot === undefined) {
      // etcd's MustSync: a hard state whose term and vote did not change (only the commit index
      // moved) need not be durable now; it rides along with the next synced write or the close.
      if (this.failure !== undefined) return Promise.reject(this.failure);
      if (this.closing !== undefined) return Promise.reject(new WalStateError(`wal: ${this.dir} is closed`));
      if (sealed.hardState !== undefined) this.deferredHardState = sealed.hardState;
      return Promise.resolve();
    }
    let sealedHardState = sealed.hardState;
    if (sealedHardState !== undefined) this.deferredHardState = undefined;
    else if (this.deferredHardState !== undefined) {
      sealedHardState = this.deferredHardState;
      this.deferredHardState = undefined;
    }
    // the job's fields one by one: a spread of `sealed` built the object key by key, every save
    const { entries: sealedEntries, snapshot: sealedSnapshot } = sealed;
    return new Promise<void>((resolve, reject) => {
      this.enqueue({
        kind: "save",
        hardState: sealedHardState,
        entries: sealedEntries,
        snapshot: sealedSnapshot,
        soon,
        resolve,
        reject,
      });
    });
  }

  /** Encodes outside the commit, so a commit only copies bytes. */
  private seal(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snapshot: Snapshot | undefined,
  ): Pick<SaveJob, "hardState" | "entries" | "snapshot"> {
    let sealedSnapshot: SealedSnapshot | undefined;
    if (snapshot !== undefined) {
      const meta = snapshot.metadata;
      if (meta === undefined || !Number.isSafeInteger(meta.index) || meta.index < 1) {
        throw new WalInputError(`wal: ${this.dir}: snapshot without metadata or with index 0`);
      }
      try {
        const sealed = seal(RecordKind.snapshot, indexKey(meta.index), Snapshot.encode(snapshot).finish());
        sealedSnapshot = { index: meta.index, term: meta.term, sealed };
      } catch (error) {
        throw encodeError(this.dir, `snapshot ${meta.index}`, error);
      }
    }
    // pushed into a literal, not mapped: map() makes an empty result an array of another map (small
    // integers), and the first hard-state-only save of a run deoptimized the code that reads a job's entries
    const sealedEntries: SealedEntry[] = [];
    for (const entry of entries) {
      if (!Number.isSafeInteger(entry.index) || entry.index < 1) {
        throw new WalInputError(`wal: ${this.dir}: entry index ${entry.index} is not a positive integer`);
      }
      try {
        sealedEntries.push({
          index: entry.index,
          term: entry.term,
          frame: encodeEntryFrame(entry),
        });
      } catch (error) {
        throw encodeError(this.dir, `entry ${entry.index}`, error);
      }
    }
    let sealedHardState: SealedHardState | undefined;
    if (hardState !== undefined) {
      try {
        const { proto, frame } = encodeHardStateFrame(hardState);
        sealedHardState = { commit: hardState.commit, proto, frame };
      } catch (error) {
        throw encodeError(this.dir, "hard state", error);
      }
    }
    return { hardState: sealedHardState, entries: sealedEntries, snapshot: sealedSnapshot };
  }

  /** Persists a snapshot (raft metadata and data) durably. */
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.save(undefined, [], snapshot);
  }

  /** Drops entries before (newest snapshot index - catchUpEntries) and all but the newest snapshots. */
  purge(options: PurgeOptions = {}): Promise<PurgeResult> {
    const catchUpEntries = options.catchUpEntries ?? DEFAULT_CATCH_UP_ENTRIES;
    const maxSnapshots = options.maxSnapshots ?? DEFAULT_MAX_SNAPSHOTS;
    if (!Number.isSafeInteger(catchUpEntries) || catchUpEntries < 0) {
      return Promise.reject(new WalInputError(`wal: catchUpEntries must be >= 0, got ${catchUpEntries}`));
    }
    if (!Number.isSafeInteger(maxSnapshots) || maxSnapshots < 1) {
      return Promise.reject(new WalInputError(`wal: maxSnapshots must be >= 1, got ${maxSnapshots}`));
    }
    return new Promise<PurgeResult>((resolve, reject) => {
      this.enqueue({ kind: "purge", catchUpEntries, maxSnapshots, resolve, reject });
    });
  }

  /** Last index the log covers (stored entry or snapshot), counting the write being synced. */
  lastIndex(): number {
    return Math.max(this.log.lastIndex, this.log.snapshotIndex);
  }

  firstIndex(): number {
    return this.log.firstIndex;
  }

  stats(): WalStats {
    return { ...this.counters };
  }

  /** Waits for queued saves to be synced, then closes the files. Later saves are refused. */
  close(): Promise<void> {
    const deferred = this.deferredHardState;
    this.deferredHardState = undefined;
    if (deferred !== undefined && this.closing === undefined && this.failure === undefined) {
      this.pending.push({
        kind: "save",
        hardState: deferred,
        entries: [],
        snapshot: undefined,
        resolve: () => {},
        reject: () => {},
      });
      this.commitNext();
    }
    this.closing ??= (async () => {
      if (this.committing || this.pending.length > 0) {
        await new Promise<void>((resolve) => {
          this.drained = resolve;
        });
      }
      await this.writer.close();
      this.unlock();
    })();
    return this.closing;
  }

  private enqueue(job: Job): void {
    if (this.failure !== undefined) {
      job.reject(this.failure);
    } else if (this.closing !== undefined) {
      job.reject(new WalStateError(`wal: ${this.dir} is closed`));
    } else {
      this.pending.push(job);
      this.commitNext();
    }
  }

  /** Starts a write unless one is in flight; it takes every job queued when it begins. */
  private commitNext(): void {
    if (this.committing) return;
    if (this.pending.length === 0) {
      this.drained?.();
      this.drained = undefined;
      return;
    }
    this.committing = true;
    // A big save alone (the raft loop's Ready while clients wait) is written at once and its sync
    // started on the thread pool: waiting for setImmediate would start it one whole turn later,
    // after the poll phase of the next turn (every request and answer that arrived meanwhile).
    if (this.isLoneSave() && this.pendingEntries() > SYNC_COMMIT_MAX_ENTRIES) {
      this.smallBatches = 0;
      this.commit(false);
      return;
    }
    // A small save its caller waits for alone (a member of a cluster: its raft loop saves one Ready
    // at a time and gathers proposals itself) is written once the microtasks queued before it have
    // run. In the check phase it waited for the next turn of the loop: a leader's write and sync
    // started 40-50 us after its appends (the rest of the turn, a poll, the turn's other immediates),
    // holding a core the woken followers needed, and a follower's waited for the rest of the poll.
    if (this.isLoneSave() && (this.pending[0] as SaveJob).soon) {
      queueMicrotask(() => this.commit(this.syncOnLoop()));
      return;
    }
    // Otherwise the batch is collected in the event loop's check phase (setImmediate), after every
    // I/O callback of this turn, so all the saves they cause join one write. A microtask is too
    // early: Node drains microtasks after each callback from native code (each HTTP/2 stream's data
    // is one), and the batch would then be synced once per request.
    setImmediate(() => this.commit(this.syncOnLoop()));
  }

  /**
   * A small batch after a run of small ones (one client waiting, as far as the log can tell) is synced
   * on the event loop: no thread-pool round trip, it answers soonest. Any other batch means many
   * clients wait: its sync runs on the thread pool, so that the loop serves requests and applies meanwhile.
   */
  private syncOnLoop(): boolean {
    if (this.pendingEntries() > SYNC_COMMIT_MAX_ENTRIES) {
      this.smallBatches = 0;
      return false;
    }
    this.smallBatches++;
    return this.smallBatches > LOOP_SYNC_AFTER_SMALL_BATCHES;
  }

  /** One save without a snapshot pending. */
  private isLoneSave(): boolean {
    return this.pending.length === 1 && this.pending[0].kind === "save" && !this.pending[0].snapshot;
  }

  private pendingEntries(): number {
    let n = 0;
    for (const job of this.pending) if (job.kind === "save") n += job.entries.length;
    return n;
  }

  /** Writes every queued job as one batch of records and syncs the segment once. */
  private commit(onLoop: boolean): void {
    const started = performance.now();
    const batch = this.pending;
    this.pending = [];
    let bytes = 0;
    for (const job of batch) {
      if (job.kind === "purge") bytes += MARK_FRAME_BYTES;
      else {
        for (const entry of job.entries) bytes += entry.frame.length;
        bytes += (job.hardState?.frame.length ?? 0) + (job.snapshot ? MARK_FRAME_BYTES : 0);
      }
    }
    const placed = this.writer.place(bytes);
    if (typeof placed === "string") {
      this.writeBatch(batch, started, placed === "cut", onLoop);
      return;
    }
    placed.then(
      () => this.writeBatch(batch, started, true, false),
      (error: Error) => this.finish(batch, error),
    );
  }

  private writeBatch(batch: Job[], started: number, cut: boolean, onLoop: boolean): void {
    const out: BatchOutput = { frames: [], afterSync: [], entries: 0, bytes: 0 };
    const outcomes: Outcome[] = [];
    try {
      if (cut) {
        this.writer.cut(this.log.lastIndex + 1);
        out.frames.push(this.headerFrame());
      }
      for (const job of batch) outcomes.push(this.apply(job, out));
      if (out.frames.length === 0) {
        this.finish(batch, undefined, outcomes, out, started, false);
        return;
      }
      out.bytes += this.writer.append(out.frames);
      if (onLoop) {
        if (!this.options.unsafeNoFsync) this.writer.syncNow();
        this.finish(batch, undefined, outcomes, out, started, true);
      } else {
        this.syncInBackground((error) =>
          this.finish(batch, error ?? undefined, outcomes, out, started, true),
        );
      }
    } catch (error) {
      this.finish(batch, error as Error);
    }
  }

  /** The sync of a big batch, on the thread pool. */
  private syncInBackground(done: (error: Error | null) => void): void {
    if (this.options.unsafeNoFsync) setImmediate(done, null);
    else this.writer.sync(done);
  }

  private finish(
    batch: Job[],
    failed: Error | undefined,
    outcomes: Outcome[] = [],
    out?: BatchOutput,
    started = 0,
    synced = false,
  ): void {
    try {
      if (failed !== undefined || out === undefined) {
        this.fail(batch, failed ?? new Error("batch ended without output"));
        return;
      }
      for (const action of out.afterSync) {
        try {
          action();
        } catch {
          // a file left behind is removed by a later purge or open
        }
      }
      if (synced) this.counters.transactions++;
      this.counters.entriesWritten += out.entries;
      this.counters.bytesWritten += out.bytes;
      let saves = 0;
      batch.forEach((job, i) => {
        const outcome = outcomes[i];
        if (!outcome.ok) {
          job.reject(outcome.error);
          return;
        }
        saves++;
        if (job.kind === "purge") job.resolve(outcome.value ?? { entriesRemoved: 0, snapshotsRemoved: 0 });
        else job.resolve();
      });
      this.counters.saves += saves;
      if (synced) {
        const durationMs = performance.now() - started;
        this.options.onCommit?.({ saves, entries: out.entries, bytes: out.bytes, durationMs });
      }
    } finally {
      this.committing = false;
      this.commitNext();
    }
  }

  /** A failed write leaves memory and disk possibly apart: every later write is refused. */
  private fail(batch: Job[], cause: Error): void {
    this.failure = new WalError(
      `wal: ${this.dir}: commit failed, the log must be reopened: ${cause.message}`,
    );
    for (const job of [...batch, ...this.pending]) job.reject(this.failure);
    this.pending = [];
  }

  /** The first record of a new segment: where the log stands before the batch that follows it. */
  private headerFrame(): Buffer {
    const log = this.log;
    const header = encodeHeader({
      schema: SCHEMA_VERSION,
      seq: this.writer.seq,
      metadata: this.metadata,
      hardState: this.hardStateBytes,
      snapshotIndex: log.snapshotIndex,
      snapshotTerm: log.snapshotTerm,
      firstIndex: log.firstIndex,
      lastIndex: log.lastIndex,
      lastTerm: log.lastTerm,
    });
    return encodeFrame(FrameKind.header, header);
  }

  private apply(job: Job, out: BatchOutput): Outcome {
    try {
      if (job.kind === "purge") return { ok: true, value: this.applyPurge(job, out) };
      this.applySave(job, out);
      return { ok: true };
    } catch (error) {
      if (error instanceof WalInputError) return { ok: false, error };
      throw error;
    }
  }

  /** Checks a whole save against the log first, then writes it; a refused save writes nothing. */
  private applySave(job: SaveJob, out: BatchOutput): void {
    const refuse: (why: string) => never = (why) => {
      throw new WalInputError(`wal: ${this.dir}: ${why}`);
    };
    const b = this.log;
    let snapshotIndex = b.snapshotIndex;
    let snapshotTerm = b.snapshotTerm;
    let lastIndex = b.lastIndex;
    let lastTerm = b.lastTerm;
    let dropLog = false;

    const snapshot = job.snapshot;
    if (snapshot !== undefined && snapshot.index > snapshotIndex) {
      // A newer snapshot keeps the stored log only if the log holds the snapshot's own entry;
      // otherwise the stored entries belong to another history (or end before it) and go.
      dropLog = lastIndex > 0 && b.term(snapshot.index) !== snapshot.term;
      // Raft only restores a snapshot above its commit index; below it, a term mismatch means the
      // caller got the term wrong, and dropping the log would lose committed entries.
      if (dropLog && snapshot.index <= b.commit) {
        refuse(
          `snapshot ${snapshot.index} (term ${snapshot.term}) does not match the stored entry at or below commit ${b.commit}`,
        );
      }
      snapshotIndex = snapshot.index;
      snapshotTerm = snapshot.term;
      if (dropLog) lastIndex = lastTerm = 0;
    }

    const entries = job.entries;
    if (entries.length > 0) {
      const first = entries[0].index;
      for (let k = 1; k < entries.length; k++) {
        if (entries[k].index !== first + k) refuse(`entries are not contiguous at index ${entries[k].index}`);
        if (entries[k].term < entries[k - 1].term) refuse(`entry ${entries[k].index} lowers the term`);
      }
      if (first <= snapshotIndex) refuse(`entry ${first} is at or below the snapshot index ${snapshotIndex}`);
      const end = Math.max(lastIndex, snapshotIndex);
      if (first > end + 1) refuse(`entry ${first} leaves a gap after the last index ${end}`);
      if (first <= lastIndex && first <= b.commit) {
        refuse(`entry ${first} would overwrite a committed entry (commit ${b.commit})`);
      }
      let previousTerm: number | undefined;
      if (first - 1 === snapshotIndex) previousTerm = snapshotTerm;
      else if (first - 1 === lastIndex) previousTerm = lastTerm;
      else previousTerm = b.term(first - 1);
      if (previousTerm === undefined) refuse(`entry ${first - 1} before entry ${first} is missing`);
      if (entries[0].term < previousTerm) {
        refuse(`entry ${first} has term ${entries[0].term}, lower than term ${previousTerm} before it`);
      }
      lastIndex = entries[entries.length - 1].index;
      lastTerm = entries[entries.length - 1].term;
    }

    const hardState = job.hardState;
    const commit = hardState?.commit ?? b.commit;
    const end = Math.max(lastIndex, snapshotIndex);
    if (commit > end) refuse(`hard state commit ${commit} would be beyond the last index ${end}`);

    // Everything checked: write. The snapshot file is durable before the records that refer to it.
    if (snapshot !== undefined) {
      writeSnapshotFile(this.dir, snapshot.index, snapshot.sealed);
      if (!this.snapshotFiles.includes(snapshot.index)) {
        this.snapshotFiles = [...this.snapshotFiles, snapshot.index].sort((x, y) => x - y);
      }
      out.bytes += snapshot.sealed.length;
      if (snapshot.index > b.snapshotIndex) {
        out.frames.push(
          encodeFrame(
            FrameKind.snapshot,
            encodeSnapshotMark({ index: snapshot.index, term: snapshot.term, dropLog }),
          ),
        );
        b.restoreSnapshot(snapshotIndex, snapshotTerm, dropLog);
      }
    }
    const seq = this.writer.seq;
    for (const entry of entries) {
      out.frames.push(entry.frame);
      b.append(entry.index, entry.term, seq);
    }
    out.entries += entries.length;
    if (hardState !== undefined) {
      out.frames.push(hardState.frame);
      b.commit = hardState.commit;
      this.hardStateBytes = hardState.proto;
    }
  }

  private applyPurge(job: PurgeJob, out: BatchOutput): PurgeResult {
    const b = this.log;
    let entriesRemoved = 0;
    if (b.snapshotIndex > 0 && b.firstIndex > 0) {
      const keepFrom = Math.min(b.snapshotIndex - job.catchUpEntries, b.lastIndex + 1);
      if (keepFrom > b.firstIndex) {
        entriesRemoved = keepFrom - b.firstIndex;
        b.purgeBefore(keepFrom);
        out.frames.push(encodeFrame(FrameKind.purge, encodePurgeMark(b.firstIndex)));
      }
    }
    const excess = Math.max(0, this.snapshotFiles.length - job.maxSnapshots);
    const dropped = this.snapshotFiles.slice(0, excess);
    this.snapshotFiles = this.snapshotFiles.slice(excess);
    out.afterSync.push(() => {
      for (const index of dropped) removeSnapshotFile(this.dir, index);
      // whole segments of which no entry is live any more, oldest first (never the one written to)
      while (this.writer.files.length > 1 && this.log.liveIn(this.writer.files[0].seq) === 0) {
        this.writer.removeOldest();
      }
    });
    return { entriesRemoved, snapshotsRemoved: dropped.length };
  }
}

/** Puts the tail of the log back to what a clean stop leaves, before anything is appended. */
function repairTail(dir: string, replayed: Replayed): WalRepair[] {
  const { repair } = replayed;
  const done: WalRepair[] = [];
  if (repair.dropLastSegment) {
    const segments = listSegments(dir);
    const file = segments[segments.length - 1].path;
    rmSync(file, { force: true });
    fsyncDirectory(dir);
    done.push({ kind: "dropped-empty-segment", file });
  }
  if (repair.zeroTo > repair.zeroFrom) {
    const file = replayed.segments[replayed.segments.length - 1].path;
    const fd = openSync(file, "r+");
    try {
      zeroFill(fd, repair.zeroFrom, repair.zeroTo);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    done.push({ kind: "zeroed-torn-tail", file, from: repair.zeroFrom, to: repair.zeroTo });
  }
  for (const index of repair.orphanSnapshots) {
    removeSnapshotFile(dir, index);
    done.push({ kind: "removed-orphan-snapshot", index });
  }
  return done;
}

/** What a save that could not encode a record of `dir`'s log fails with. */
function encodeError(dir: string, what: string, error: unknown): WalInputError {
  return new WalInputError(`wal: ${dir}: cannot encode ${what}: ${(error as Error).message}`);
}
