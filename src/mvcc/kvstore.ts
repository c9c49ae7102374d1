// The revisioned key-value store: etcd's mvcc store over LMDB. One global revision, bumped
// once per write that changes something; every change is a history record keyed by its
// revision; an in-memory key index maps keys to their revisions. The consistent index (last
// applied raft index) is written in the same LMDB transaction as the change it belongs to.
// Writes are staged in the backend and committed off the main thread; every read here goes
// through the backend's applied tables, so it sees a write as soon as it was applied.

import { setImmediate as yieldToLoop } from "node:timers/promises";
import { type Event, Event_EventType, type KeyValue } from "../gen/mvccpb/kv.js";
import { ABORT_WRITE, Backend, type BackendOptions, MetaKey } from "./backend.js";
import { importBbolt } from "./bbolt-import.js";
import { CompactedError, FutureRevError, StoreFatalError } from "./errors.js";
import { Crc32c } from "./hash.js";
import {
  type IndexedRev,
  inKeyRange,
  KeyIndex,
  type KeyRange,
  keyBytes,
  keyString,
  RevSet,
  toKeyRange,
} from "./keyindex.js";
import { decodeKeyValue, encodeKeyValue, scanIndexFields } from "./kvcodec.js";
import type { RecordBucket, RecordChange } from "./records.js";
import { isTombstoneKey, REV_KEY_LEN, revKey, revKeyMain, revKeySub } from "./revision.js";

export interface KVStoreOptions extends BackendOptions {
  /** History records deleted per LMDB transaction by physical compaction (etcd: 1000). */
  compactionBatchLimit?: number;
  /** Called when a commit or compaction listener throws; the write itself has committed. */
  onListenerError?: (err: unknown) => void;
}

export interface RangeOptions {
  /** Revision to read at; <= 0 = the newest. */
  rev?: number;
  /** Maximum number of key-values returned; <= 0 = no limit. */
  limit?: number;
  /** Count only, return no key-values. */
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Number of keys in the range at the read revision (not affected by limit). */
  count: number;
  /** The store revision the read was served at (the newest revision, as etcd reports it). */
  rev: number;
}

/** A lease gaining or losing a key, reported after the write that caused it has committed. */
export interface LeaseChange {
  lease: bigint;
  key: Buffer;
  kind: "attach" | "detach";
}

export interface HashKVResult {
  hash: number;
  compactRevision: number;
  currentRevision: number;
}

/** The operations available inside one write (all of them share one new revision). */
export interface WriteTxn {
  /** Revision before this write. */
  readonly beginRev: number;
  /** Reads see this write's earlier changes. */
  range(key: Buffer, end: Buffer | undefined, options?: RangeOptions): RangeResult;
  /**
   * Returns the revision the put is at (beginRev + 1). The store keeps copies of key and value, or,
   * when `handedOver`, the buffers themselves: their owner hands them over and never changes them.
   */
  put(key: Buffer, value: Buffer, lease: bigint, handedOver?: boolean): number;
  /** Deletes every live key in the range; returns how many and the revision of the write so far. */
  deleteRange(key: Buffer, end: Buffer | undefined): { deleted: number; rev: number };
  /** Number of changes made so far. */
  readonly changeCount: number;
}

type CommitListener = (events: Event[], rev: number) => void;
type CompactListener = (compactRev: number) => void;
type LeaseListener = (changes: LeaseChange[]) => void;

const DEFAULT_COMPACTION_BATCH_LIMIT = 1000;

