// The answers of the key-value RPCs (Range, Put, DeleteRange, Txn: most of the traffic) as gRPC
// message frames, written by hand: the same fields, in the same order, with the same bytes as the
// generated encoders (a seeded test compares them). The generated code converts every int64 and
// uint64 held as a number to BigInt two or three times and writes it through a {lo, hi} object, and its
// writer hands each answer out as a new ArrayBuffer; here a revision is a plain varint, the header's
// cluster and member ids are encoded once, and the frame is one exact copy from a reused buffer.
// Anything unusual (a negative or huge number, an id out of range) takes the generated encoder for
// that message, so its bytes and its errors stay the generated ones.
import {
  type DeleteRangeResponse,
  KVService,
  type PutResponse,
  type RangeResponse,
  ResponseHeader,
  type ResponseOp,
  type TxnResponse,
} from "../../gen/etcdserverpb/rpc.js";
import { KeyValue } from "../../gen/mvccpb/kv.js";
import { isPlainVarint, WireBuffer } from "../../server/wire-buffer.js";

/** The largest lease id written as a plain varint (a number holds it exactly). */
const MAX_PLAIN_LEASE = BigInt(Number.MAX_SAFE_INTEGER);

/** The header fields that do not change while a member runs (cluster and member id), encoded once. */
let idsOf: { clusterId: bigint; memberId: bigint; bytes: Uint8Array } | undefined;

function idBytes(clusterId: bigint, memberId: bigint): Uint8Array {
  if (idsOf === undefined || idsOf.clusterId !== clusterId || idsOf.memberId !== memberId) {
    // revision and term 0 are left out: the bytes of fields 1 and 2 alone (and the generated checks)
    const bytes = ResponseHeader.encode({ clusterId, memberId, revision: 0, raftTerm: 0 }).finish();
    idsOf = { clusterId, memberId, bytes };
  }
  return idsOf.bytes;
}

/** A message the generated encoder writes, as an embedded field. */
function writeGenerated(w: WireBuffer, tag: number, bytes: Uint8Array): void {
  w.byte(tag);
  w.bytes(bytes);
}

/** A ResponseHeader as field `tag` (also the watch responses' encoder's). */
export function writeHeader(w: WireBuffer, tag: number, h: ResponseHeader): void {
  if (!isPlainVarint(h.revision) || !isPlainVarint(h.raftTerm)) {
    writeGenerated(w, tag, ResponseHeader.encode(h).finish());
    return;
  }
  const ids = idBytes(h.clusterId, h.memberId);
  w.byte(tag);
  w.fork();
  w.raw(ids);
  if (h.revision !== 0) {
    w.byte(24);
    w.varint(h.revision);
  }
  if (h.raftTerm !== 0) {
    w.byte(32);
    w.varint(h.raftTerm);
  }
  w.join();
}

/** A KeyValue as field `tag` (also the watch events' encoder's). */
export function writeKeyValue(w: WireBuffer, tag: number, kv: KeyValue): void {
  if (
    !isPlainVarint(kv.createRevision) ||
    !isPlainVarint(kv.modRevision) ||
    !isPlainVarint(kv.version) ||
    kv.lease < 0n ||
    kv.lease > MAX_PLAIN_LEASE
  ) {
    writeGenerated(w, tag, KeyValue.encode(kv).finish());
    return;
  }
  w.byte(tag);
  w.fork();
  if (kv.key.length !== 0) {
    w.byte(10);
    w.bytes(kv.key);
  }
  if (kv.createRevision !== 0) {
    w.byte(16);
    w.varint(kv.createRevision);
  }
  if (kv.modRevision !== 0) {
    w.byte(24);
    w.varint(kv.modRevision);
  }
  if (kv.version !== 0) {
    w.byte(32);
    w.varint(kv.version);
  }
  if (kv.value.length !== 0) {
    w.byte(42);
    w.bytes(kv.value);
  }
  if (kv.lease !== 0n) {
    w.byte(48);
    w.varint(Number(kv.lease));
  }
  w.join();
}

function writeRange(w: WireBuffer, m: RangeResponse): void {
  if (m.header !== undefined) writeHeader(w, 10, m.header);
  for (const kv of m.kvs) writeKeyValue(w, 18, kv);
  if (m.more !== false) {
    w.byte(24);
    w.byte(m.more ? 1 : 0);
  }
  if (m.count !== 0) {
    w.byte(32);
    w.int64(m.count, "count");
  }
}

function writePut(w: WireBuffer, m: PutResponse): void {
  if (m.header !== undefined) writeHeader(w, 10, m.header);
  if (m.prevKv !== undefined) writeKeyValue(w, 18, m.prevKv);
}

function writeDeleteRange(w: WireBuffer, m: DeleteRangeResponse): void {
  if (m.header !== undefined) writeHeader(w, 10, m.header);
  if (m.deleted !== 0) {
    w.byte(16);
    w.int64(m.deleted, "deleted");
  }
  for (const kv of m.prevKvs) writeKeyValue(w, 26, kv);
}

function writeResponseOp(w: WireBuffer, op: ResponseOp): void {
  if (op.responseRange !== undefined) writeEmbedded(w, 10, writeRange, op.responseRange);
  if (op.responsePut !== undefined) writeEmbedded(w, 18, writePut, op.responsePut);
  if (op.responseDeleteRange !== undefined) writeEmbedded(w, 26, writeDeleteRange, op.responseDeleteRange);
  if (op.responseTxn !== undefined) writeEmbedded(w, 34, writeTxn, op.responseTxn);
}

function writeTxn(w: WireBuffer, m: TxnResponse): void {
  if (m.header !== undefined) writeHeader(w, 10, m.header);
  if (m.succeeded !== false) {
    w.byte(16);
    w.byte(m.succeeded ? 1 : 0);
  }
  for (const op of m.responses) writeEmbedded(w, 26, writeResponseOp, op);
}

function writeEmbedded<T>(w: WireBuffer, tag: number, write: (w: WireBuffer, m: T) => void, m: T): void {
  w.byte(tag);
  w.fork();
  write(w, m);
  w.join();
}

/** The 5-byte gRPC message prefix: not compressed, then the length. */
const PREFIX_BYTES = 5;
const wire = new WireBuffer();

/** One answer as a gRPC message frame (prefix and message in one buffer). */
function frame<T>(write: (w: WireBuffer, m: T) => void): (message: T) => Buffer {
  return (message) => {
    try {
      for (let i = 0; i < PREFIX_BYTES; i++) wire.byte(0);
      write(wire, message);
      wire.uint32At(1, wire.pos - PREFIX_BYTES);
    } catch (err) {
      wire.reset(); // a half-written answer must not lead the next one
      throw err;
    }
    return wire.take();
  };
}

export const frameRangeResponse = frame(writeRange);
export const framePutResponse = frame(writePut);
export const frameDeleteRangeResponse = frame(writeDeleteRange);
export const frameTxnResponse = frame(writeTxn);

/** The framing of each key-value RPC's answer, by method path. */
export const kvAnswerFrames: ReadonlyMap<string, (message: never) => Buffer> = new Map<
  string,
  (message: never) => Buffer
>([
  [KVService.range.path, frameRangeResponse],
  [KVService.put.path, framePutResponse],
  [KVService.deleteRange.path, frameDeleteRangeResponse],
  [KVService.txn.path, frameTxnResponse],
]);
