// Raft messages in the byte layout etcd 3.4's gogoproto marshaller produces: every non-nullable field
// is written even when zero, in field-number order, and a Message always carries field 9 (snapshot).
// Any valid protobuf decodes on the other side, but matching etcd's bytes keeps captures comparable
// and lets the codec tests use the frames observed on the wire. Decoding goes through the generated
// ts-proto reader, which accepts every valid encoding.
import {
  type ConfState,
  Entry,
  Message,
  MessageType,
  type Snapshot,
  type SnapshotMetadata,
} from "../gen/raftpb/raft.js";
import { copyBytes } from "../rpctypes/copy-bytes.js";
import { ByteSlab } from "./byte-slab.js";

export class RaftWireError extends Error {
  override name = "RaftWireError";
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

const UINT64_END = 1n << 64n;
const LOW_32_BITS = 0xffffffffn;

function varintSizeBig(n: bigint): number {
  if (n <= MAX_SAFE) return varintSize(Number(n));
  // four full 7-bit groups, then what is left above bit 28 (under 2^36: a safe number)
  return 4 + varintSize(Number(n >> 28n));
}

/** A cursor over a buffer sized exactly for what is written into it. */
class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new RaftWireError(`not a uint64: ${n}`);
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  varintBig(n: bigint): void {
    if (n < 0n || n >= UINT64_END) throw new RaftWireError(`not a uint64: ${n}`);
    if (n <= MAX_SAFE) {
      this.varint(Number(n));
      return;
    }
    // Member ids are random 64-bit numbers, mostly above 2^53: their groups come from the two 32-bit
    // halves as numbers, where a BigInt shift and mask per group allocated two BigInts each.
    let low = Number(n & LOW_32_BITS);
    for (let i = 0; i < 4; i++) {
      this.buf[this.pos++] = (low & 0x7f) | 0x80;
      low >>>= 7;
    }
    this.varint(low + Number(n >> 32n) * 16);
  }

  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
}

// Sizes ------------------------------------------------------------------------------------------

function confStateSize(c: ConfState | undefined): number {
  let size = 2; // auto_leave is always written
  if (c) {
    for (const list of [c.voters, c.learners, c.votersOutgoing, c.learnersNext]) {
      for (const id of list) size += 1 + varintSizeBig(id);
    }
  }
  return size;
}

function metadataSize(m: SnapshotMetadata | undefined): number {
  const cs = confStateSize(m?.confState);
  return 1 + varintSize(cs) + cs + 1 + varintSize(m?.index ?? 0) + 1 + varintSize(m?.term ?? 0);
}

function snapshotSize(s: Snapshot | undefined): number {
  let size = 0;
  const data = s?.data;
  if (data && data.length > 0) size += 1 + varintSize(data.length) + data.length;
  const md = metadataSize(s?.metadata);
  return size + 1 + varintSize(md) + md;
}

/** The encoded size of an entry in etcd's layout (type, term, index always; data when present). */
export function entrySize(e: Entry): number {
  let size = 1 + varintSize(e.type) + 1 + varintSize(e.term) + 1 + varintSize(e.index);
  if (e.data && e.data.length > 0) size += 1 + varintSize(e.data.length) + e.data.length;
  return size;
}

/** The encoded size of a message in etcd's layout. */
export function messageSize(m: Message): number {
  let size = 1 + varintSize(m.type);
  size += 1 + varintSizeBig(m.to) + 1 + varintSizeBig(m.from);
  size += 1 + varintSize(m.term) + 1 + varintSize(m.logTerm) + 1 + varintSize(m.index);
  for (const e of m.entries) {
    const es = entrySize(e);
    size += 1 + varintSize(es) + es;
  }
  size += 1 + varintSize(m.commit);
  const ss = snapshotSize(m.snapshot);
  size += 1 + varintSize(ss) + ss;
  size += 2 + 1 + varintSize(m.rejectHint);
  if (m.context && m.context.length > 0) size += 1 + varintSize(m.context.length) + m.context.length;
  return size;
}

// Writers ----------------------------------------------------------------------------------------

