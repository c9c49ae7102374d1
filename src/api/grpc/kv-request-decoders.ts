// The requests of the key-value RPCs decoded by hand where the generated decoder costs most for least:
// a Put (every write of a put load) is six flat fields, and the generated decoder builds a reader with
// a DataView and a recursion counter for each. The hand-written decoder takes the layout clients send
// (the known fields, short lengths and varints, booleans as 0 or 1) and gives the generated decoder's
// result, key and value copied out of the request as it copies them; anything else (an unknown or
// repeated-with-another-type field, a long varint, a truncated message) goes to the generated decoder,
// so its results and its errors stay the generated ones.
import { KVService, PutRequest } from "../../gen/etcdserverpb/rpc.js";
import { copyBytes } from "../../rpctypes/copy-bytes.js";

const EMPTY = Buffer.alloc(0);
/** Tags of PutRequest's fields: key 1 and value 2 length-delimited, lease 3 and the flags 4-6 varints. */
const KEY = (1 << 3) | 2;
const VALUE = (2 << 3) | 2;
const LEASE = 3 << 3;
const PREV_KV = 4 << 3;
const IGNORE_VALUE = 5 << 3;
const IGNORE_LEASE = 6 << 3;
/** Varints of up to this many bytes are read as numbers (below 2^49, exact). */
const MAX_PLAIN_VARINT_BYTES = 7;

/** Bytes [pos, pos + n) of `buf` in a Buffer of their own (from a Buffer without a view made for it). */
function copyOut(buf: Uint8Array, pos: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  copyBytes(buf, pos, out, 0, n);
  return out;
}

/** A PutRequest as the generated decoder gives it. */
export function decodePutRequest(bytes: Uint8Array): PutRequest {
  return decodePutByHand(bytes) ?? PutRequest.decode(bytes);
}

/** The put, or undefined for any layout left to the generated decoder. */
function decodePutByHand(buf: Uint8Array): PutRequest | undefined {
  let key: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  let lease = 0n;
  let prevKv = false;
  let ignoreValue = false;
  let ignoreLease = false;
  const end = buf.length;
  let pos = 0;
  while (pos < end) {
    const tag = buf[pos++];
    if (tag === KEY || tag === VALUE || tag === LEASE) {
      // a varint: the length of a bytes field, or the lease
      let n = 0;
      let mul = 1;
      let size = 0;
      for (;;) {
        if (pos >= end || size === MAX_PLAIN_VARINT_BYTES) return undefined;
        const byte = buf[pos++];
        size++;
        n += (byte & 0x7f) * mul;
        if (byte < 0x80) break;
        mul *= 128;
      }
      if (tag === LEASE) {
        lease = BigInt(n);
        continue;
      }
      if (n > end - pos) return undefined;
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

/** Hand-written request decoders by gRPC path. */
export const kvRequestDecoders: ReadonlyMap<string, (bytes: Uint8Array) => unknown> = new Map([
  [KVService.put.path, decodePutRequest],
]);
