// The LMDB environment that holds the applied key-value state: the revision-keyed history
// table, a small meta table (consistent index, compaction marks, schema version) and one table
// per etcd record bucket (leases, alarms, members, cluster, auth).
// etcd keeps the same state in bbolt at <data-dir>/member/snap/db; this file is its LMDB twin.
// The store's writes are staged (`stage`) and committed by lmdb-js off the main thread; `applied`
// reads the state with the staged writes that have not committed yet (see write-buffer.ts).

import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { ABORT, type Database, open, type RootDatabase } from "lmdb";
import { exportBbolt } from "./bbolt-export.js";
import { migrateSchema1 } from "./migrate.js";
import { moveHashedPrefixKeys, RecordTable } from "./record-table.js";
import { RECORD_BUCKETS, type RecordBucket } from "./records.js";
import {
  type BufferedTable,
  type CommitPolicy,
  DEFAULT_COMMIT_POLICY,
  type StagedSnapshot,
  WriteBuffer,
} from "./write-buffer.js";

/**
 * Current on-disk layout of the backend; bumped on any incompatible change.
 * 1: records in the meta table under `rec/<bucket>/<hex key>`. 2: one table per record bucket,
 * with etcd's bytes. 3: record keys of any length, a long one (or one that begins with 0xff) under
 * a hashed stand-in (see record-table.ts). Older schemas are migrated on open.
 */
export const BACKEND_SCHEMA_VERSION = 3;

/**
 * How a write transaction reaches the disk.
 * - "sync" (default): the commit is flushed (fsync) before the write returns.
 * - "overlapping": lmdb-js's overlapping sync; the commit is visible at once and flushed in
 *   the background, never corrupting the file (measured slower than "sync" for synchronous
 *   one-write transactions: each commit waits for the previous flush).
 * - "nosync": commits are not flushed; `sync()` flushes. A process crash loses nothing (the
 *   page cache survives it); an operating-system crash can lose recent commits or damage the
 *   file. The WAL replays lost commits (consistent index), so this trades integrity under
 *   power loss for speed, like running etcd on a disk that lies about fsync.
 * The server should apply the committed entries of one Ready inside one `KVStore.batch`.
 */
export type Durability = "sync" | "overlapping" | "nosync";

export interface BackendOptions {
  durability?: Durability;
  /** Upper bound of the memory map (and so of the file), bytes. */
  mapSize?: number;
  /**
   * When staged writes go to LMDB (etcd's --backend-batch-interval and --backend-batch-limit);
   * etcd's 100 ms and 10,000 writes by default.
   */
  commit?: Partial<CommitPolicy>;
}

/** Meta keys (strings in the meta table). */
export const MetaKey = {
  schemaVersion: "schemaVersion",
  consistentIndex: "consistent_index",
  currentRev: "currentRev",
  scheduledCompactRev: "scheduledCompactRev",
  finishedCompactRev: "finishedCompactRev",
} as const;
export type MetaKeyName = (typeof MetaKey)[keyof typeof MetaKey];

/** An LMDB read transaction. */
export type ReadTxn = ReturnType<RootDatabase["useReadTransaction"]>;

/**
 * A consistent view of the backend for a long read (an export): every table as of the moment it
 * was opened (committed and staged writes alike), whatever is written meanwhile. Pinned until
 * `release()`; defragmentation waits for it, and closing the backend releases it (reads through it
 * fail afterwards).
 */
export interface ReadView {
  readonly txn: ReadTxn;
  readonly released: boolean;
  release(): void;
  /** The value of `key` in `table` as of the view. */
  get<K extends Buffer | string>(table: BufferedTable<K>, key: K): Buffer | undefined;
  /** Every entry of `table` as of the view, in key order. */
  entries(table: BufferedTable<Buffer> | RecordTable): Iterable<[Buffer, Buffer]>;
}

