// etcd's v2 `Request` (etcdserverpb, proto2 with gogoproto non-nullable fields) as it travels in raft
// entries: member attribute publishes, the cluster version, SYNC and v2 API writes. The encoder writes
// the bytes etcd writes (fields 1-7 and 9-16 always, 8 and 17 only when set) and the decoder reads with
// gogo's strictness, because which of the two entry payloads a member sees depends on it (§7.1).
import { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import { checkGogoMessage, fieldOf, WireCursor, WireError, wireTypeOf } from "./gogo-wire.js";
import { formatId } from "./ids.js";
import { encodeAttributesJson } from "./member-json.js";
import { RAFT_REQUEST_SCHEMA } from "./raft-request-schema.js";

/**
 * A v2 request. Integers that hold nanosecond times (Expiration, Time) or uint64 values are bigint;
 * PrevExist and Refresh are undefined when not set (Go's nil pointer).
 */
export interface V2Request {
  ID: bigint;
  Method: string;
  Path: string;
  Val: string;
  Dir: boolean;
  PrevValue: string;
  PrevIndex: bigint;
  PrevExist?: boolean;
  /** Unix nanoseconds of a TTL key's expiry, 0 for none. */
  Expiration: bigint;
  Wait: boolean;
  Since: bigint;
  Recursive: boolean;
  Sorted: boolean;
  Quorum: boolean;
  /** Unix nanoseconds (SYNC requests). */
  Time: bigint;
  Stream: boolean;
  Refresh?: boolean;
}

/** A request with every field at its zero value, then the given ones. */
export function v2Request(fields: Partial<V2Request>): V2Request {
  return {
    ID: 0n,
    Method: "",
    Path: "",
    Val: "",
    Dir: false,
    PrevValue: "",
    PrevIndex: 0n,
    Expiration: 0n,
    Wait: false,
    Since: 0n,
    Recursive: false,
    Sorted: false,
    Quorum: false,
    Time: 0n,
    Stream: false,
    ...fields,
  };
}

class ByteSink {
  private readonly chunks: number[] = [];

  varint(v: bigint): this {
    let x = BigInt.asUintN(64, v);
    while (x >= 0x80n) {
      this.chunks.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.chunks.push(Number(x));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(BigInt((field << 3) | wireType));
  }

  bool(field: number, v: boolean): this {
    return this.tag(field, 0).varint(v ? 1n : 0n);
  }

  uint(field: number, v: bigint): this {
    return this.tag(field, 0).varint(v);
  }

  string(field: number, s: string): this {
    const bytes = Buffer.from(s, "utf8");
    this.tag(field, 2).varint(BigInt(bytes.length));
    for (const b of bytes) this.chunks.push(b);
    return this;
  }

  finish(): Buffer {
    return Buffer.from(this.chunks);
  }
}

/** The bytes etcd's gogo Marshal produces for this request. */
export function encodeV2Request(r: V2Request): Buffer {
  const out = new ByteSink()
    .uint(1, r.ID)
    .string(2, r.Method)
    .string(3, r.Path)
    .string(4, r.Val)
    .bool(5, r.Dir)
    .string(6, r.PrevValue)
    .uint(7, r.PrevIndex);
  if (r.PrevExist !== undefined) out.bool(8, r.PrevExist);
  out
    .uint(9, r.Expiration)
    .bool(10, r.Wait)
    .uint(11, r.Since)
    .bool(12, r.Recursive)
    .bool(13, r.Sorted)
    .bool(14, r.Quorum)
    .uint(15, r.Time)
    .bool(16, r.Stream);
  if (r.Refresh !== undefined) out.bool(17, r.Refresh);
  return out.finish();
}

const STRING_FIELDS = { 2: "Method", 3: "Path", 4: "Val", 6: "PrevValue" } as const;
const UINT_FIELDS = { 1: "ID", 7: "PrevIndex", 11: "Since" } as const;
const INT_FIELDS = { 9: "Expiration", 15: "Time" } as const;
const BOOL_FIELDS = {
  5: "Dir",
  8: "PrevExist",
  10: "Wait",
  12: "Recursive",
  13: "Sorted",
  14: "Quorum",
  16: "Stream",
  17: "Refresh",
} as const;

/**
 * Reads a Request as gogo's Unmarshal does, into `into` (repeated occurrences merge, later fields win).
 * Throws WireError where gogo fails.
 */
export function decodeV2Request(bytes: Uint8Array, into: V2Request = v2Request({})): V2Request {
  const cur = new WireCursor(bytes);
  const r = into;
  while (!cur.done) {
    const { field, wireType } = cur.tag("Request");
    if (field in STRING_FIELDS) {
      if (wireType !== 2) throw new WireError(`Request: wrong wireType = ${wireType} for field ${field}`);
      r[STRING_FIELDS[field as keyof typeof STRING_FIELDS]] = Buffer.from(cur.delimited()).toString("utf8");
    } else if (field in UINT_FIELDS || field in INT_FIELDS || field in BOOL_FIELDS) {
      if (wireType !== 0) throw new WireError(`Request: wrong wireType = ${wireType} for field ${field}`);
      const v = cur.varint();
      if (field in UINT_FIELDS) r[UINT_FIELDS[field as keyof typeof UINT_FIELDS]] = v;
      else if (field in INT_FIELDS) r[INT_FIELDS[field as keyof typeof INT_FIELDS]] = BigInt.asIntN(64, v);
      else r[BOOL_FIELDS[field as keyof typeof BOOL_FIELDS]] = v !== 0n;
    } else {
      cur.skip(wireType);
    }
  }
  return r;
}

/** The attributes publish a member proposes after start (`PUT /0/members/<hex id>/attributes`). */
export function publishRequest(id: bigint, memberId: bigint, name: string, clientUrls: string[]): V2Request {
  return v2Request({
    ID: id,
    Method: "PUT",
    Path: `/0/members/${formatId(memberId)}/attributes`,
    Val: encodeAttributesJson({ name, clientURLs: clientUrls }),
  });
}

/** The leader's cluster version update (`PUT /0/version`, e.g. "3.4.0"). */
export function clusterVersionRequest(id: bigint, version: string): V2Request {
  return v2Request({ ID: id, Method: "PUT", Path: "/0/version", Val: version });
}

/** The leader's expiry sweep of v2 TTL keys, as of `timeNs` Unix nanoseconds. */
export function syncRequest(id: bigint, timeNs: bigint): V2Request {
  return v2Request({ ID: id, Method: "SYNC", Time: timeNs });
}

export type EntryRequest = { kind: "v3"; req: InternalRaftRequest } | { kind: "v2"; req: V2Request };

export class EntryDataError extends Error {}

/** Every field-2 (`v2`) payload of an InternalRaftRequest that passed the gogo check (none: no array). */
function v2Payloads(data: Uint8Array): Uint8Array[] | undefined {
  const cur = new WireCursor(data);
  let found: Uint8Array[] | undefined;
  while (!cur.done) {
    const tag = cur.tagNumber("InternalRaftRequest");
    if (fieldOf(tag) === 2) (found ??= []).push(cur.delimited());
    else cur.skip(wireTypeOf(tag));
  }
  return found;
}

/**
 * A normal entry's data as etcd's applyEntryNormal reads it: an InternalRaftRequest if gogo can
 * decode it as one (a v2 request inside it is still a v2 request), otherwise a bare v2 Request.
 * Data that is neither is an error (etcd panics).
 */
export function decodeEntryData(data: Uint8Array): EntryRequest {
  try {
    checkGogoMessage(data, "InternalRaftRequest", RAFT_REQUEST_SCHEMA);
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    try {
      return { kind: "v2", req: decodeV2Request(data) };
    } catch (err2) {
      if (!(err2 instanceof WireError)) throw err2;
      throw new EntryDataError(
        `entry data is neither an InternalRaftRequest (${err.message}) nor a v2 Request (${err2.message})`,
      );
    }
  }
  const payloads = v2Payloads(data);
  if (payloads !== undefined) {
    const req = v2Request({});
    for (const p of payloads) decodeV2Request(p, req);
    return { kind: "v2", req };
  }
  try {
    return { kind: "v3", req: InternalRaftRequest.decode(data) };
  } catch (err) {
    throw new EntryDataError(`entry data: InternalRaftRequest: ${(err as Error).message}`);
  }
}
