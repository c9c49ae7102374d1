// The backend's writes on their way into LMDB. A write stages its changes here; when it ends they
// join the batch being gathered, which goes to lmdb-js every `intervalMs` (or at `limit` changes or
// `maxBytes`) as asynchronous puts and removes. lmdb-js applies and commits them on its own write
// thread: everything queued in one event turn is one LMDB transaction, and transactions commit in
// order. Until a batch's commit lands, reads are answered from the batch: the main thread neither
// builds the B-tree pages nor writes them, and no read sees less than what was applied. etcd does the
// same with bbolt: one batch transaction committed every 100 ms or 10,000 writes, read through a
// buffer meanwhile.

import type { Database, Transaction } from "lmdb";

/** A key's staged change: its new value, or undefined when the key is removed. */
interface StagedChange<K> {
  readonly key: K;
  readonly value: Buffer | undefined;
}

/** Writes one staged change to LMDB (asynchronously); resolves when its transaction committed. */
type TableWriter = (change: StagedChange<never>) => Promise<boolean>;

/** The changes of one batch (one or more writes), table by table; a key holds its latest change. */
class StagedBatch {
  readonly tables: Array<Map<string, StagedChange<Buffer | string>> | undefined> = [];
  /** Changes staged (a key changed twice counts twice) and their bytes. */
  size = 0;
  bytes = 0;
  /** Settles when LMDB committed the batch (rejects when the commit failed). */
  committed: Promise<void> = Promise.resolve();
}

/** A consistent set of staged batches (what a read view sees beside its LMDB transaction). */
export type StagedSnapshot = readonly StagedBatch[];

/** When the gathered batch goes to LMDB. */
export interface CommitPolicy {
  /** Longest a staged change waits for its batch to go to LMDB, ms; 0 = when its write ends. */
  intervalMs: number;
  /** Changes that make a batch go at once. */
  limit: number;
  /** Bytes (keys and values) that make a batch go at once. */
  maxBytes: number;
}

/** etcd's backend batch interval and limit; a byte bound keeps the buffer of large values small. */
export const DEFAULT_COMMIT_POLICY: CommitPolicy = { intervalMs: 100, limit: 10_000, maxBytes: 8 << 20 };

/** The longest key lmdb-js stores at its default page size (the backend sets none). */
export const MAX_KEY_BYTES = 1978;

const noop = (): void => {};

export class WriteBuffer {
  private readonly writers: TableWriter[] = [];
  /** Per table: staged batches (open or landing) that change it. Reads of other tables skip the buffer. */
  private readonly stagedIn: number[] = [];
  /** The batch a running write stages into. */
  private open: StagedBatch | undefined;
  /** Finished writes not handed to LMDB yet. */
  private gathering: StagedBatch | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  /** Batches handed to LMDB whose commit has not landed yet, oldest first. */
  private readonly landing: StagedBatch[] = [];
  private failure: unknown;

  /**
   * `onCommitFailure` hears a commit that failed: its batch stays readable, nothing commits after it.
   * `onCommitted` hears how long each batch took from going to lmdb-js to its commit landing.
   */
  constructor(
    private readonly onCommitFailure: (err: unknown) => void,
    private readonly policy: CommitPolicy = DEFAULT_COMMIT_POLICY,
    private readonly onCommitted: (durationMs: number) => void = noop,
  ) {}

  /** A table of this buffer over `db`; `keyId` names a key uniquely within the table. */
  table<K extends Buffer | string>(db: Database<Buffer, K>, keyId: (key: K) => string): BufferedTable<K> {
    const id = this.writers.length;
    this.writers.push(((c: StagedChange<K>) =>
      c.value === undefined ? db.remove(c.key) : db.put(c.key, c.value)) as TableWriter);
    this.stagedIn.push(0);
    return new BufferedTable(this, id, db, keyId);
  }

  /** True while a batch is open (a write is running). */
  get staging(): boolean {
    return this.open !== undefined;
  }

  /** True when some staged change has not been committed yet. */
  get pending(): boolean {
    return (
      this.landing.length > 0 ||
      this.gathering !== undefined ||
      (this.open !== undefined && this.open.size > 0)
    );
  }

