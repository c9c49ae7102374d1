// The backend's record tables: etcd's buckets besides `key` and `meta`, one LMDB table each, with
// etcd's own key and value bytes (the modules that own the records decide the encodings; the
// backend stores bytes). A bbolt export copies them bucket for bucket.

/** etcd 3.4's record buckets, by name. */
export const RECORD_BUCKETS = [
  "alarm",
  "auth",
  "authRoles",
  "authUsers",
  "cluster",
  "lease",
  "members",
  "members_removed",
] as const;

export type RecordBucket = (typeof RECORD_BUCKETS)[number];

/** A change to a record: a put when `value` is given, a delete otherwise. */
export type RecordChange = readonly [bucket: RecordBucket, key: Buffer, value: Buffer | undefined];

export function isRecordBucket(name: string): name is RecordBucket {
  return (RECORD_BUCKETS as readonly string[]).includes(name);
}