export class KVStore {
  readonly backend: Backend;
  private index = new KeyIndex();
  private readonly options: Required<Pick<KVStoreOptions, "compactionBatchLimit" | "onListenerError">>;
  private rev = 1;
  /** etcd's compactMainRev: -1 until the first compaction (so Compact(0) is accepted once, as in etcd). */
  private compactMainRev = -1;
  private appliedIndex = 0;
  private readonly commitListeners = new Set<CommitListener>();
  private readonly compactListeners = new Set<CompactListener>();
  /** Lease listeners, each with whether it wants detaches now (undefined: always). */
  private readonly leaseListeners = new Map<LeaseListener, (() => boolean) | undefined>();
  private compaction: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closing = false;
  private batchDepth = 0;
  /** The key write running now (record changes staged inside it are undone with it). */
  private activeTxn: StoreWriteTxn | undefined;

  private constructor(backend: Backend, options: KVStoreOptions) {
    this.backend = backend;
    this.options = {
      compactionBatchLimit: options.compactionBatchLimit ?? DEFAULT_COMPACTION_BATCH_LIMIT,
      onListenerError:
        options.onListenerError ??
        ((err) => process.emitWarning(`mvcc listener failed: ${String(err)}`, "MvccListenerWarning")),
    };
    // the applied state is ahead of the file now, for good: restart and replay from the WAL
    backend.onCommitFailure((err) => this.fail(new Error(`backend commit failed: ${String(err)}`)));
  }

  /** Opens the store in the backend file `file` (see `backendPath`), rebuilding the key index. */
  static open(file: string, options: KVStoreOptions = {}): KVStore {
    const store = new KVStore(Backend.open(file, options), options);
    store.restore();
    return store;
  }

  // ---- state -------------------------------------------------------------------------------

  currentRev(): number {
    return this.rev;
  }

  /** Revision of the last compaction, -1 when never compacted (etcd's compactMainRev). */
  compactRev(): number {
    return this.compactMainRev;
  }

  /** The raft index of the last applied entry; entries at or below it are not applied again. */
  consistentIndex(): number {
    return this.appliedIndex;
  }

  /** True when the entry at `raftIndex` has been applied already (0 = not from raft: never). */
  isApplied(raftIndex: number): boolean {
    return raftIndex > 0 && raftIndex <= this.appliedIndex;
  }

  /** Number of keys known to the index (live or with history). */
  indexedKeys(): number {
    return this.index.size;
  }

  // ---- listeners ---------------------------------------------------------------------------

  /** Called synchronously after each committed write that bumped the revision, in order. */
  onCommit(listener: CommitListener): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  onCompact(listener: CompactListener): () => void {
    this.compactListeners.add(listener);
    return () => this.compactListeners.delete(listener);
  }

  /**
   * Keys attached to / detached from leases by puts and deletes, after each commit. `detachesWanted`,
   * when given, tells whether the listener can act on a detach now (a lessor without any lease
   * cannot): while no listener can, a write that replaces or deletes a key does not read the key's
   * record for its old lease, and reports no detach.
   */
  onLeaseChange(listener: LeaseListener, detachesWanted?: () => boolean): () => void {
    this.leaseListeners.set(listener, detachesWanted);
    return () => this.leaseListeners.delete(listener);
  }

  // ---- reads -------------------------------------------------------------------------------

  /** Range read at the newest committed revision (or `options.rev`). */
  range(key: Buffer, end: Buffer | undefined, options: RangeOptions = {}): RangeResult {
    this.assertUsable();
    return this.rangeAt(this.rev, toKeyRange(key, end), options);
  }

  /** The key as of `atRev`; undefined when it did not exist then or that history is compacted. */
  get(key: Buffer, atRev: number): KeyValue | undefined {
    this.assertUsable();
    if (atRev < this.compactMainRev || atRev > this.rev) return undefined;
    const at = this.index.get(keyString(key), atRev);
    return at === undefined ? undefined : this.readRecord(at);
  }

