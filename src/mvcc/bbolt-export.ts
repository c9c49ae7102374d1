// The backend as etcd 3.4's bbolt file: what leaves the member as a snapshot (Maintenance.Snapshot,
// `etcdctl snapshot save`, the db a leader sends a lagging follower). All ten buckets etcd expects,
// read from one consistent LMDB view, streamed page by page without a temporary file.

import { setImmediate as yieldToLoop } from "node:timers/promises";
import { type BboltBucketSource, type BboltLayout, emitBbolt, planBbolt } from "../bbolt/index.js";
import type { Backend, ReadView } from "./backend.js";
import type { RecordTable } from "./record-table.js";
import { RECORD_BUCKETS } from "./records.js";
import { REV_KEY_LEN } from "./revision.js";
import type { BufferedTable } from "./write-buffer.js";

export interface BboltExportOptions {
  /**
   * Bytes per chunk the iteration yields, in whole pages; default 64 KiB. A chunk is shorter where
   * the next page run did not fit, and a run longer than a chunk (a big value) is a chunk of its own.
   */
  chunkSize?: number;
  /** Transaction id written to the meta pages; default 1. */
  txid?: bigint;
}

/**
 * A bbolt file being exported: iterate it once for its bytes. The view it reads is taken when it
 * is created and released when the iteration ends or is abandoned, or by `close()`.
 */
export interface BboltExport extends AsyncIterable<Buffer> {
  /** The consistent index (last applied raft index) of the exported state. */
  readonly consistentIndex: number;
  /** The size of the file in bytes (lays the file out on the first call). */
  size(): Promise<number>;
  /** Releases the view without (or before the end of) iterating. */
  close(): void;
}

/** Anything that has a backend: a KVStore, or the Backend itself. */
export type ExportSource = Backend | { readonly backend: Backend };

const DEFAULT_CHUNK = 64 * 1024;
/** Pages laid out between two event-loop turns while planning. */
const PLAN_PAGES_PER_TURN = 512;

/** etcd's meta keys. */
const CONSISTENT_INDEX = "consistent_index";
const SCHEDULED_COMPACT_REV = "scheduledCompactRev";
const FINISHED_COMPACT_REV = "finishedCompactRev";

// a view that is dropped without being iterated or closed would pin old pages forever
const unreleased = new FinalizationRegistry<ReadView>((view) => view.release());

/** Starts an export of the backend as etcd's bbolt file, from a view of the backend as it is now. */
export function exportBbolt(source: ExportSource, options: BboltExportOptions = {}): BboltExport {
  const backend = "backend" in source ? source.backend : source;
  return new BackendExport(backend, options);
}

class BackendExport implements BboltExport {
  readonly consistentIndex: number;
  private readonly view: ReadView;
  private readonly buckets: BboltBucketSource[];
  private readonly chunkSize: number;
  private readonly txid: bigint;
  private layout: Promise<BboltLayout> | undefined;
  private started = false;

