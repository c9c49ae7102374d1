import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { ABORT, type Database } from "lmdb";

/** lmdb-js transactionSync flags: abortable (the body may return ABORT) and a synced commit. */
const TXN_ABORTABLE_SYNC_COMMIT = 0x3;

/** Batches of at most this many entries commit on the event loop; larger ones on LMDB's write thread. */
const SYNC_COMMIT_MAX_ENTRIES = 2;

import { Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { checkDataFile } from "./data-file.js";
import { WalCorruptError, WalError, WalInputError, WalStateError } from "./errors.js";
import { lockWal } from "./lock.js";
import { encodeMeta, HARD_STATE_KEY, META_KEY } from "./meta.js";
import { indexKey, RecordKind, seal, unseal } from "./record.js";
import { type LogBounds, recover, type WalContents } from "./recover.js";
import { dataFilePath, openStore, type WalStore } from "./store.js";

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
  /** LMDB transactions (each one synced) that carried them. */
  readonly transactions: number;
  readonly entriesWritten: number;
  readonly bytesWritten: number;
}

/** One commit as seen by observers (for etcd_disk_wal_fsync_duration_seconds and friends). */
export interface WalCommit {
  readonly saves: number;
  readonly entries: number;
  readonly bytes: number;
  /** From the start of the transaction to the end of its sync. */
  readonly durationMs: number;
}

export interface WalOptions {
  readonly onCommit?: (commit: WalCommit) => void;
}

export interface OpenedWal extends WalContents {
  readonly wal: WAL;
}

/** A record encoded and sealed when save() is called: later changes to the caller's objects cannot leak in. */
interface SealedRecord {
  readonly index: number;
  readonly term: number;
  readonly key: Buffer;
  readonly value: Buffer;
}

interface SaveJob {
  readonly kind: "save";
  readonly hardState: { readonly commit: number; readonly value: Buffer } | undefined;
  readonly entries: readonly SealedRecord[];
  readonly snapshot: SealedRecord | undefined;
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

/** A queued write's own promise: its batch's promise reports a failed commit (see commitNext). */
const ignoreQueuedFailure = (): void => {};

const DEFAULT_CATCH_UP_ENTRIES = 5000;
const DEFAULT_MAX_SNAPSHOTS = 5;

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The write-ahead log of one member: hard state, raft entries and snapshots in one LMDB
 * environment. Writes are group-committed: at most one LMDB transaction is in flight, and every
 * save that arrives meanwhile is carried by the next one, so a burst of Readys costs one sync.
 */
export class WAL {
  private pending: Job[] = [];
  /** A hard state saved without MustSync, written with the next synced save (or on close). */
  private deferredHardState: SaveJob["hardState"];
  private committing = false;
  /** Set while a save is written as an lmdb-js batch of queued writes (see commitNext). */
  private queueing = false;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private counters = { saves: 0, transactions: 0, entriesWritten: 0, bytesWritten: 0 };

  private constructor(
    readonly dir: string,
    private readonly store: WalStore,
    private readonly bounds: LogBounds,
    private readonly unlock: () => void,
    private readonly options: WalOptions,
  ) {}

  /** True when dir holds a WAL (like etcd's wal.Exist). */
  static exists(dir: string): boolean {
    return existsSync(dataFilePath(dir));
  }

