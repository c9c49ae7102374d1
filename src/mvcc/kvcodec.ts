// Encoding of history records: the value of each history entry is an mvccpb.KeyValue in
// protobuf wire form (as in etcd, so HashKV covers the same bytes). Loading the index only
// needs key, create_revision and version, which `scanIndexFields` reads without copying values.

import { KeyValue } from "../gen/mvccpb/kv.js";
import { keyString } from "./keyindex.js";

export function encodeKeyValue(kv: KeyValue): Uint8Array {
  return KeyValue.encode(kv).finish();
}

export function decodeKeyValue(bytes: Uint8Array): KeyValue {
  return KeyValue.decode(bytes);
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