  constructor(
    private readonly backend: Backend,
    options: BboltExportOptions,
  ) {
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    this.txid = options.txid ?? 1n;
    this.view = backend.openReadView();
    unreleased.register(this, this.view, this);
    try {
      const meta = metaEntries(backend, this.view);
      this.consistentIndex = Number(meta.consistentIndex);
      this.buckets = bucketSources(backend, this.view, meta.entries);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  size(): Promise<number> {
    this.layout ??= this.plan();
    return this.layout.then((l) => l.size);
  }

  close(): void {
    unreleased.unregister(this);
    this.view.release();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    if (this.started) throw new Error("a bbolt export can be read once");
    this.started = true;
    try {
      this.layout ??= this.plan();
      const layout = await this.layout;
      yield* this.guarded(emitBbolt(this.buckets, layout, { chunkSize: this.chunkSize }));
    } finally {
      this.close();
    }
  }

  /** Lays the file out, a few hundred pages per event-loop turn. */
  private async plan(): Promise<BboltLayout> {
    const plan = this.guarded(planBbolt(this.buckets, { txid: this.txid }));
    let n = 0;
    let step = plan.next();
    while (!step.done) {
      if (++n % PLAN_PAGES_PER_TURN === 0) await yieldToLoop();
      step = plan.next();
    }
    return step.value;
  }

  /** Turns reads through a released view (the backend closed meanwhile) into one clear error. */
  private *guarded<T, R>(gen: Generator<T, R>): Generator<T, R> {
    for (;;) {
      if (this.view.released) throw new Error("bbolt export: the backend was closed during the export");
      let step: IteratorResult<T, R>;
      try {
        step = gen.next();
      } catch (err) {
        if (this.view.released || this.backend.isClosed()) {
          throw new Error("bbolt export: the backend was closed during the export");
        }
        throw err;
      }
      if (step.done) return step.value;
      yield step.value;
    }
  }
}

function uint64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** etcd's revision bytes of (main, 0). */
function revisionBytes(main: number): Buffer {
  const b = Buffer.alloc(REV_KEY_LEN);
  b.writeBigUInt64BE(BigInt(main), 0);
  b[8] = 0x5f;
  return b;
}

/** The `meta` bucket as etcd 3.4 keeps it, from rxetcd's meta table. */
function metaEntries(
  backend: Backend,
  view: ReadView,
): { consistentIndex: bigint; entries: Array<[Buffer, Buffer]> } {
  // undefined when the key is absent: a store never compacted has no compaction marks (one compacted at 0 has)
  const number = (key: string): bigint | undefined => {
    const raw = view.get(backend.applied.meta, key);
    return raw === undefined || raw.length !== 8 ? undefined : raw.readBigUInt64BE(0);
  };
  const consistentIndex = number(CONSISTENT_INDEX) ?? 0n;
  const entries: Array<[Buffer, Buffer]> = [[Buffer.from(CONSISTENT_INDEX), uint64(consistentIndex)]];
  const finished = number(FINISHED_COMPACT_REV);
  const scheduled = number(SCHEDULED_COMPACT_REV);
  if (finished !== undefined)
    entries.push([Buffer.from(FINISHED_COMPACT_REV), revisionBytes(Number(finished))]);
  if (scheduled !== undefined)
    entries.push([Buffer.from(SCHEDULED_COMPACT_REV), revisionBytes(Number(scheduled))]);
  return { consistentIndex, entries };
}

/** etcd's `auth` bucket: the stored records, with etcd's initial values where none was written. */
function authEntries(backend: Backend, view: ReadView): Array<[Buffer, Buffer]> {
  const stored = new Map<string, [Buffer, Buffer]>();
  for (const [key, value] of view.entries(backend.applied.records("auth"))) {
    stored.set(Buffer.from(key).toString("latin1"), [Buffer.from(key), Buffer.from(value)]);
  }
  // auth off, and the revision etcd starts from
  if (!stored.has("authEnabled")) stored.set("authEnabled", [Buffer.from("authEnabled"), Buffer.from([0])]);
  if (!stored.has("authRevision")) stored.set("authRevision", [Buffer.from("authRevision"), uint64(1)]);
  return [...stored.values()].sort(([a], [b]) => Buffer.compare(a, b));
}

function bucketSources(backend: Backend, view: ReadView, meta: Array<[Buffer, Buffer]>): BboltBucketSource[] {
  const table = (t: BufferedTable<Buffer> | RecordTable) =>
    function* (): Generator<[Buffer, Buffer]> {
      yield* view.entries(t);
    };
  const auth = authEntries(backend, view);
  return [
    { name: "key", entries: table(backend.applied.history) },
    { name: "meta", entries: () => meta },
    ...RECORD_BUCKETS.map(
      (bucket): BboltBucketSource =>
        bucket === "auth"
          ? { name: bucket, entries: () => auth }
          : { name: bucket, entries: table(backend.applied.records(bucket)) },
    ),
  ];
}