/** The applied state's tables: LMDB overlaid with the staged writes not committed yet. */
export interface AppliedTables {
  readonly history: BufferedTable<Buffer>;
  readonly meta: BufferedTable<string>;
  records(bucket: RecordBucket): RecordTable;
}

const TXN_ABORTABLE_SYNC_COMMIT = 0x3;
const TXN_NO_SYNC_FLUSH = 0x10000;
const DEFAULT_MAP_SIZE = 64 * 1024 * 1024 * 1024;

/** The default path of the backend file inside a data dir (as etcd's). */
export function backendPath(dataDir: string): string {
  return path.join(dataDir, "member", "snap", "db");
}

export class Backend {
  readonly file: string;
  private readonly options: Required<Omit<BackendOptions, "commit">>;
  private readonly commitPolicy: CommitPolicy;
  private env!: RootDatabase;
  private historyDb!: Database<Buffer, Buffer>;
  private metaDb!: Database<Buffer, string>;
  private recordDbs = new Map<RecordBucket, Database<Buffer, Buffer>>();
  private buffer!: WriteBuffer;
  private tables!: AppliedTables;
  private readonly commitFailureListeners = new Set<(err: unknown) => void>();
  private readonly commitListeners = new Set<(durationMs: number) => void>();
  private writeDepth = 0;
  /** True while a synchronous (`write`) transaction runs. */
  private writingSync = false;
  private readonly views = new Set<{ view: ReadView; done: Promise<void> }>();
  private closed = false;
  private defragmenting: Promise<void> | undefined;

  private constructor(file: string, options: BackendOptions) {
    this.file = file;
    this.options = {
      durability: options.durability ?? "sync",
      mapSize: options.mapSize ?? DEFAULT_MAP_SIZE,
    };
    this.commitPolicy = {
      intervalMs: options.commit?.intervalMs ?? DEFAULT_COMMIT_POLICY.intervalMs,
      limit: options.commit?.limit ?? DEFAULT_COMMIT_POLICY.limit,
      maxBytes: options.commit?.maxBytes ?? DEFAULT_COMMIT_POLICY.maxBytes,
    };
    this.openEnv();
  }

  /** Opens (creating if needed) the backend file at `file`. */
  static open(file: string, options: BackendOptions = {}): Backend {
    mkdirSync(path.dirname(file), { recursive: true });
    const backend = new Backend(file, options);
    const schema = backend.getMetaNumber(MetaKey.schemaVersion);
    if (schema === 0) {
      backend.write(() => backend.putMetaNumber(MetaKey.schemaVersion, BACKEND_SCHEMA_VERSION));
    } else if (schema === 1 || schema === 2) {
      backend.write(() => {
        if (schema === 1) migrateSchema1(backend.meta, (bucket) => backend.records(bucket));
        for (const bucket of RECORD_BUCKETS) moveHashedPrefixKeys(backend.records(bucket));
        backend.putMetaNumber(MetaKey.schemaVersion, BACKEND_SCHEMA_VERSION);
      });
    } else if (schema !== BACKEND_SCHEMA_VERSION) {
      backend.env.close();
      throw new Error(`backend ${file}: unsupported schema version ${schema}`);
    }
    return backend;
  }