  /** Opens the batch that writes stage into until `finish` or `discard`. */
  begin(): void {
    if (this.open !== undefined) throw new Error("backend: a write batch is open already");
    if (this.failure !== undefined)
      throw new Error(`backend: an earlier commit failed: ${String(this.failure)}`);
    this.open = new StagedBatch();
  }

  /** Drops the open batch (its write aborted): nothing of it reaches LMDB. */
  discard(): void {
    const batch = this.open;
    this.open = undefined;
    if (batch !== undefined) this.release(batch);
  }

  /** Adds the open batch (a write that ended) to the batch being gathered; sends that when due. */
  finish(): void {
    const batch = this.open;
    this.open = undefined;
    if (batch === undefined || batch.size === 0) return;
    const gathering = this.gathering;
    if (gathering === undefined) this.gathering = batch;
    else {
      batch.tables.forEach((changes, id) => {
        if (changes === undefined) return;
        let into = gathering.tables[id];
        if (into === undefined) {
          into = new Map();
          gathering.tables[id] = into;
          this.stagedIn[id]++;
        }
        for (const [keyId, change] of changes) into.set(keyId, change);
      });
      gathering.size += batch.size;
      gathering.bytes += batch.bytes;
      this.release(batch);
    }
    const due = this.gathering as StagedBatch;
    if (this.policy.intervalMs <= 0 || due.size >= this.policy.limit || due.bytes >= this.policy.maxBytes)
      this.flush();
    else if (this.flushTimer === undefined) {
      // a process that ends meanwhile loses the batch, as a crash would: the WAL replays it
      this.flushTimer = setTimeout(() => this.flush(), this.policy.intervalMs);
      this.flushTimer.unref();
    }
  }

  /**
   * Hands the gathered batch to lmdb-js, table by table in the order the tables were made (the meta
   * table, made last, follows the history it describes). Synchronous, so the batch is one event
   * turn's writes: one LMDB transaction.
   */
  flush(): void {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
    }
    const batch = this.gathering;
    this.gathering = undefined;
    if (batch === undefined) return;
    // One batch in lmdb-js's hands at a time: a batch goes once the one before it has committed, so a
    // commit that fails is never followed by a later one (the file would then hold a consistent index
    // past history it lacks, and the WAL replay would skip it). Until it goes, reads see it here.
    const previous = this.landing[this.landing.length - 1];
    this.landing.push(batch);
    const sent = previous === undefined ? this.send(batch) : previous.committed.then(() => this.send(batch));
    batch.committed = sent.then(
      () => this.landed(batch),
      (err: unknown) => {
        if (this.failure === undefined) {
          this.failure = err;
          this.onCommitFailure(err);
        }
        throw err;
      },
    );
    batch.committed.catch(noop);
  }

  /** Writes the batch to lmdb-js in one synchronous loop (one event turn: one LMDB transaction). */
  private send(batch: StagedBatch): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const started = performance.now();
    let last: Promise<boolean> | undefined;
    try {
      for (let id = 0; id < batch.tables.length; id++) {
        const changes = batch.tables[id];
        if (changes === undefined) continue;
        const write = this.writers[id];
        for (const change of changes.values()) last = write(change as StagedChange<never>);
      }
    } catch (err) {
      // what reached lmdb-js may still commit; reads keep seeing the batch, and the owner fails
      return Promise.reject(err);
    }
    if (last === undefined) return Promise.resolve(true);
    return last.then(() => this.onCommitted(performance.now() - started));
  }

  /** Sends what was gathered; resolves when every write finished so far has committed. */
  whenCommitted(): Promise<void> {
    this.flush();
    const tail = this.landing[this.landing.length - 1];
    return tail === undefined ? Promise.resolve() : tail.committed;
  }

  /** Resolves at a moment when nothing staged is left uncommitted (later batches are waited for too). */
  async settled(): Promise<void> {
    for (;;) {
      this.flush();
      const tail = this.landing[this.landing.length - 1];
      if (tail === undefined) return;
      await tail.committed;
    }
  }

  /** The batches a read view opened now must see beside its LMDB transaction. */
  snapshot(): StagedSnapshot {
    if (this.open !== undefined) throw new Error("backend: a read view cannot open inside a write");
    // the gathered batch still grows: sent now, it is fixed
    this.flush();
    return [...this.landing];
  }

  /** @internal True when some batch (open or landing) changes the table. */
  changes(id: number): boolean {
    return this.stagedIn[id] > 0;
  }

  /** @internal The staged change of a key: the open batch first, then landing batches newest first. */
  lookup<K>(id: number, keyId: string): StagedChange<K> | undefined {
    const open = this.open?.tables[id]?.get(keyId);
    if (open !== undefined) return open as StagedChange<K>;
    const gathered = this.gathering?.tables[id]?.get(keyId);
    if (gathered !== undefined) return gathered as StagedChange<K>;
    return lookupIn(this.landing, id, keyId) as StagedChange<K> | undefined;
  }

  /** @internal Every staged batch a read now must see, oldest first (none when the table has no staged change). */
  batchesOf(id: number): readonly StagedBatch[] {
    if (this.stagedIn[id] === 0) return [];
    if (this.open === undefined && this.gathering === undefined) return this.landing;
    const batches = [...this.landing];
    if (this.gathering !== undefined) batches.push(this.gathering);
    if (this.open !== undefined) batches.push(this.open);
    return batches;
  }

  /** @internal */
  stage<K extends Buffer | string>(id: number, keyId: string, change: StagedChange<K>): void {
    const batch = this.open;
    if (batch === undefined) throw new Error("backend: a change outside a write");
    // LMDB refuses an empty or too long key only when the batch commits, which would fail the store:
    // refuse it here, where the write that staged it can still abort (record tables store a long
    // key under a short stand-in, see record-table.ts; the other tables' keys are short)
    if (change.key.length === 0) throw new Error("backend: a change of an empty key");
    const keyBytes = typeof change.key === "string" ? Buffer.byteLength(change.key) : change.key.length;
    if (keyBytes > MAX_KEY_BYTES) {
      throw new Error(`backend: a change of a key of ${keyBytes} bytes (at most ${MAX_KEY_BYTES})`);
    }
    let changes = batch.tables[id];
    if (changes === undefined) {
      changes = new Map();
      batch.tables[id] = changes;
      this.stagedIn[id]++;
    }
    changes.set(keyId, change);
    batch.size++;
    batch.bytes += change.key.length + (change.value?.length ?? 0);
  }

  /** A batch's commit landed: it and every batch before it are in LMDB (commits land in order). */
  private landed(batch: StagedBatch): void {
    const at = this.landing.indexOf(batch);
    if (at < 0) return;
    for (const done of this.landing.splice(0, at + 1)) this.release(done);
  }

  private release(batch: StagedBatch): void {
    batch.tables.forEach((changes, id) => {
      if (changes !== undefined) this.stagedIn[id]--;
    });
  }
}