  /**
   * Every event on the key range with fromRev <= revision <= toRev, in (revision, sub) order,
   * read from the history table. Throws CompactedError when fromRev < compactRev (etcd's watch
   * rule: a watcher may start at the compaction revision itself).
   */
  eventsBetween(
    key: Buffer,
    end: Buffer | undefined,
    fromRev: number,
    toRev: number,
    limit?: number,
  ): Event[] {
    this.assertUsable();
    if (fromRev > 0 && fromRev < this.compactMainRev) throw new CompactedError();
    const range = toKeyRange(key, end);
    const events: Event[] = [];
    const from = Math.max(fromRev, 1);
    if (toRev < from) return events;
    const history = this.backend.applied.history;
    for (const rk of history.keys({ start: revKey(from, 0), end: revKey(toRev + 1, 0) })) {
      const raw = history.get(rk);
      if (raw === undefined) continue;
      // Check the key before decoding the whole record: most records are usually elsewhere.
      if (!inKeyRange(scanIndexFields(raw).key, range)) continue;
      const kv = decodeKeyValue(raw);
      if (isTombstoneKey(rk)) {
        events.push({
          type: Event_EventType.DELETE,
          kv: deletedKeyValue(kv.key, revKeyMain(rk)),
          prevKv: undefined,
        });
      } else {
        events.push({ type: Event_EventType.PUT, kv, prevKv: undefined });
      }
      if (limit !== undefined && limit > 0 && events.length >= limit) break;
    }
    return events;
  }

  /** Every live key with a lease, with its lease (for the lessor to rebuild its key sets). */
  *leasedKeys(): IterableIterator<{ lease: bigint; key: Buffer }> {
    for (const [, ki] of this.index.all()) {
      const at = ki.get(this.rev);
      if (at === undefined) continue;
      const kv = this.readRecord(at);
      if (kv.lease !== 0n) yield { lease: kv.lease, key: kv.key };
    }
  }

  // ---- writes ------------------------------------------------------------------------------

  /**
   * Runs `fn` as one write at revision currentRev()+1 and commits it together with `raftIndex`
   * as the consistent index. Returns undefined without running `fn` when `raftIndex` was
   * applied already. An exception thrown by `fn` aborts the whole write (LMDB transaction and
   * key index), as if it had not run.
   */
  write<T>(raftIndex: number, fn: (tx: WriteTxn) => T): T | undefined {
    this.assertUsable();
    if (this.isApplied(raftIndex)) return undefined;
    const tx = new StoreWriteTxn(this, this.rev);
    let result: T | undefined;
    try {
      if (this.batchDepth > 0) {
        // Inside a batch the LMDB transaction is shared: undo this write's records by hand.
        try {
          result = this.runWrite(tx, fn, raftIndex);
          // nothing changed (no key, no record): undone as an aborted transaction would be
          if (tx.aborted) tx.undoStagedRecords();
        } catch (err) {
          tx.removeRecords();
          tx.undoStagedRecords();
          throw err;
        }
      } else {
        this.backend.stage(() => {
          result = this.runWrite(tx, fn, raftIndex);
          return tx.aborted ? ABORT_WRITE : undefined;
        });
      }
    } catch (err) {
      // The records are gone (transaction aborted or removed); take the changes out of the index.
      if (tx.events.length > 0) this.index.undo(tx.touchedKeys, this.rev + 1);
      throw err;
    }
    if (raftIndex > this.appliedIndex) this.appliedIndex = raftIndex;
    if (tx.events.length > 0) {
      this.rev++;
      // (listeners called in loops of their own: this runs for every applied write)
      const leaseChanges = tx.leaseChanges;
      if (leaseChanges !== undefined) {
        for (const l of this.leaseListeners.keys()) {
          try {
            l(leaseChanges);
          } catch (err) {
            this.options.onListenerError(err);
          }
        }
      }
      const rev = this.rev;
      for (const l of this.commitListeners) {
        try {
          l(tx.events, rev);
        } catch (err) {
          this.options.onListenerError(err);
        }
      }
    }
    return result;
  }

