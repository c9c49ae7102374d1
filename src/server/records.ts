import { AlarmMember } from "../gen/etcdserverpb/rpc.js";
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
    const rows = this.store.records(checkedBucket(bucket));
    return bucket === "alarm" ? rows.map(([key]) => fixedAlarmRecord(key)) : rows;
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
  const b = checkedBucket(bucket);
  if (b === "alarm" && isFixedAlarmKey(key)) {
    // etcd keys an alarm by its AlarmMember protobuf and stores no value
    const pb = AlarmMember.encode({ memberID: key.readBigUInt64BE(0), alarm: key.readInt32BE(8) }).finish();
    return [b, Buffer.from(pb), value === undefined ? undefined : Buffer.alloc(0)];
  }
  return [b, key, value];
}

// The applier still speaks alarms as 12 fixed bytes (member id, alarm type; big-endian) in key and
// value. A protobuf AlarmMember of 12 bytes has its field-2 tag (0x10) at byte 10, where the fixed
// form has a zero byte, so the two never mix up.
function isFixedAlarmKey(key: Buffer): boolean {
  return key.length === 12 && key[8] === 0 && key[9] === 0 && key[10] === 0;
}

function fixedAlarmRecord(etcdKey: Buffer): [Buffer, Buffer] {
  const a = AlarmMember.decode(etcdKey);
  const fixed = Buffer.alloc(12);
  fixed.writeBigUInt64BE(a.memberID, 0);
  fixed.writeInt32BE(a.alarm, 8);
  return [fixed, fixed];
}