function lookupIn(
  batches: readonly StagedBatch[],
  id: number,
  keyId: string,
): StagedChange<Buffer | string> | undefined {
  for (let i = batches.length - 1; i >= 0; i--) {
    const change = batches[i].tables[id]?.get(keyId);
    if (change !== undefined) return change;
  }
  return undefined;
}

/** Key range of a table read; `end` is exclusive. */
export interface KeySpan<K> {
  start?: K;
  end?: K;
  limit?: number;
}

/**
 * One LMDB table as the applied state has it: what LMDB holds, overlaid with the staged changes
 * that have not committed yet. Writes (`put`, `remove`) stage into the running write's batch.
 */
export class BufferedTable<K extends Buffer | string> {
  constructor(
    private readonly buffer: WriteBuffer,
    private readonly id: number,
    /** The table in LMDB (committed state only). */
    readonly db: Database<Buffer, K>,
    private readonly keyId: (key: K) => string,
  ) {}

  /** The value of `key`; an LMDB value is only valid until the next read (lmdb-js's getBinaryFast). */
  get(key: K): Buffer | undefined {
    if (this.buffer.changes(this.id)) {
      const staged = this.buffer.lookup<K>(this.id, this.keyId(key));
      if (staged !== undefined) return staged.value;
    }
    return this.db.getBinaryFast(key);
  }

  /** The value of `key` in a buffer of its own (a copy when it comes from LMDB). */
  getStable(key: K): Buffer | undefined {
    if (this.buffer.changes(this.id)) {
      const staged = this.buffer.lookup<K>(this.id, this.keyId(key));
      if (staged !== undefined) return staged.value;
    }
    return this.db.getBinary(key);
  }