  private openEnv(): void {
    this.env = open({
      path: this.file,
      noSubdir: true,
      maxDbs: 16,
      mapSize: this.options.mapSize,
      overlappingSync: this.options.durability === "overlapping",
      noSync: this.options.durability === "nosync",
    });
    this.historyDb = this.env.openDB<Buffer, Buffer>({
      name: "key",
      keyEncoding: "binary",
      encoding: "binary",
    });
    this.metaDb = this.env.openDB<Buffer, string>({ name: "meta", encoding: "binary" });
    this.recordDbs = new Map(
      RECORD_BUCKETS.map((bucket) => [
        bucket,
        this.env.openDB<Buffer, Buffer>({ name: bucket, keyEncoding: "binary", encoding: "binary" }),
      ]),
    );
    // (re)opened only with nothing staged: defragmentation and file swaps settle first
    const buffer = new WriteBuffer(
      (err) => {
        for (const l of this.commitFailureListeners) l(err);
      },
      this.commitPolicy,
      (durationMs) => {
        for (const l of this.commitListeners) l(durationMs);
      },
    );
    const bytesId = (key: Buffer) => key.toString("latin1");
    const history = buffer.table(this.historyDb, bytesId);
    const records = new Map(
      [...this.recordDbs].map(
        ([bucket, db]) => [bucket, new RecordTable(buffer.table(db, bytesId))] as const,
      ),
    );
    // made last, so a batch's meta (consistent index) goes to LMDB after the changes it covers
    const meta = buffer.table(this.metaDb, (key: string) => key);
    this.buffer = buffer;
    this.tables = {
      history,
      meta,
      records: (bucket) => {
        const table = records.get(bucket);
        if (table === undefined) throw new Error(`backend: no record bucket ${bucket}`);
        return table;
      },
    };
  }

  /**
   * The applied state: every table as LMDB holds it overlaid with the staged writes whose commit
   * has not landed. The store reads and stages through these.
   */
  get applied(): AppliedTables {
    this.assertOpen();
    return this.tables;
  }

  /** Called when a staged batch failed to commit (the backend is then behind the applied state). */
  onCommitFailure(listener: (err: unknown) => void): () => void {
    this.commitFailureListeners.add(listener);
    return () => this.commitFailureListeners.delete(listener);
  }