function writeConfState(o: Out, c: ConfState | undefined): void {
  if (c) {
    const lists: Array<[number, bigint[]]> = [
      [0x08, c.voters],
      [0x10, c.learners],
      [0x18, c.votersOutgoing],
      [0x20, c.learnersNext],
    ];
    for (const [tag, list] of lists) {
      for (const id of list) {
        o.byte(tag);
        o.varintBig(id);
      }
    }
  }
  o.byte(0x28);
  o.byte(c?.autoLeave ? 1 : 0);
}

function writeMetadata(o: Out, m: SnapshotMetadata | undefined): void {
  o.byte(0x0a);
  o.varint(confStateSize(m?.confState));
  writeConfState(o, m?.confState);
  o.byte(0x10);
  o.varint(m?.index ?? 0);
  o.byte(0x18);
  o.varint(m?.term ?? 0);
}

function writeSnapshot(o: Out, s: Snapshot | undefined): void {
  const data = s?.data;
  if (data && data.length > 0) {
    o.byte(0x0a);
    o.varint(data.length);
    o.bytes(data);
  }
  o.byte(0x12);
  o.varint(metadataSize(s?.metadata));
  writeMetadata(o, s?.metadata);
}

function writeEntry(o: Out, e: Entry): void {
  if (e.type < 0) throw new RaftWireError(`invalid entry type ${e.type}`);
  o.byte(0x08);
  o.varint(e.type);
  o.byte(0x10);
  o.varint(e.term);
  o.byte(0x18);
  o.varint(e.index);
  if (e.data && e.data.length > 0) {
    o.byte(0x22);
    o.varint(e.data.length);
    o.bytes(e.data);
  }
}

function writeMessage(o: Out, m: Message): void {
  if (m.type < 0) throw new RaftWireError(`invalid message type ${m.type}`);
  o.byte(0x08);
  o.varint(m.type);
  o.byte(0x10);
  o.varintBig(m.to);
  o.byte(0x18);
  o.varintBig(m.from);
  o.byte(0x20);
  o.varint(m.term);
  o.byte(0x28);
  o.varint(m.logTerm);
  o.byte(0x30);
  o.varint(m.index);
  for (const e of m.entries) {
    o.byte(0x3a);
    o.varint(entrySize(e));
    writeEntry(o, e);
  }
  o.byte(0x40);
  o.varint(m.commit);
  o.byte(0x4a);
  o.varint(snapshotSize(m.snapshot));
  writeSnapshot(o, m.snapshot);
  o.byte(0x50);
  o.byte(m.reject ? 1 : 0);
  o.byte(0x58);
  o.varint(m.rejectHint);
  if (m.context && m.context.length > 0) {
    o.byte(0x62);
    o.varint(m.context.length);
    o.bytes(m.context);
  }
}

/** Writes a message into `target` at `offset` (exactly messageSize(m) bytes); returns the end offset. */
export function writeMessageInto(m: Message, target: Buffer, offset: number): number {
  const o = new Out(target);
  o.pos = offset;
  writeMessage(o, m);
  return o.pos;
}

/** A message in etcd's byte layout. */
export function encodeMessage(m: Message): Buffer {
  const size = messageSize(m);
  const o = new Out(Buffer.allocUnsafe(size));
  writeMessage(o, m);
  if (o.pos !== size) throw new RaftWireError(`message size ${size} but wrote ${o.pos}`);
  return o.buf;
}

/** Writes an entry into `target` at `offset` (exactly entrySize(e) bytes); returns the end offset. */
export function writeEntryInto(e: Entry, target: Buffer, offset: number): number {
  const o = new Out(target);
  o.pos = offset;
  writeEntry(o, e);
  return o.pos;
}

/** An entry in etcd's byte layout. */
export function encodeEntry(e: Entry): Buffer {
  const size = entrySize(e);
  const o = new Out(Buffer.allocUnsafe(size));
  writeEntry(o, e);
  return o.buf;
}

/** Any valid protobuf encoding of a raft message; throws RaftWireError on malformed input. */
export function decodeMessage(bytes: Uint8Array): Message {
  return decodeMessageAt(bytes, 0, bytes.length);
}