  /**
   * The body of one write, inside its transaction: runs `fn`, then persists the revision and the
   * consistent index, or marks the write aborted when it changed nothing.
   */
  private runWrite<T>(tx: StoreWriteTxn, fn: (tx: WriteTxn) => T, raftIndex: number): T {
    let result: T;
    this.activeTxn = tx;
    try {
      result = fn(tx);
    } finally {
      this.activeTxn = undefined;
    }
    if (tx.events.length === 0) {
      if (!tx.stagedRecords) {
        tx.aborted = true;
        return result;
      }
      // no key changed but records did (a revoked lease without keys): they commit with the
      // consistent index, at the same revision
      if (raftIndex > this.appliedIndex) this.persistConsistentIndex(raftIndex);
      return result;
    }
    this.persistCurrentRev(this.rev + 1);
    if (raftIndex > this.appliedIndex) this.persistConsistentIndex(raftIndex);
    return result;
  }

  /**
   * Runs several writes (each its own revision, e.g. one per raft entry) as one staged batch, one
   * LMDB transaction committed off the main thread once the batch returns (`committed()`). The
   * current revision and the consistent index are written once, as the batch leaves them (not once
   * per write). Listeners hear each write when it finishes; if the batch cannot be handed to the
   * backend or its commit fails the store is failed (restart and replay from the WAL).
   */
  batch<T>(fn: () => T): T {
    this.assertUsable();
    let result: T | undefined;
    const revBefore = this.rev;
    this.batchDepth++;
    try {
      this.backend.stage(() => {
        result = fn();
        if (this.batchDepth === 1) this.flushBatchMeta();
      });
    } catch (err) {
      if (this.rev !== revBefore) this.fail(err);
      throw err;
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0) this.batchMeta = { currentRev: 0, consistentIndex: 0 };
    }
    return result as T;
  }

  /** The values a running batch writes at its end (0: not changed by the batch). */
  private batchMeta = { currentRev: 0, consistentIndex: 0 };

  /** Writes the current revision now, or once at the end of the running batch. */
  private persistCurrentRev(rev: number): void {
    if (this.batchDepth > 0) this.batchMeta.currentRev = rev;
    else this.backend.putMetaNumber(MetaKey.currentRev, rev);
  }

  /** Writes the consistent index now, or once at the end of the running batch. */
  private persistConsistentIndex(raftIndex: number): void {
    if (this.batchDepth > 0)
      this.batchMeta.consistentIndex = Math.max(this.batchMeta.consistentIndex, raftIndex);
    else this.backend.putMetaNumber(MetaKey.consistentIndex, raftIndex);
  }

  private flushBatchMeta(): void {
    const { currentRev, consistentIndex } = this.batchMeta;
    if (currentRev > 0) this.backend.putMetaNumber(MetaKey.currentRev, currentRev);
    if (consistentIndex > 0) this.backend.putMetaNumber(MetaKey.consistentIndex, consistentIndex);
    this.batchMeta = { currentRev: 0, consistentIndex: 0 };
  }

  // ---- record buckets (leases, alarms, members, cluster, auth) ------------------------------

  /** Every record of a bucket in key order, as etcd stores them. */
  records(bucket: RecordBucket): Array<[Buffer, Buffer]> {
    this.assertUsable();
    const out: Array<[Buffer, Buffer]> = [];
    const table = this.backend.applied.records(bucket);
    for (const k of table.keys()) {
      const key = Buffer.from(k);
      const value = table.getStable(key);
      if (value !== undefined) out.push([key, Buffer.from(value)]);
    }
    return out;
  }

  /**
   * Applies record changes for an entry that changes no key, in one transaction with `raftIndex`
   * as the consistent index. No-op when the entry was applied already.
   */
  writeRecords(raftIndex: number, changes: readonly RecordChange[]): void {
    this.assertUsable();
    if (this.isApplied(raftIndex)) return;
    this.backend.stage(() => {
      this.putRecords(changes);
      if (raftIndex > this.appliedIndex) this.persistConsistentIndex(raftIndex);
    });
    if (raftIndex > this.appliedIndex) this.appliedIndex = raftIndex;
  }

  /**
   * Stages record changes inside a write that is running (`write`, `batch`), so they commit or
   * abort with it. Throws when no write is running.
   */
  stageRecords(changes: readonly RecordChange[]): void {
    this.assertUsable();
    if (!this.backend.inWrite()) throw new Error("mvcc: record changes staged outside a write");
    this.putRecords(changes, this.activeTxn);
  }

  private putRecords(changes: readonly RecordChange[], undoLog?: StoreWriteTxn): void {
    for (const [bucket, key, value] of changes) {
      const table = this.backend.applied.records(bucket);
      undoLog?.noteRecord(bucket, key, table.getStable(key));
      // copies: the staged change is kept until it commits, whatever the caller does with its buffers
      if (value === undefined) table.remove(Buffer.from(key));
      else table.put(Buffer.from(key), Buffer.from(value));
    }
  }

  /** Records `raftIndex` as applied for an entry that changed no key (persisted at once). */
  setConsistentIndex(raftIndex: number): void {
    this.assertUsable();
    if (raftIndex <= this.appliedIndex) return;
    this.backend.stage(() => this.persistConsistentIndex(raftIndex));
    this.appliedIndex = raftIndex;
  }

  /**
   * Compacts history at `rev`: the compaction mark is committed (with `raftIndex`), the index is
   * compacted at once, and history records are removed from LMDB in batches afterwards; `done`
   * resolves when that removal has finished. Throws CompactedError when rev <= compactRev()
   * and FutureRevError when rev > currentRev(). Returns undefined when already applied.
   */
  compact(rev: number, raftIndex = 0): { done: Promise<void> } | undefined {
    this.assertUsable();
    if (this.isApplied(raftIndex)) return undefined;
    if (rev <= this.compactMainRev) throw new CompactedError();
    if (rev > this.rev) throw new FutureRevError();
    this.backend.stage(() => {
      this.backend.putMetaNumber(MetaKey.scheduledCompactRev, rev);
      if (raftIndex > this.appliedIndex) this.persistConsistentIndex(raftIndex);
    });
    if (raftIndex > this.appliedIndex) this.appliedIndex = raftIndex;
    return { done: this.scheduleCompaction(rev) };
  }

  /** Resolves when every scheduled physical compaction has finished. */
  compactionsDone(): Promise<void> {
    return this.compaction;
  }

  /**
   * etcd's HashByRev: CRC-32C over the history table up to `rev` (0 = newest), skipping
   * compacted revisions, so two stores that applied the same log agree.
   */
  hashKV(rev = 0): HashKVResult {
    this.assertUsable();
    const compactRevision = this.compactMainRev;
    const currentRevision = this.rev;
    if (rev > 0 && rev <= compactRevision) throw new CompactedError();
    if (rev > 0 && rev > currentRevision) throw new FutureRevError();
    const atRev = rev === 0 ? currentRevision : rev;
    const h = new Crc32c();
    h.update(HISTORY_TABLE_NAME);
    // A negative revision is below every record: etcd hashes its bucket name alone.
    if (atRev < 0) return { hash: h.digest(), compactRevision, currentRevision };
    // Only records at or below the compaction revision consult the keep set.
    const keep = compactRevision > 0 ? this.index.keep(atRev) : new RevSet();
    const history = this.backend.applied.history;
    for (const key of history.keys({ end: revKey(atRev + 1, 0) })) {
      const main = revKeyMain(key);
      if (main <= compactRevision && keep.size > 0 && !keep.has(main, revKeySub(key))) continue;
      const value = history.get(key);
      if (value === undefined) continue;
      h.update(key);
      h.update(value);
    }
    return { hash: h.digest(), compactRevision, currentRevision };
  }

  /** Resolves when every write applied so far is committed and on disk. */
  sync(): Promise<void> {
    return this.backend.sync();
  }

  /**
   * Resolves when every write applied so far is committed to the backend file (not necessarily
   * flushed to disk); rejects when a commit failed.
   */
  committed(): Promise<void> {
    return this.backend.whenCommitted();
  }

  /** Stops compaction work and closes the backend. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.compaction.catch(() => undefined);
    await this.backend.close();
  }

  // ---- internals shared with the write transaction -----------------------------------------

  /** @internal */
  rangeAt(curRev: number, range: KeyRange, options: RangeOptions): RangeResult {
    let rev = options.rev ?? 0;
    if (rev > curRev) throw new FutureRevError();
    if (rev <= 0) rev = curRev;
    if (rev < this.compactMainRev) throw new CompactedError();
    const { revs } = this.index.revisions(range, rev);
    if (revs.length === 0 || options.countOnly) return { kvs: [], count: revs.length, rev: curRev };
    const limit =
      options.limit !== undefined && options.limit > 0 && options.limit < revs.length
        ? options.limit
        : revs.length;
    const kvs = new Array<KeyValue>(limit);
    for (let i = 0; i < limit; i++) kvs[i] = this.readRecord(revs[i]);
    return { kvs, count: revs.length, rev: curRev };
  }

  /** @internal */
  readRecord(at: { main: number; sub: number }): KeyValue {
    const raw = this.backend.applied.history.get(revKey(at.main, at.sub));
    if (raw === undefined) {
      this.fail(new Error(`history record ${at.main}/${at.sub} is missing`));
      throw this.failure;
    }
    return decodeKeyValue(raw);
  }

  /** @internal */
  get keyIndex(): KeyIndex {
    return this.index;
  }

  /** @internal Whether a replaced or deleted key's old lease must be read (some listener wants its detach). */
  wantsLeaseDetaches(): boolean {
    for (const wanted of this.leaseListeners.values()) if (wanted === undefined || wanted()) return true;
    return false;
  }

  // ---- private -----------------------------------------------------------------------------

  private restore(): void {
    const b = this.backend;
    // an absent mark means never compacted (a compaction at 0 leaves a mark of 0)
    const finished = b.hasMeta(MetaKey.finishedCompactRev) ? b.getMetaNumber(MetaKey.finishedCompactRev) : -1;
    const scheduled = b.hasMeta(MetaKey.scheduledCompactRev)
      ? b.getMetaNumber(MetaKey.scheduledCompactRev)
      : -1;
    this.compactMainRev = finished;
    this.appliedIndex = b.getMetaNumber(MetaKey.consistentIndex);
    let newest = 1;
    const history = b.history;
    // Keys, then each value through the zero-copy read (valid until the next read): about twice
    // as fast as iterating key-value pairs, which copies every value.
    for (const rk of history.getKeys({})) {
      const main = revKeyMain(rk);
      const sub = revKeySub(rk);
      const value = history.getBinaryFast(rk);
      if (value === undefined) throw new Error(`history record ${main}/${sub} vanished while loading`);
      const fields = scanIndexFields(value);
      const ki = this.index.history(fields.key);
      newest = main;
      if (ki !== undefined) {
        if (isTombstoneKey(rk)) ki.tombstone(main, sub);
        else ki.put(main, sub);
      } else if (!isTombstoneKey(rk)) {
        this.index.restore(fields.key, fields.createRevision, main, sub, fields.version);
      }
    }
    this.rev = Math.max(newest, b.getMetaNumber(MetaKey.currentRev), this.compactMainRev, 1);
    if (scheduled > finished) {
      // A compaction was committed but its physical part did not finish: run it again.
      this.compactMainRev = scheduled;
      void this.scheduleCompaction(scheduled);
    }
  }

  /**
   * Replaces everything with an etcd bbolt file (the backend of a snapshot the leader sent): the
   * file is imported beside the backend, swapped in, and the key index rebuilt from it. Returns the
   * consistent index the file describes.
   */
  async restoreFromBbolt(file: string): Promise<number> {
    await this.compaction.catch(() => undefined);
    const incoming = `${this.backend.file}.incoming`;
    const imported = await importBbolt(file, incoming);
    await this.backend.replaceFile(incoming);
    this.index = new KeyIndex();
    this.rev = 1;
    this.compactMainRev = 0;
    this.appliedIndex = 0;
    this.restore();
    return imported.consistentIndex;
  }

  private scheduleCompaction(rev: number): Promise<void> {
    this.compactMainRev = rev;
    const keep = this.index.compact(rev);
    this.notify(this.compactListeners, (l) => l(rev));
    this.compaction = this.compaction.then(() => this.removeCompacted(rev, keep));
    return this.compaction;
  }

  private async removeCompacted(compactRev: number, keep: RevSet): Promise<void> {
    const limit = this.options.compactionBatchLimit;
    const end = revKey(compactRev + 1, 0);
    let start: Buffer = Buffer.alloc(REV_KEY_LEN);
    for (;;) {
      await this.backend.idle();
      if (this.closing || this.failure !== undefined) return;
      let scanned = 0;
      let next: Buffer | undefined;
      this.backend.stage(() => {
        const history = this.backend.applied.history;
        for (const key of history.keys({ start, end, limit })) {
          scanned++;
          const k = Buffer.from(key);
          next = k;
          if (!keep.has(revKeyMain(k), revKeySub(k))) history.remove(k);
        }
        if (scanned < limit) this.backend.putMetaNumber(MetaKey.finishedCompactRev, compactRev);
      });
      // done means gone from the file (a read through the store never sees them before)
      if (scanned < limit || next === undefined) return this.backend.whenCommitted();
      start = revKey(revKeyMain(next), revKeySub(next) + 1);
      await yieldToLoop();
    }
  }

  private notify<L>(listeners: Set<L>, call: (l: L) => void): void {
    for (const l of listeners) {
      try {
        call(l);
      } catch (err) {
        this.options.onListenerError(err);
      }
    }
  }

  private fail(err: unknown): void {
    if (this.failure === undefined) {
      this.failure = new StoreFatalError(`mvcc store failed, restart required: ${String(err)}`);
    }
  }

  private assertUsable(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.closing) throw new Error("mvcc store is closed");
  }
}

