// Migration of older backend layouts to the current one (see BACKEND_SCHEMA_VERSION).

import type { Database } from "lmdb";
import { AlarmMember } from "../gen/etcdserverpb/rpc.js";
import { Lease } from "../gen/leasepb/lease.js";
import { isRecordBucket, type RecordBucket } from "./records.js";

const SCHEMA1_PREFIX = "rec/";

/**
 * Schema 1 kept the server's records in the meta table as `rec/<bucket>/<hex key>`, with rxetcd's
 * own encodings for some of them: leases as 24 fixed bytes (id, ttl, remaining ttl, big-endian),
 * alarms keyed by 12 fixed bytes (member id, alarm type). Schema 2 keeps one table per bucket with
 * etcd's bytes: leasepb.Lease values, AlarmMember protobuf keys with empty values, members keyed by
 * their id in lowercase hex (they were keyed by 8 big-endian bytes; the values move unchanged).
 * Runs inside the caller's write.
 */
export function migrateSchema1(
  meta: Database<Buffer, string>,
  table: (bucket: RecordBucket) => Database<Buffer, Buffer>,
): number {
  const moved: string[] = [];
  for (const { key, value } of meta.getRange({ start: SCHEMA1_PREFIX, end: `${SCHEMA1_PREFIX}\uffff` })) {
    const name = String(key);
    const rest = name.slice(SCHEMA1_PREFIX.length);
    const slash = rest.indexOf("/");
    const bucket = rest.slice(0, slash);
    if (slash < 0 || !isRecordBucket(bucket)) throw new Error(`backend migration: unknown record ${name}`);
    const recordKey = Buffer.from(rest.slice(slash + 1), "hex");
    const [k, v] = convert(bucket, recordKey, Buffer.from(value as unknown as Uint8Array));
    table(bucket).put(k, v);
    moved.push(name);
  }
  for (const name of moved) meta.remove(name);
  return moved.length;
}

function convert(bucket: RecordBucket, key: Buffer, value: Buffer): [Buffer, Buffer] {
  if (bucket === "lease" && value.length === 24) {
    const pb = Lease.encode({
      ID: value.readBigInt64BE(0),
      TTL: Number(value.readBigInt64BE(8)),
      RemainingTTL: Number(value.readBigInt64BE(16)),
    }).finish();
    return [key, Buffer.from(pb)];
  }
  if (bucket === "alarm" && key.length === 12) {
    const pb = AlarmMember.encode({ memberID: key.readBigUInt64BE(0), alarm: key.readInt32BE(8) }).finish();
    return [Buffer.from(pb), Buffer.alloc(0)];
  }
  if (bucket === "members" && key.length === 8) {
    return [Buffer.from(key.readBigUInt64BE(0).toString(16)), value];
  }
  return [key, value];
}
