// A PutRequest's bytes decoded by hand, in the layout its writers use: the known fields, short lengths
// and varints, booleans as 0 or 1. The result is the generated decoder's (key and value copied out, as it
// copies them); anything else (an unknown or repeated-with-another-type field, a long varint, a
// truncated message) is undefined, for the generated decoder to decode, so that its results and its
// errors stay the generated ones. Clients' puts (the gRPC port) and the put entries of the raft log
// (a follower's applies) are read this way.
import type { PutRequest } from "../gen/etcdserverpb/rpc.js";
import { copyBytes } from "./copy-bytes.js";
import { bigVarint, plainVarint, varintEnd } from "./varint-bytes.js";

const EMPTY = Buffer.alloc(0);
/** Tags of PutRequest's fields: key 1 and value 2 length-delimited, lease 3 and the flags 4-6 varints. */
const KEY = (1 << 3) | 2;
const VALUE = (2 << 3) | 2;
const LEASE = 3 << 3;
const PREV_KV = 4 << 3;
const IGNORE_VALUE = 5 << 3;
const IGNORE_LEASE = 6 << 3;

/** Bytes [pos, pos + n) of `buf` in a Buffer of their own. */
function copyOut(buf: Uint8Array, pos: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  copyBytes(buf, pos, out, 0, n);
  return out;
}

/** The put in `buf[start, end)`, or undefined for any layout left to the generated decoder. */
export function decodePutRange(buf: Uint8Array, start: number, end: number): PutRequest | undefined {
  let key: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  let lease = 0n;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  let pos = start;
  while (pos < end) {
    const tag = buf[pos++];
    if (tag === LEASE) {
      // an int64, positive (lease IDs are below 2^63); a negative one (ten bytes) is the generated decoder's
      const read = bigVarint(buf, pos, end, 9);
      if (read === undefined) return undefined;
      lease = read;
      pos = varintEnd;
    } else if (tag === KEY || tag === VALUE) {
      // the length of a bytes field
      const n = plainVarint(buf, pos, end);
      if (n < 0 || n > end - varintEnd) return undefined;
      pos = varintEnd;
      // a copy, as the generated decoder makes (the request's buffer is not kept)
      const field = copyOut(buf, pos, n);
      pos += n;
      if (tag === KEY) key = field;
      else value = field;
    } else if (tag === PREV_KV || tag === IGNORE_VALUE || tag === IGNORE_LEASE) {
      if (pos >= end) return undefined;
      const byte = buf[pos++];
      if (byte > 1) return undefined;
      if (tag === PREV_KV) prevKv = byte === 1;
      else if (tag === IGNORE_VALUE) ignoreValue = byte === 1;
      else ignoreLease = byte === 1;
    } else {
      return undefined;
    }
  }
  return { key, value, lease, prevKv, ignoreValue, ignoreLease };
}
