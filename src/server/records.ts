import type { KVStore } from "../mvcc/kvstore.js";

/** A change to a server record: a put when `value` is given, a delete otherwise. */
export type RecordChange = readonly [bucket: string, key: Buffer, value: Buffer | undefined];

const PREFIX = "rec/";

function recordKey(bucket: string, key: Buffer): string {
  return `${PREFIX}${bucket}/${key.toString("hex")}`;
}

/**
 * The server's own records (leases, members, alarms) in the backend, committed in the same LMDB
 * transaction as the entry that changed them and its consistent index, so a restart never sees
 * one without the other.
 */
export class ServerRecords {
  constructor(private readonly store: KVStore) {}

  /** Every record of a bucket, keys as written. */
  list(bucket: string): Array<[Buffer, Buffer]> {
    const start = `${PREFIX}${bucket}/`;
    const out: Array<[Buffer, Buffer]> = [];
    for (const { key, value } of this.store.backend.meta.getRange({ start, end: `${start}\uffff` })) {
      out.push([
        Buffer.from(String(key).slice(start.length), "hex"),
        Buffer.from(value as unknown as Uint8Array),
      ]);
    }
    return out;
  }

  /** Applies record changes for an entry that changes no key. No-op when the entry was applied. */
  write(raftIndex: number, changes: readonly RecordChange[]): void {
    if (this.store.isApplied(raftIndex)) return;
    const backend = this.store.backend;
    backend.write(() => this.stage(changes));
    // the store notes the index (and persists it) so later entries see it as applied
    this.store.setConsistentIndex(raftIndex);
  }

  /**
   * Stages record changes inside a write that is already running (the caller's LMDB transaction),
   * so they commit or abort with it.
   */
  stage(changes: readonly RecordChange[]): void {
    const meta = this.store.backend.meta;
    for (const [bucket, key, value] of changes) {
      if (value === undefined) meta.remove(recordKey(bucket, key));
      else meta.put(recordKey(bucket, key), value);
    }
  }
}