/** The message encoded in bytes[start, end), read in place (a stream's frame holds it after its length). */
export function decodeMessageAt(bytes: Uint8Array, start: number, end: number): Message {
  const common = decodeCommonMessage(bytes, start, end);
  if (common !== undefined) return common;
  try {
    return Message.decode(bytes.subarray(start, end));
  } catch (err) {
    throw new RaftWireError(`malformed raft message: ${(err as Error).message}`);
  }
}

/**
 * A varint of at most 7 bytes (below 2^49, a safe number) at `at`, its end left in varintEnd; -1 when
 * it is longer or runs past `end`.
 */
function shortVarint(bytes: Uint8Array, at: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = at; i < end && i < at + 7; i++) {
    const b = bytes[i];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = i + 1;
      return value;
    }
    scale *= 0x80;
  }
  return -1;
}

/** Where the varint shortVarint read last ended (not a [value, end] pair: one per field of every entry). */
let varintEnd = 0;

/** Where received entries' data is kept. */
const entryBytes = new ByteSlab();

/**
 * The common entry, decoded by hand: its four fields each at most once, numbers below 2^49, a type
 * of one byte. The generated decoder reads each number as a BigInt and converts it back; a follower
 * decodes every entry the leader appends. Anything else (unknown fields, repeats, long or broken
 * varints) is left to the generated decoder: undefined.
 */
function decodeCommonEntry(bytes: Uint8Array, start: number, end: number): Entry | undefined {
  let type = 0;
  let term = 0;
  let index = 0;
  let data: Buffer | undefined;
  let seen = 0;
  let at = start;
  while (at < end) {
    const tag = bytes[at++];
    if (tag === 0x22) {
      if (seen & 8) return undefined;
      seen |= 8;
      const length = shortVarint(bytes, at, end);
      if (length < 0 || varintEnd + length > end) return undefined;
      at = varintEnd;
      // a copy, not a view of the frame: the entry stays in the raft log (see byte-slab.ts)
      data = entryBytes.alloc(length);
      copyBytes(bytes, at, data, 0, length);
      at += length;
      continue;
    }
    const bit = tag === 0x08 ? 1 : tag === 0x10 ? 2 : tag === 0x18 ? 4 : 0;
    if (bit === 0 || seen & bit) return undefined;
    seen |= bit;
    const value = shortVarint(bytes, at, end);
    if (value < 0) return undefined;
    at = varintEnd;
    if (bit === 1) {
      if (value > 0x7f) return undefined;
      type = value;
    } else if (bit === 2) term = value;
    else index = value;
  }
  return { type, term, index, data: data ?? Buffer.alloc(0) };
}

/**
 * The snapshot field every message of etcd's carries (gogoproto writes it always), empty: its length
 * and bytes after the tag.
 */
const EMPTY_SNAPSHOT_FIELD = Buffer.from([0x0a, 0x12, 0x08, 0x0a, 0x02, 0x28, 0x00, 0x10, 0x00, 0x18, 0x00]);

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * What the generated decoder makes of that field, made once and frozen: every message without a
 * snapshot of its own shares it (nothing writes into a received message's snapshot; a MsgSnap is
 * never decoded by hand).
 */
const EMPTY_SNAPSHOT: Snapshot | undefined = deepFreeze(
  Message.decode(Buffer.concat([Buffer.from([0x4a]), EMPTY_SNAPSHOT_FIELD])).snapshot,
);

/** The member ids decoded last, by the two halves of their varint: a member hears the same few. */
const ID_CACHE = 8;
const idLow = new Array<number>(ID_CACHE).fill(-1);
const idHigh = new Array<number>(ID_CACHE).fill(-1);
const idValue = new Array<bigint>(ID_CACHE).fill(0n);
let idNext = 0;

function idOf(low: number, high: number): bigint {
  for (let k = 0; k < ID_CACHE; k++) if (idLow[k] === low && idHigh[k] === high) return idValue[k];
  const value = BigInt.asUintN(64, (BigInt(high) << 49n) | BigInt(low));
  idLow[idNext] = low;
  idHigh[idNext] = high;
  idValue[idNext] = value;
  idNext = (idNext + 1) % ID_CACHE;
  return value;
}