/** etcd hashes its bucket name first. */
const HISTORY_TABLE_NAME = Buffer.from("key");

function deletedKeyValue(key: Buffer, modRevision: number): KeyValue {
  return { key, createRevision: 0, modRevision, version: 0, value: Buffer.alloc(0), lease: 0n };
}

/** One write in progress: changes go to LMDB (same transaction) and to the key index at once. */
class StoreWriteTxn implements WriteTxn {
  readonly beginRev: number;
  readonly events: Event[] = [];
  /** Created with the first change (most writes change no lease). */
  leaseChanges: LeaseChange[] | undefined;
  /** Keys whose index entry this write changed (to undo on abort; a key twice is undone once). */
  readonly touchedKeys: string[] = [];
  /** Created with the first record changed inside the write (most writes change none). */
  private recordUndo: RecordChange[] | undefined;
  /** Set when the write changed nothing: its transaction is aborted (or its records undone). */
  aborted = false;
  private readonly store: KVStore;

  constructor(store: KVStore, beginRev: number) {
    this.store = store;
    this.beginRev = beginRev;
  }

  get changeCount(): number {
    return this.events.length;
  }

  /** Notes a record's value before this write changed it (to undo when a shared transaction cannot abort). */
  noteRecord(bucket: RecordBucket, key: Buffer, previous: Buffer | undefined): void {
    this.recordUndo ??= [];
    this.recordUndo.push([
      bucket,
      Buffer.from(key),
      previous === undefined ? undefined : Buffer.from(previous),
    ]);
  }

