// The kind of an applied request, read from the top-level field numbers of etcd's
// InternalRaftRequest without decoding it (the feed looks at every applied entry).

const KIND_BY_FIELD: ReadonlyMap<number, string> = new Map([
  [2, "v2"],
  [3, "range"],
  [4, "put"],
  [5, "deleteRange"],
  [6, "txn"],
  [7, "compaction"],
  [8, "leaseGrant"],
  [9, "leaseRevoke"],
  [10, "alarm"],
  [11, "leaseCheckpoint"],
  [1000, "authEnable"],
  [1011, "authDisable"],
  [1012, "authenticate"],
]);

function readVarint(b: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  for (let i = at; i < b.length && i < at + 10; i++) {
    value += (b[i] & 0x7f) * 2 ** shift;
    if ((b[i] & 0x80) === 0) return [value, i + 1];
    shift += 7;
  }
  return [-1, b.length];
}

/** "put", "txn", "leaseGrant"...; "auth" for the auth requests not named; "empty"; "unknown" when unreadable. */
export function requestKind(data: Uint8Array): string {
  if (data.length === 0) return "empty";
  let at = 0;
  while (at < data.length) {
    const [tag, afterTag] = readVarint(data, at);
    if (tag < 0) return "unknown";
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    const kind = KIND_BY_FIELD.get(field);
    if (kind) return kind;
    if (field >= 1100 && field < 1300) return "auth";
    if (wire === 0) at = readVarint(data, afterTag)[1];
    else if (wire === 2) {
      const [len, afterLen] = readVarint(data, afterTag);
      if (len < 0) return "unknown";
      at = afterLen + len;
    } else if (wire === 1) at = afterTag + 8;
    else if (wire === 5) at = afterTag + 4;
    else return "unknown";
  }
  return "unknown";
}
