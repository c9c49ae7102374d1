// Encoding of history records: the value of each history entry is an mvccpb.KeyValue in
// protobuf wire form (as in etcd, so HashKV covers the same bytes). Loading the index only
// needs key, create_revision and version, which `scanIndexFields` reads without copying values.

import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { KeyValue } from "../gen/mvccpb/kv.js";
import { copyBytes } from "../rpctypes/copy-bytes.js";
import { keyString } from "./keyindex.js";

/**
 * Records above this size get a writer of their own, so that one huge value does not keep a buffer
 * of its size alive for good.
 */
const REUSED_WRITER_MAX_BYTES = 64 * 1024;
/**
 * The writer every record is encoded with: a new writer starts at 128 bytes and doubles (three
 * buffers for a 256-byte value, every put); this one grows once and keeps its buffer.
 */
let writer = new BinaryWriter();

/** Encodes a KeyValue as protobuf (the same bytes as etcd's gogo codec writes). */
export function encodeKeyValue(kv: KeyValue): Buffer {
  return encodeKeyValueByHand(kv) ?? encodeKeyValueGenerated(kv);
}

/** The generated encoder, for the values the hand-written one leaves to it. */
function encodeKeyValueGenerated(kv: KeyValue): Buffer {
  let bytes: Uint8Array;
  try {
    // finish() returns an exact-size copy and leaves the writer empty for the next record
    bytes = KeyValue.encode(kv, writer).finish();
  } catch (err) {
    writer = new BinaryWriter(); // a half-written record must not lead the next one
    throw err;
  }
  if (bytes.byteLength > REUSED_WRITER_MAX_BYTES) writer = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The largest lease written as a plain varint (a number holds it exactly). */
const MAX_PLAIN_LEASE = BigInt(Number.MAX_SAFE_INTEGER);

/** Bytes of `n` as a varint (a non-negative safe integer). */
function varintBytes(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

const isPlain = (n: number) => n >= 0 && Number.isSafeInteger(n);

/**
 * A record written by hand: its exact size first, then the fields in the generated encoder's order and
 * with its defaults left out, into one buffer (the generated path grows a writer, copies its bytes out,
 * and copies them again into a Buffer: two thirds of a put's record cost). Undefined for what only the
 * generated encoder writes (a negative or huge number, a lease past 2^53).
 */
function encodeKeyValueByHand(kv: KeyValue): Buffer | undefined {
  const { key, createRevision, modRevision, version, value, lease } = kv;
  if (!isPlain(createRevision) || !isPlain(modRevision) || !isPlain(version)) return undefined;
  if (lease < 0n || lease > MAX_PLAIN_LEASE) return undefined;
  const leaseNumber = Number(lease);
  let size = 0;
  if (key.length !== 0) size += 1 + varintBytes(key.length) + key.length;
  if (createRevision !== 0) size += 1 + varintBytes(createRevision);
  if (modRevision !== 0) size += 1 + varintBytes(modRevision);
  if (version !== 0) size += 1 + varintBytes(version);
  if (value.length !== 0) size += 1 + varintBytes(value.length) + value.length;
  if (leaseNumber !== 0) size += 1 + varintBytes(leaseNumber);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (key.length !== 0) {
    buf[pos++] = (1 << 3) | 2;
    pos = writeVarint(buf, pos, key.length);
    buf.set(key, pos);
    pos += key.length;
  }
  if (createRevision !== 0) {
    buf[pos++] = 2 << 3;
    pos = writeVarint(buf, pos, createRevision);
  }
  if (modRevision !== 0) {
    buf[pos++] = 3 << 3;
    pos = writeVarint(buf, pos, modRevision);
  }
  if (version !== 0) {
    buf[pos++] = 4 << 3;
    pos = writeVarint(buf, pos, version);
  }
  if (value.length !== 0) {
    buf[pos++] = (5 << 3) | 2;
    pos = writeVarint(buf, pos, value.length);
    buf.set(value, pos);
    pos += value.length;
  }
  if (leaseNumber !== 0) {
    buf[pos++] = 6 << 3;
    writeVarint(buf, pos, leaseNumber);
  }
  return buf;
}

/**
 * Decodes an encoded KeyValue (hand-written for the read path; the generated decoder is about
 * three times slower). Copies key and value, so `bytes` may be a reused buffer.
 */
export function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const buf = bytes;
  let pos = 0;
  const kv: KeyValue = {
    key: EMPTY,
    createRevision: 0,
    modRevision: 0,
    version: 0,
    value: EMPTY,
    lease: 0n,
  };
  while (pos < buf.length) {
    const tag = buf[pos++];
    const field = tag >>> 3;
    const wire = tag & 7;
    if (tag >= 0x80 || (wire !== 0 && wire !== 2)) return KeyValue.decode(bytes); // not our layout
    if (wire === 2) {
      let len = 0;
      let mul = 1;
      for (;;) {
        const byte = buf[pos++];
        len += (byte & 0x7f) * mul;
        if (byte < 0x80) break;
        mul *= 128;
      }
      const copy = Buffer.allocUnsafe(len);
      copyBytes(buf, pos, copy, 0, len);
      pos += len;
      if (field === 1) kv.key = copy;
      else if (field === 5) kv.value = copy;
      continue;
    }
    // Varint: numbers up to 2^53 directly; the lease (any int64) through BigInt.
    const start = pos;
    let n = 0;
    let mul = 1;
    for (;;) {
      const byte = buf[pos++];
      n += (byte & 0x7f) * mul;
      if (byte < 0x80) break;
      mul *= 128;
    }
    if (field === 2) kv.createRevision = n;
    else if (field === 3) kv.modRevision = n;
    else if (field === 4) kv.version = n;
    else if (field === 6) kv.lease = pos - start <= 7 ? BigInt(n) : varintToInt64(buf, start);
  }
  return kv;
}

const EMPTY = Buffer.alloc(0);

function varintToInt64(buf: Uint8Array, start: number): bigint {
  let result = 0n;
  let shift = 0n;
  let pos = start;
  for (;;) {
    const byte = buf[pos++];
    result |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) break;
    shift += 7n;
  }
  return BigInt.asIntN(64, result);
}

/** The fields of a record the key index is rebuilt from. */
export interface IndexFields {
  /** Key bytes as a latin1 string (the index's key form). */
  key: string;
  createRevision: number;
  version: number;
}

/** Reads key, create_revision and version from an encoded KeyValue, skipping the rest. */
export function scanIndexFields(buf: Buffer): IndexFields {
  let pos = 0;
  let key = "";
  let createRevision = 0;
  let version = 0;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  while (pos < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2) {
      const len = varint();
      if (field === 1) key = keyString(buf.subarray(pos, pos + len));
      pos += len;
    } else if (wire === 0) {
      const v = varint();
      if (field === 2) createRevision = v;
      else if (field === 4) version = v;
    } else if (wire === 1) {
      pos += 8;
    } else if (wire === 5) {
      pos += 4;
    } else {
      throw new Error(`history record: unexpected wire type ${wire}`);
    }
  }
  return { key, createRevision, version };
}