  /** True when records were changed inside this write. */
  get stagedRecords(): boolean {
    return this.recordUndo !== undefined && this.recordUndo.length > 0;
  }

  /** Puts back the records this write changed, newest change first. */
  undoStagedRecords(): void {
    const undo = this.recordUndo;
    if (undo === undefined) return;
    for (let i = undo.length - 1; i >= 0; i--) {
      const [bucket, key, previous] = undo[i];
      const table = this.store.backend.applied.records(bucket);
      if (previous === undefined) table.remove(key);
      else table.put(key, previous);
    }
    undo.length = 0;
  }

  /** Deletes the history records this write put (when a shared transaction cannot abort). */
  removeRecords(): void {
    const rev = this.beginRev + 1;
    const history = this.store.backend.applied.history;
    this.events.forEach((e, sub) => {
      history.remove(revKey(rev, sub, e.type === Event_EventType.DELETE));
    });
  }

  private noteLease(lease: bigint, key: Buffer, kind: LeaseChange["kind"]): void {
    this.leaseChanges ??= [];
    this.leaseChanges.push({ lease, key, kind });
  }

  private readRev(): number {
    return this.events.length > 0 ? this.beginRev + 1 : this.beginRev;
  }

  range(key: Buffer, end: Buffer | undefined, options: RangeOptions = {}): RangeResult {
    return this.store.rangeAt(this.readRev(), toKeyRange(key, end), options);
  }