  put(key: K, value: Buffer): void {
    this.buffer.stage(this.id, this.keyId(key), { key, value });
  }

  remove(key: K): void {
    this.buffer.stage(this.id, this.keyId(key), { key, value: undefined });
  }

  /** Keys in `span`, in key order (a key LMDB yields is only valid until the iteration moves on). */
  keys(this: BufferedTable<Buffer>, span: KeySpan<Buffer> = {}): Iterable<Buffer> {
    const staged = stagedInSpan(this.buffer.batchesOf(this.id), this.id, span);
    const committed = this.db.getKeys(staged.length === 0 ? span : { start: span.start, end: span.end });
    if (staged.length === 0) return committed;
    return mergeKeys(committed, staged, span.limit);
  }

  /** @internal The value of `key` as a read view sees it (its LMDB transaction and staged batches). */
  getAt(key: K, batches: StagedSnapshot, transaction: Transaction): Buffer | undefined {
    const staged = lookupIn(batches, this.id, this.keyId(key));
    if (staged !== undefined) return staged.value;
    return this.db.get(key, { transaction });
  }

  /** @internal Every entry in `span` (its limit aside) as a read view sees it, in key order. */
  *entriesAt(
    this: BufferedTable<Buffer>,
    batches: StagedSnapshot,
    transaction: Transaction,
    span: KeySpan<Buffer> = {},
  ): Generator<[Buffer, Buffer]> {
    const staged = stagedInSpan(batches, this.id, span);
    let i = 0;
    for (const { key, value } of this.db.getRange({ start: span.start, end: span.end, transaction })) {
      for (; i < staged.length && Buffer.compare(staged[i].key, key) < 0; i++) {
        const s = staged[i];
        if (s.value !== undefined) yield [s.key, s.value];
      }
      if (i < staged.length && Buffer.compare(staged[i].key, key) === 0) {
        const s = staged[i++];
        if (s.value !== undefined) yield [s.key, s.value];
        continue;
      }
      yield [key, value];
    }
    for (; i < staged.length; i++) {
      const s = staged[i];
      if (s.value !== undefined) yield [s.key, s.value];
    }
  }
}

/** The latest staged change of every key of the table inside `span`, in key order. */
function stagedInSpan(
  batches: readonly StagedBatch[],
  id: number,
  span: KeySpan<Buffer>,
): Array<StagedChange<Buffer>> {
  if (batches.length === 0) return [];
  const latest = new Map<string, StagedChange<Buffer>>();
  for (const batch of batches) {
    const changes = batch.tables[id];
    if (changes === undefined) continue;
    for (const [keyId, change] of changes) {
      const key = change.key as Buffer;
      if (span.start !== undefined && Buffer.compare(key, span.start) < 0) continue;
      if (span.end !== undefined && Buffer.compare(key, span.end) >= 0) continue;
      latest.set(keyId, change as StagedChange<Buffer>);
    }
  }
  const staged = [...latest.values()];
  // history is staged in revision order, mostly: sort only what is not in order already
  for (let i = 1; i < staged.length; i++) {
    if (Buffer.compare(staged[i - 1].key, staged[i].key) > 0)
      return staged.sort((a, b) => Buffer.compare(a.key, b.key));
  }
  return staged;
}

/** LMDB's keys merged with the staged changes: a staged change replaces (or removes) LMDB's key. */
function* mergeKeys(
  committed: Iterable<Buffer>,
  staged: Array<StagedChange<Buffer>>,
  limit: number | undefined,
): Generator<Buffer> {
  const max = limit !== undefined && limit > 0 ? limit : Number.POSITIVE_INFINITY;
  let n = 0;
  let i = 0;
  for (const key of committed) {
    for (; i < staged.length && Buffer.compare(staged[i].key, key) < 0; i++) {
      if (staged[i].value === undefined) continue;
      yield staged[i].key;
      if (++n >= max) return;
    }
    if (i < staged.length && Buffer.compare(staged[i].key, key) === 0) {
      const s = staged[i++];
      if (s.value === undefined) continue;
      yield s.key;
    } else yield key;
    if (++n >= max) return;
  }
  for (; i < staged.length; i++) {
    if (staged[i].value === undefined) continue;
    yield staged[i].key;
    if (++n >= max) return;
  }
}