  /**
   * Creates an empty WAL carrying metadata. The environment is built in a sibling directory and
   * renamed into place once its meta record is synced, so a crash never leaves a WAL without meta.
   */
  static async create(dir: string, metadata: Buffer, options: WalOptions = {}): Promise<WAL> {
    dir = resolve(dir);
    if (WAL.exists(dir)) throw new WalStateError(`wal: ${dir} already exists`);
    const staging = `${dir}.tmp`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    const building = openStore(staging);
    try {
      await building.meta.put(META_KEY, encodeMeta(metadata));
    } finally {
      await building.env.close();
    }
    fsyncDirectory(staging);
    try {
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
    if (!WAL.exists(dir)) throw new WalStateError(`wal: ${dir} does not exist`);
    const unlock = lockWal(dir);
    let store: WalStore | undefined;
    try {
      const fileProblem = checkDataFile(dataFilePath(dir));
      if (fileProblem !== undefined) throw new WalCorruptError(dir, fileProblem);
      try {
        store = openStore(dir);
      } catch (error) {
        throw new WalCorruptError(dir, `cannot open the LMDB environment: ${(error as Error).message}`);
      }
      const { contents, bounds } = recover(dir, store);
      return { ...contents, wal: new WAL(dir, store, bounds, unlock, options) };
    } catch (error) {
      await store?.env.close();
      unlock();
      if (error instanceof WalError) throw error;
      throw new WalCorruptError(dir, `cannot read the LMDB environment: ${(error as Error).message}`);
    }
  }

  /**
   * Persists a hard state and entries (and optionally a snapshot first, as in one Ready) and
   * resolves once they are synced to disk. Entries starting at index i replace every stored entry
   * from i on (Raft overwriting a conflicting suffix).
   */
  save(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snapshot?: Snapshot,
    mustSync = true,
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
    if (sealed.hardState !== undefined) this.deferredHardState = undefined;
    else if (this.deferredHardState !== undefined) {
      sealed = { ...sealed, hardState: this.deferredHardState };
      this.deferredHardState = undefined;
    }
    return new Promise<void>((resolve, reject) => {
      this.enqueue({ kind: "save", ...sealed, resolve, reject });
    });
  }

  /** Encodes outside the write transaction, so the LMDB write lock is held only to copy bytes. */
  private seal(
    hardState: HardState | undefined,
    entries: readonly Entry[],
    snapshot: Snapshot | undefined,
  ): Pick<SaveJob, "hardState" | "entries" | "snapshot"> {
    const encodeFailed = (what: string, error: unknown) =>
      new WalInputError(`wal: ${this.dir}: cannot encode ${what}: ${(error as Error).message}`);
    let sealedSnapshot: SealedRecord | undefined;
    if (snapshot !== undefined) {
      const meta = snapshot.metadata;
      if (meta === undefined || !Number.isSafeInteger(meta.index) || meta.index < 1) {
        throw new WalInputError(`wal: ${this.dir}: snapshot without metadata or with index 0`);
      }
      const key = indexKey(meta.index);
      try {
        const value = seal(RecordKind.snapshot, key, Snapshot.encode(snapshot).finish());
        sealedSnapshot = { index: meta.index, term: meta.term, key, value };
      } catch (error) {
        throw encodeFailed(`snapshot ${meta.index}`, error);
      }
    }
    const sealedEntries = entries.map((entry): SealedRecord => {
      if (!Number.isSafeInteger(entry.index) || entry.index < 1) {
        throw new WalInputError(`wal: ${this.dir}: entry index ${entry.index} is not a positive integer`);
      }
      const key = indexKey(entry.index);
      try {
        return {
          index: entry.index,
          term: entry.term,
          key,
          value: seal(RecordKind.entry, key, Entry.encode(entry).finish()),
        };
      } catch (error) {
        throw encodeFailed(`entry ${entry.index}`, error);
      }
    });
    let sealedHardState: SaveJob["hardState"];
    if (hardState !== undefined) {
      try {
        const value = seal(RecordKind.hardState, HARD_STATE_KEY, HardState.encode(hardState).finish());
        sealedHardState = { commit: hardState.commit, value };
      } catch (error) {
        throw encodeFailed("hard state", error);
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

  /** Last index the log covers (stored entry or snapshot), counting the transaction being committed. */
  lastIndex(): number {
    return Math.max(this.bounds.lastIndex, this.bounds.snapshotIndex);
  }

  firstIndex(): number {
    return this.bounds.firstIndex;
  }

  stats(): WalStats {
    return { ...this.counters };
  }

  /** Waits for queued saves to commit, then closes the environment. Later saves are refused. */
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
      await this.store.env.close();
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

  /** Starts a transaction unless one is in flight; it takes every job queued when it begins. */
  private commitNext(): void {
    if (this.committing) return;
    if (this.pending.length === 0) {
      this.drained?.();
      this.drained = undefined;
      return;
    }
    this.committing = true;
    let batch: Job[] = [];
    const outcomes: Outcome[] = [];
    const written = { entries: 0, bytes: 0 };
    let broken: Error | undefined;
    let started = 0;
    // Two ways to commit, chosen by the size of the batch. A small one (one client waiting, say) is
    // committed synchronously on the event loop: lmdb-js's synchronous, synced commit skips the
    // write thread's round trips and answers soonest. A bigger one means many clients are waiting:
    // it goes to lmdb-js's write thread (the same synced commit, fdatasync and meta page before the
    // promise resolves), so that the event loop serves requests and applies while the disk syncs
    // (measured: 64 clients about 1.5x the puts/s of synchronous commits; one client about 0.75x).
    //
    // The batch is collected in the event loop's check phase (setImmediate), after every I/O callback
    // of this turn, so all the saves they cause join one commit. A microtask is too early: Node drains
    // microtasks after each callback from native code (each HTTP/2 stream's data is one), and the
    // synchronous commit would then block the loop once per request.
    const body = () => {
      started = performance.now();
      batch = this.pending;
      this.pending = [];
      try {
        for (const job of batch) outcomes.push(this.apply(job, written));
      } catch (error) {
        // Unexpected (LMDB) failure half way through a job: abort the whole transaction.
        broken = error as Error;
        return ABORT;
      }
      return undefined;
    };
    const succeeded = () => {
      if (broken !== undefined) return this.fail(batch, broken);
      this.counters.transactions++;
      this.counters.entriesWritten += written.entries;
      this.counters.bytesWritten += written.bytes;
      const durationMs = performance.now() - started;
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
      this.options.onCommit?.({ saves, entries: written.entries, bytes: written.bytes, durationMs });
    };
    const finish = (failed: Error | undefined) => {
      try {
        if (failed !== undefined) this.fail(batch, failed);
        else succeeded();
      } finally {
        this.committing = false;
        this.commitNext();
      }
    };
    const commitSync = () => {
      let failed: Error | undefined;
      try {
        this.store.env.transactionSync(body, TXN_ABORTABLE_SYNC_COMMIT as never);
      } catch (error) {
        failed = error as Error;
      }
      finish(failed);
    };
    const commitQueued = () => {
      // One save without a snapshot (each Ready of the raft loop): its reads of the log see the
      // last commit, which is complete, and none of its own writes. Checked here, then
      // queued as one lmdb-js batch: one transaction, run wholly on lmdb-js's write thread (no
      // round trip back to this thread in the middle of the commit, which a busy event loop
      // delays), whose promise resolves once it is committed and synced.
      this.queueing = true;
      let aborted: unknown;
      let committed: Promise<boolean>;
      try {
        committed = this.store.env.batch(() => {
          aborted = body();
        });
      } catch (error) {
        committed = Promise.reject(error);
      } finally {
        this.queueing = false;
      }
      if (aborted === ABORT) {
        // some writes may be queued already: the log no longer matches memory either way
        committed.catch(() => {});
        finish(broken);
        return;
      }
      committed.then(
        () => finish(undefined),
        (error: Error) => finish(error),
      );
    };
    const commitWithCallback = () => {
      this.store.env.transaction(body).then(
        () => finish(undefined),
        (error: Error) => finish(error),
      );
    };
    // A big save alone (the raft loop's Ready while clients wait) is handed to lmdb-js at once:
    // lmdb-js itself starts its write thread at the end of this event-loop turn (its turn batching),
    // so waiting for setImmediate here as well would start the commit one whole turn later, after
    // the poll phase of the next turn (every request and answer that arrived meanwhile).
    if (this.isQueueableSave() && this.pendingEntries() > SYNC_COMMIT_MAX_ENTRIES) {
      commitQueued();
      return;
    }
    setImmediate(() => {
      if (this.pendingEntries() <= SYNC_COMMIT_MAX_ENTRIES) commitSync();
      else if (this.isQueueableSave()) commitQueued();
      else commitWithCallback();
    });
  }

  /** One save without a snapshot pending: it can be written as one lmdb-js batch of queued writes. */
  private isQueueableSave(): boolean {
    return this.pending.length === 1 && this.pending[0].kind === "save" && !this.pending[0].snapshot;
  }

  /** A write inside the open transaction, or queued for lmdb-js's next one (see commitNext). */
  private write(table: Database<Buffer, Buffer>, key: Buffer, value: Buffer): void {
    if (this.queueing) table.put(key, value).then(undefined, ignoreQueuedFailure);
    else table.putSync(key, value);
  }

  private pendingEntries(): number {
    let n = 0;
    for (const job of this.pending) if (job.kind === "save") n += job.entries.length;
    return n;
  }

  /** A failed commit leaves memory and disk possibly apart: every later write is refused. */
  private fail(batch: Job[], cause: Error): void {
    this.failure = new WalError(
      `wal: ${this.dir}: commit failed, the log must be reopened: ${cause.message}`,
    );
    for (const job of [...batch, ...this.pending]) job.reject(this.failure);
    this.pending = [];
  }

  private apply(job: Job, written: { entries: number; bytes: number }): Outcome {
    try {
      if (job.kind === "purge") return { ok: true, value: this.applyPurge(job) };
      this.applySave(job, written);
      return { ok: true };
    } catch (error) {
      if (error instanceof WalInputError) return { ok: false, error };
      throw error;
    }
  }

  /** Term of a stored entry, read inside the write transaction. */
  private storedTerm(index: number): number | undefined {
    const key = indexKey(index);
    const value = this.store.entries.get(key);
    if (value === undefined) return undefined;
    const payload = unseal(RecordKind.entry, key, value);
    if (typeof payload === "string") throw new WalCorruptError(this.dir, `entry ${index}: ${payload}`);
    return Entry.decode(payload).term;
  }

  private removeEntries(from: number, to: number): number {
    let removed = 0;
    for (let index = from; index <= to; index++) {
      if (this.queueing) {
        this.store.entries.remove(indexKey(index)).then(undefined, ignoreQueuedFailure);
        removed++;
      } else if (this.store.entries.removeSync(indexKey(index))) removed++;
    }
    return removed;
  }

  /** Checks a whole save against the log first, then writes it; a refused save writes nothing. */
  private applySave(job: SaveJob, written: { entries: number; bytes: number }): void {
    const refuse: (why: string) => never = (why) => {
      throw new WalInputError(`wal: ${this.dir}: ${why}`);
    };
    const b = this.bounds;
    let snapshotIndex = b.snapshotIndex;
    let snapshotTerm = b.snapshotTerm;
    let lastIndex = b.lastIndex;
    let lastTerm = b.lastTerm;
    let dropLog = false;

    const snapshot = job.snapshot;
    if (snapshot !== undefined && snapshot.index > snapshotIndex) {
      // A newer snapshot keeps the stored log only if the log holds the snapshot's own entry;
      // otherwise the stored entries belong to another history (or end before it) and go.
      dropLog = lastIndex > 0 && this.storedTerm(snapshot.index) !== snapshot.term;
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
    let overwriteFrom = 0;
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
      else previousTerm = this.storedTerm(first - 1);
      if (previousTerm === undefined) refuse(`entry ${first - 1} before entry ${first} is missing`);
      if (entries[0].term < previousTerm) {
        refuse(`entry ${first} has term ${entries[0].term}, lower than term ${previousTerm} before it`);
      }
      if (first <= lastIndex) overwriteFrom = first;
      lastIndex = entries[entries.length - 1].index;
      lastTerm = entries[entries.length - 1].term;
    }

    const hardState = job.hardState;
    const commit = hardState?.commit ?? b.commit;
    const end = Math.max(lastIndex, snapshotIndex);
    if (commit > end) refuse(`hard state commit ${commit} would be beyond the last index ${end}`);

    // Everything checked: write.
    if (snapshot !== undefined) {
      this.write(this.store.snapshots, snapshot.key, snapshot.value);
      written.bytes += snapshot.value.length;
      if (dropLog) {
        this.removeEntries(b.firstIndex, b.lastIndex);
        b.firstIndex = b.lastIndex = b.lastTerm = 0;
      }
      b.snapshotIndex = snapshotIndex;
      b.snapshotTerm = snapshotTerm;
    }
    if (entries.length > 0) {
      if (overwriteFrom > 0) this.removeEntries(overwriteFrom, b.lastIndex);
      for (const entry of entries) {
        this.write(this.store.entries, entry.key, entry.value);
        written.bytes += entry.value.length;
      }
      written.entries += entries.length;
      if (b.firstIndex === 0 || overwriteFrom === b.firstIndex) b.firstIndex = entries[0].index;
      b.lastIndex = lastIndex;
      b.lastTerm = lastTerm;
    }
    if (hardState !== undefined) {
      this.write(this.store.meta, HARD_STATE_KEY, hardState.value);
      written.bytes += hardState.value.length;
      b.commit = hardState.commit;
    }
  }

  private applyPurge(job: PurgeJob): PurgeResult {
    const b = this.bounds;
    let entriesRemoved = 0;
    let snapshotsRemoved = 0;
    if (b.snapshotIndex > 0 && b.firstIndex > 0) {
      const keepFrom = Math.min(b.snapshotIndex - job.catchUpEntries, b.lastIndex + 1);
      if (keepFrom > b.firstIndex) {
        entriesRemoved = this.removeEntries(b.firstIndex, keepFrom - 1);
        if (keepFrom > b.lastIndex) b.firstIndex = b.lastIndex = b.lastTerm = 0;
        else b.firstIndex = keepFrom;
      }
    }
    const snapshotKeys = [...this.store.snapshots.getKeys({ reverse: true })];
    for (const key of snapshotKeys.slice(job.maxSnapshots)) {
      if (this.store.snapshots.removeSync(key)) snapshotsRemoved++;
    }
    return { entriesRemoved, snapshotsRemoved };
  }
}
