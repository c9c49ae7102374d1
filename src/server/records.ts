import type { KVStore } from "../mvcc/kvstore.js";
import { isRecordBucket, type RecordChange as StoreRecordChange } from "../mvcc/records.js";

/** A change to a server record: a put when `value` is given, a delete otherwise. */
export type RecordChange = readonly [bucket: string, key: Buffer, value: Buffer | undefined];

/**
 * The server's own records (leases, members, alarms, cluster) in the backend's record buckets,
 * committed in the same LMDB transaction as the entry that changed them and its consistent index,
 * so a restart never sees one without the other. The mvcc store owns the tables; this is the
 * server's view of them.
 */
export class ServerRecords {
  constructor(private readonly store: KVStore) {}

  /** Every record of a bucket, in key order. */
  list(bucket: string): Array<[Buffer, Buffer]> {
    return this.store.records(checkedBucket(bucket));
  }

  /** Applies record changes for an entry that changes no key. No-op when the entry was applied. */
  write(raftIndex: number, changes: readonly RecordChange[]): void {
    this.store.writeRecords(raftIndex, changes.map(toStore));
  }

  /**
   * Stages record changes inside a write that is already running (the caller's LMDB transaction),
   * so they commit or abort with it.
   */
  stage(changes: readonly RecordChange[]): void {
    this.store.stageRecords(changes.map(toStore));
  }
}

function checkedBucket(bucket: string): StoreRecordChange[0] {
  if (!isRecordBucket(bucket)) throw new Error(`no record bucket ${bucket}`);
  return bucket;
}

function toStore([bucket, key, value]: RecordChange): StoreRecordChange {
  return [checkedBucket(bucket), key, value];
}
