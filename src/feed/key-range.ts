import type { KeyRange } from "./protocol.js";

/** A subscribed key range as bytes: [start, end); `end` undefined for one key, empty for "to the last key". */
export interface ByteRange {
  readonly start: Buffer;
  readonly end: Buffer | undefined;
}

/** etcd's prefix end: the key with its last byte below 0xff incremented; "\0" when there is none. */
export function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Turns a subscription's key range into bytes, or says what is wrong with it. */
export function toByteRange(r: KeyRange): ByteRange | { error: string } {
  const start = Buffer.from(r.key, "utf8");
  if (r.prefix && r.rangeEnd !== undefined)
    return { error: "a key range takes prefix or rangeEnd, not both" };
  if (r.prefix) return { start, end: start.length === 0 ? Buffer.alloc(0) : toOpenEnd(prefixEnd(start)) };
  if (r.rangeEnd === undefined) {
    if (start.length === 0) return { error: "an empty key needs prefix or rangeEnd" };
    return { start, end: undefined };
  }
  const end = Buffer.from(r.rangeEnd, "utf8");
  if (end.length === 1 && end[0] === 0) return { start, end: Buffer.alloc(0) };
  if (Buffer.compare(end, start) <= 0) return { error: "rangeEnd must sort after key" };
  return { start, end };
}

function toOpenEnd(end: Buffer): Buffer {
  return end.length === 1 && end[0] === 0 ? Buffer.alloc(0) : end;
}

/** Whether `key` falls in the range. */
export function inByteRange(key: Uint8Array, r: ByteRange): boolean {
  const c = Buffer.compare(key, r.start);
  if (r.end === undefined) return c === 0;
  if (c < 0) return false;
  return r.end.length === 0 || Buffer.compare(key, r.end) < 0;
}

/** The range end as the store's range read takes it (etcd's "\0" for every key from start on). */
export function storeRangeEnd(r: ByteRange): Buffer | undefined {
  if (r.end === undefined) return undefined;
  return r.end.length === 0 ? Buffer.from([0]) : r.end;
}