/**
 * A uint64 varint of at most 10 bytes at `at` as a bigint (bits past 64 dropped, as the generated
 * decoder drops them), its end left in varintEnd; undefined when longer or cut short.
 */
function u64Varint(bytes: Uint8Array, at: number, end: number): bigint | undefined {
  let low = 0;
  let high = 0;
  let scale = 1;
  for (let i = at, n = 0; i < end && n < 10; i++, n++) {
    if (n === 7) scale = 1;
    const b = bytes[i];
    if (n < 7) low += (b & 0x7f) * scale;
    else high += (b & 0x7f) * scale;
    if (b < 0x80) {
      varintEnd = i + 1;
      return idOf(low, high);
    }
    scale *= 0x80;
  }
  return undefined;
}

/**
 * A message without entries, context or a snapshot of its own (an append's answer, a heartbeat, a
 * vote), decoded by hand: each field at most once, numbers below 2^49. The generated decoder reads
 * every number as a bigint and builds an empty snapshot's five objects for each message; a leader
 * decodes an answer from every follower for every append. Anything else is left to the generated
 * decoder: undefined.
 */
function decodeCommonMessage(bytes: Uint8Array, start: number, end: number): Message | undefined {
  let type = 0;
  let to = 0n;
  let from = 0n;
  let term = 0;
  let logTerm = 0;
  let index = 0;
  let commit = 0;
  let snapshot: Snapshot | undefined;
  let reject = false;
  let rejectHint = 0;
  let seen = 0;
  let at = start;
  while (at < end) {
    const tag = bytes[at++];
    const field = tag >>> 3;
    if ((tag & 7) !== (field === 9 ? 2 : 0) || field < 1 || field > 11 || field === 7) return undefined;
    const bit = 1 << field;
    if (seen & bit) return undefined;
    seen |= bit;
    if (field === 9) {
      if (end - at < EMPTY_SNAPSHOT_FIELD.length) return undefined;
      for (let k = 0; k < EMPTY_SNAPSHOT_FIELD.length; k++)
        if (bytes[at + k] !== EMPTY_SNAPSHOT_FIELD[k]) return undefined;
      at += EMPTY_SNAPSHOT_FIELD.length;
      snapshot = EMPTY_SNAPSHOT;
      continue;
    }
    if (field === 2 || field === 3) {
      const id = u64Varint(bytes, at, end);
      if (id === undefined) return undefined;
      at = varintEnd;
      if (field === 2) to = id;
      else from = id;
      continue;
    }
    const value = shortVarint(bytes, at, end);
    if (value < 0) return undefined;
    at = varintEnd;
    if (field === 1) {
      if (value > 0x7f || value === MessageType.MsgSnap) return undefined;
      type = value;
    } else if (field === 4) term = value;
    else if (field === 5) logTerm = value;
    else if (field === 6) index = value;
    else if (field === 8) commit = value;
    else if (field === 10) reject = value !== 0;
    else rejectHint = value;
  }
  return {
    type,
    to,
    from,
    term,
    logTerm,
    index,
    entries: [],
    commit,
    snapshot,
    reject,
    rejectHint,
    context: NO_CONTEXT,
  };
}

/** The context of a message that carries none, one buffer for all. */
const NO_CONTEXT = Buffer.alloc(0);

/** Any valid protobuf encoding of an entry; throws RaftWireError on malformed input. */
export function decodeEntry(bytes: Uint8Array): Entry {
  return decodeEntryAt(bytes, 0, bytes.length);
}

/**
 * The entry encoded in bytes[start, end), read in place: a follower's appends carry their entries
 * inside the frame, and a view of each was one more object per entry.
 */
export function decodeEntryAt(bytes: Uint8Array, start: number, end: number): Entry {
  const common = decodeCommonEntry(bytes, start, end);
  if (common !== undefined) return common;
  try {
    return Entry.decode(bytes.subarray(start, end));
  } catch (err) {
    throw new RaftWireError(`malformed raft entry: ${(err as Error).message}`);
  }
}

/** A message of the given type with every other field zero (what etcd's `raftpb.Message{Type: t}` is). */
export function emptyMessage(type: number): Message {
  return {
    type,
    to: 0n,
    from: 0n,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: Buffer.alloc(0),
  };
}