  /** Called with the duration of each staged batch's commit, from going to lmdb-js to landing. */
  onCommitted(listener: (durationMs: number) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /** Revision-keyed history table in LMDB (17/18-byte revision keys -> encoded mvccpb.KeyValue). */
  get history(): Database<Buffer, Buffer> {
    this.assertOpen();
    return this.historyDb;
  }

  get meta(): Database<Buffer, string> {
    this.assertOpen();
    return this.metaDb;
  }

  /**
   * The LMDB table of an etcd record bucket: etcd's keys and values, a key LMDB cannot hold under a
   * stand-in (read and write records through `applied.records`, or record-table.ts's `putRecord`).
   */
  records(bucket: RecordBucket): Database<Buffer, Buffer> {
    this.assertOpen();
    const db = this.recordDbs.get(bucket);
    if (db === undefined) throw new Error(`backend: no record bucket ${bucket}`);
    return db;
  }

  /** True while a `write` or `stage` callback runs (changes made now commit or abort with it). */
  inWrite(): boolean {
    return this.writeDepth > 0;
  }

  /**
   * Runs `fn` as one write whose changes (made through `applied`) are staged and, when it returns,
   * join the batch that goes to lmdb-js within the commit interval, to be committed on its write
   * thread: reads through `applied` see them at once, the LMDB file once `whenCommitted()` resolves. Returning `ABORT_WRITE` (or throwing) drops the
   * changes. A `stage` inside another runs in the outer one's batch (it cannot abort on its own).
   */
  stage<T>(fn: () => T | typeof ABORT_WRITE): T | typeof ABORT_WRITE {
    this.assertOpen();
    if (this.defragmenting !== undefined) throw new Error("backend: write during defragmentation");
    if (this.writingSync) throw new Error("backend: a staged write inside a synchronous one");
    const buffer = this.buffer;
    const outer = !buffer.staging;
    if (outer) buffer.begin();
    let result: T | typeof ABORT_WRITE;
    this.writeDepth++;
    try {
      result = fn();
    } catch (err) {
      if (outer) buffer.discard();
      throw err;
    } finally {
      this.writeDepth--;
    }
    if (!outer) {
      if (result === ABORT_WRITE) throw new Error("backend: a nested write cannot abort");
      return result;
    }
    if (result === ABORT_WRITE) buffer.discard();
    else buffer.finish();
    return result;
  }

  /** Resolves when every write staged so far has committed to the LMDB file. */
  whenCommitted(): Promise<void> {
    return this.buffer.whenCommitted();
  }

  /** True when staged writes have not committed yet. */
  hasPendingWrites(): boolean {
    return this.buffer.pending;
  }

  /**
   * Runs `fn` in one synchronous LMDB write transaction on the main thread, through the LMDB tables
   * (`history`, `meta`, `records`); reads inside see its writes. For set-up work (opening,
   * importing), never while staged writes are pending (it would commit ahead of them). Returning
   * `ABORT_WRITE` aborts the transaction.
   */
  write<T>(fn: () => T | typeof ABORT_WRITE): T | typeof ABORT_WRITE {
    this.assertOpen();
    // A write now would be missing from the defragmented copy: callers must wait for `idle()`.
    if (this.defragmenting !== undefined) throw new Error("backend: write during defragmentation");
    if (this.buffer.pending || this.buffer.staging)
      throw new Error("backend: a synchronous write while staged writes are pending");
    const flags =
      this.options.durability === "overlapping"
        ? TXN_ABORTABLE_SYNC_COMMIT | TXN_NO_SYNC_FLUSH
        : TXN_ABORTABLE_SYNC_COMMIT;
    const counted = (): T | typeof ABORT_WRITE => {
      this.writeDepth++;
      this.writingSync = true;
      try {
        return fn();
      } finally {
        this.writingSync = this.writeDepth > 1;
        this.writeDepth--;
      }
    };
    return this.env.transactionSync(counted, flags) as T | typeof ABORT_WRITE;
  }

  /** True when the meta table holds `key` (staged writes included). */
  hasMeta(key: MetaKeyName): boolean {
    return this.applied.meta.get(key) !== undefined;
  }

  /** A meta number (staged writes included); 0 when absent. */
  getMetaNumber(key: MetaKeyName): number {
    const raw = this.applied.meta.get(key);
    if (raw === undefined || raw.length !== 8) return 0;
    return raw.readUInt32BE(0) * 0x1_0000_0000 + raw.readUInt32BE(4);
  }

  /** Must be called inside `write` or `stage`. */
  putMetaNumber(key: MetaKeyName, value: number): void {
    const raw = Buffer.allocUnsafe(8);
    raw.writeUInt32BE(Math.floor(value / 0x1_0000_0000), 0);
    raw.writeUInt32BE(value % 0x1_0000_0000, 4);
    if (this.writingSync) this.meta.put(key, raw);
    else this.applied.meta.put(key, raw);
  }

  /** Bytes of the backend file. */
  size(): number {
    return statSync(this.file).size;
  }

  /** Bytes of pages that hold live data (file size minus free pages). */
  sizeInUse(): number {
    this.assertOpen();
    const pageStats = (s: unknown): number => {
      const st = s as { treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
      return st.treeBranchPageCount + st.treeLeafPageCount + st.overflowPages;
    };
    const envStats = this.env.getStats() as { pageSize: number; root: unknown };
    let pages =
      2 + pageStats(envStats.root) + pageStats(this.historyDb.getStats()) + pageStats(this.metaDb.getStats());
    for (const db of this.recordDbs.values()) pages += pageStats(db.getStats());
    return pages * envStats.pageSize;
  }

  /** Resolves when every write staged so far has committed and is on disk. */
  async sync(): Promise<void> {
    this.assertOpen();
    await this.whenCommitted();
    if (this.options.durability === "nosync") {
      // lmdb-js's env.sync (mdb_env_sync) is not in its typings.
      const env = this.env as unknown as { sync(cb: (err?: Error) => void): void };
      await new Promise<void>((resolve, reject) => env.sync((err) => (err ? reject(err) : resolve())));
      return;
    }
    await this.env.flushed;
  }

  /** Writes a consistent copy of the whole backend to `target` (compacted copy, no free pages). */
  async copyTo(target: string): Promise<void> {
    this.assertOpen();
    await this.buffer.settled();
    await this.env.backup(target, true);
  }

  /**
   * The backend as etcd's bbolt file, as a stream of chunks (the Maintenance Snapshot RPC): read
   * from one consistent view taken when called; `totalBytes` is the size of the file.
   */
  async snapshot(chunkSize = 32 * 1024): Promise<{ totalBytes: number; chunks: AsyncIterable<Buffer> }> {
    await this.idle();
    const file = exportBbolt(this, { chunkSize });
    try {
      return { totalBytes: await file.size(), chunks: file };
    } catch (err) {
      file.close();
      throw err;
    }
  }

  /** Opens a consistent read view (see ReadView); the caller must release it. */
  openReadView(): ReadView {
    this.assertOpen();
    if (this.defragmenting !== undefined) throw new Error("backend: read view during defragmentation");
    // the staged batches first: one that commits after the transaction opened is then still seen
    const staged: StagedSnapshot = this.buffer.snapshot();
    const txn = this.env.useReadTransaction();
    let released = false;
    let resolve!: () => void;
    const entry = {
      view: {
        txn,
        get released() {
          return released;
        },
        get: <K extends Buffer | string>(table: BufferedTable<K>, key: K) => table.getAt(key, staged, txn),
        entries: (table: BufferedTable<Buffer> | RecordTable) =>
          table instanceof RecordTable ? table.entriesAt(staged, txn) : table.entriesAt(staged, txn),
        release: () => {
          if (released) return;
          released = true;
          txn.done();
          this.views.delete(entry);
          resolve();
        },
      },
      done: new Promise<void>((r) => {
        resolve = r;
      }),
    };
    this.views.add(entry);
    return entry.view;
  }

  /**
   * Rewrites the file without free pages (etcd's defragment). Writes throw while it runs (wait
   * for `idle()`), reads may fail while the file is swapped; database handles obtained before
   * are invalid afterwards (use the `history`/`meta` getters each time).
   */
  async defragment(): Promise<void> {
    this.assertOpen();
    if (this.defragmenting !== undefined) return this.defragmenting;
    const run = async (): Promise<void> => {
      // open views (exports) read the file being replaced: let them finish first
      while (this.views.size > 0) await Promise.all([...this.views].map((v) => v.done));
      const tmp = `${this.file}.defrag`;
      rmSync(tmp, { force: true });
      // writes are refused from now on: the last staged ones commit, then the copy holds them all
      await this.buffer.settled();
      await this.sync();
      await this.env.backup(tmp, true);
      await this.env.close();
      renameSync(tmp, this.file);
      this.openEnv();
    };
    this.defragmenting = run().finally(() => {
      this.defragmenting = undefined;
    });
    return this.defragmenting;
  }

  /**
   * Swaps in another backend file (one built from a snapshot the leader sent), as defragmentation
   * swaps in its copy: open views finish first, then the file replaces this one and is reopened.
   */
  async replaceFile(file: string): Promise<void> {
    this.assertOpen();
    await this.idle();
    while (this.views.size > 0) await Promise.all([...this.views].map((v) => v.done));
    await this.buffer.settled();
    if (this.buffer.pending) throw new Error("backend: a write was staged while the file was being replaced");
    await this.env.close();
    renameSync(file, this.file);
    this.openEnv();
  }

  /** Resolves when no defragmentation is running (writes are allowed again). */
  async idle(): Promise<void> {
    while (this.defragmenting !== undefined) await this.defragmenting.catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // staged writes commit before the environment closes (a failed commit is the WAL's to replay)
    await this.buffer.settled().catch(() => undefined);
    for (const { view } of [...this.views]) view.release();
    await this.env.close();
  }

  isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("backend is closed");
  }
}

/** Returned from a `Backend.write` callback to abort its transaction. */
export const ABORT_WRITE: unique symbol = ABORT as never;

/** True when a backend file exists at `file`. */
export function backendExists(file: string): boolean {
  return existsSync(file);
}