  put(key: Buffer, value: Buffer, lease: bigint, handedOver = false): number {
    const rev = this.beginRev + 1;
    const k = keyString(key);
    const index = this.store.keyIndex;
    const history = index.history(k);
    const prev = history?.get(rev);
    const sub = this.events.length;
    const kv: KeyValue = {
      key: handedOver && Buffer.isBuffer(key) ? key : Buffer.from(key),
      value: handedOver && Buffer.isBuffer(value) ? value : Buffer.from(value),
      createRevision: prev === undefined ? rev : prev.created,
      modRevision: rev,
      version: prev === undefined ? 1 : prev.version + 1,
      lease,
    };
    if (prev !== undefined && this.store.wantsLeaseDetaches()) {
      const oldLease = this.store.readRecord(prev).lease;
      if (oldLease !== 0n) this.noteLease(oldLease, kv.key, "detach");
    }
    this.store.backend.applied.history.put(revKey(rev, sub), encodeKeyValue(kv));
    this.touchedKeys.push(k);
    index.putFound(history, k, rev, sub);
    this.events.push({ type: Event_EventType.PUT, kv, prevKv: undefined });
    if (lease !== 0n) this.noteLease(lease, kv.key, "attach");
    return rev;
  }

  deleteRange(key: Buffer, end: Buffer | undefined): { deleted: number; rev: number } {
    const index = this.store.keyIndex;
    const { keys, revs } = index.revisions(toKeyRange(key, end), this.readRev());
    for (let i = 0; i < keys.length; i++) this.deleteKey(keys[i], revs[i]);
    return { deleted: keys.length, rev: this.readRev() };
  }

  private deleteKey(k: string, live: IndexedRev): void {
    const rev = this.beginRev + 1;
    const sub = this.events.length;
    const key = keyBytes(k);
    if (this.store.wantsLeaseDetaches()) {
      const oldLease = this.store.readRecord(live).lease;
      if (oldLease !== 0n) this.noteLease(oldLease, key, "detach");
    }
    const record = encodeKeyValue({
      key,
      createRevision: 0,
      modRevision: 0,
      version: 0,
      value: Buffer.alloc(0),
      lease: 0n,
    });
    this.store.backend.applied.history.put(revKey(rev, sub, true), record);
    this.touchedKeys.push(k);
    if (!this.store.keyIndex.tombstone(k, rev, sub)) {
      throw new StoreFatalError(`key index: tombstone of a key that is not live`);
    }
    this.events.push({ type: Event_EventType.DELETE, kv: deletedKeyValue(key, rev), prevKv: undefined });
  }
}
