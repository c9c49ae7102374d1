// etcd 3.4's write-ahead log, read as etcd reads it on restart (wal/decoder.go, wal/wal.go ReadAll).
//
// A WAL directory holds segments named `<seq %016x>-<first index %016x>.wal`. A segment is a run of
// frames: an int64 little-endian length field (low 56 bits = record bytes; when negative, bits 56-58
// of it = padding bytes after the record), then a walpb.Record{type=1, crc=2, data=3}, then padding to
// 8 bytes. A zero length field ends a segment (the rest is preallocated zeros). Every record's crc is
// the CRC-32C of its data chained from the previous record's; a crc record at the start of each
// segment carries the chain over. A record whose bytes end early or fail their crc while some
// 512-byte sector of it is all zeros is a torn write at the tail: etcd cuts the log there.

import { closeSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { join } from "node:path";
import { Entry, HardState } from "../gen/raftpb/raft.js";
import { WireCursor, WireError } from "../membership/gogo-wire.js";
import { Crc32c } from "../mvcc/hash.js";
import { EtcdDataDirError } from "./errors.js";

export const RecordType = { metadata: 1, entry: 2, state: 3, crc: 4, snapshot: 5 } as const;

/** etcd refuses records this large (wal/decoder.go maxWALEntrySizeLimit). */
const MAX_RECORD_BYTES = 10 * 1024 * 1024;
const SECTOR = 512;
const FRAME_LENGTH_BYTES = 8;

/** A snapshot marker in the WAL (walpb.Snapshot): the raft index and term a `.snap` file stands for. */
export interface WalSnapshotRef {
  index: number;
  term: number;
}

interface WalRecord {
  type: number;
  crc: number;
  data: Uint8Array;
  /** The segment and the offset of the record's frame, for messages. */
  file: string;
  offset: number;
}

export interface SegmentName {
  file: string;
  seq: bigint;
  index: bigint;
}

const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** The segments of a WAL directory in sequence order; names that are not etcd's are ignored (as etcd does). */
export function walSegments(walDir: string): SegmentName[] {
  let names: string[];
  try {
    names = readdirSync(walDir);
  } catch (err) {
    throw new EtcdDataDirError(walDir, `cannot list the WAL directory (${(err as Error).message})`);
  }
  const out: SegmentName[] = [];
  for (const name of names.sort()) {
    const m = SEGMENT_NAME.exec(name);
    if (m) out.push({ file: join(walDir, name), seq: BigInt(`0x${m[1]}`), index: BigInt(`0x${m[2]}`) });
  }
  if (out.length === 0) throw new EtcdDataDirError(walDir, "wal: file not found");
  return out;
}

/** True when dir holds etcd WAL segments. */
export function hasWalSegments(walDir: string): boolean {
  try {
    return readdirSync(walDir).some((n) => SEGMENT_NAME.test(n));
  } catch {
    return false;
  }
}

function safeNumber(v: bigint, file: string, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new EtcdDataDirError(file, `${what} ${v} is out of range`);
  return Number(v);
}

function decodeRecord(bytes: Uint8Array): Pick<WalRecord, "type" | "crc" | "data"> {
  const cur = new WireCursor(bytes);
  let type = 0n;
  let crc = 0n;
  let data: Uint8Array = new Uint8Array(0);
  while (!cur.done) {
    const { field, wireType } = cur.tag("Record");
    if (field === 1 && wireType === 0) type = cur.varint();
    else if (field === 2 && wireType === 0) crc = cur.varint();
    else if (field === 3 && wireType === 2) data = cur.delimited();
    else if (field <= 3) throw new WireError(`Record: wrong wireType ${wireType} for field ${field}`);
    else cur.skip(wireType);
  }
  return { type: Number(BigInt.asIntN(64, type)), crc: Number(crc & 0xffff_ffffn), data };
}

/** Some 512-byte sector of the record (as laid out in the file) is all zeros: a write that never finished. */
function isTorn(data: Uint8Array, fileOffset: number): boolean {
  let off = fileOffset;
  let at = 0;
  while (at < data.length) {
    const len = Math.min(SECTOR - (off % SECTOR), data.length - at);
    let zero = true;
    for (let i = at; i < at + len; i++) {
      if (data[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
    off += len;
    at += len;
  }
  return false;
}

/** How a read of the segments ended: cleanly, or at a torn write in the last segment (etcd repairs it). */
export type WalEnd = { kind: "end" } | { kind: "torn"; file: string; offset: number };

/**
 * Decodes the records of `segments` in order, checking the crc chain as etcd's decoder does.
 * Throws EtcdDataDirError naming the segment for anything etcd would refuse.
 */
export function decodeSegments(segments: readonly SegmentName[], onRecord: (rec: WalRecord) => void): WalEnd {
  let crc = new Crc32c();
  for (let s = 0; s < segments.length; s++) {
    const file = segments[s].file;
    const last = s === segments.length - 1;
    let seg: SegmentReader;
    try {
      seg = new SegmentReader(file);
    } catch (err) {
      throw new EtcdDataDirError(file, `cannot read the WAL segment (${(err as Error).message})`);
    }
    try {
      const end = decodeSegment(seg, last, crc, onRecord);
      if (end.kind === "torn") return end;
      crc = end.crc;
    } finally {
      seg.close();
    }
  }
  return { kind: "end" };
}

/** A segment read on demand: etcd preallocates 64 MB per segment, mostly zeros never looked at. */
class SegmentReader {
  readonly size: number;
  private readonly fd: number;
  private window = { start: 0, buf: Buffer.alloc(0) };

  constructor(readonly file: string) {
    this.fd = openSync(file, "r");
    this.size = fstatSync(this.fd).size;
  }

  /** `length` bytes at `pos` (the caller checked they are inside the file). */
  bytes(pos: number, length: number): Buffer {
    const w = this.window;
    if (pos >= w.start && pos + length <= w.start + w.buf.length)
      return w.buf.subarray(pos - w.start, pos - w.start + length);
    const want = Math.min(Math.max(length, READ_CHUNK), this.size - pos);
    const buf = Buffer.alloc(want);
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, buf, got, want - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    this.window = { start: pos, buf: buf.subarray(0, got) };
    return this.window.buf.subarray(0, Math.min(length, got));
  }

  close(): void {
    closeSync(this.fd);
  }
}

const READ_CHUNK = 1024 * 1024;

function decodeSegment(
  seg: SegmentReader,
  last: boolean,
  chain: Crc32c,
  onRecord: (rec: WalRecord) => void,
): { kind: "end"; crc: Crc32c } | Extract<WalEnd, { kind: "torn" }> {
  const file = seg.file;
  let crc = chain;
  {
    let pos = 0;
    while (pos + FRAME_LENGTH_BYTES <= seg.size) {
      const lenField = seg.bytes(pos, FRAME_LENGTH_BYTES).readBigInt64LE(0);
      if (lenField === 0n) break;
      const recBytes = Number(BigInt.asUintN(64, lenField) & 0x00ff_ffff_ffff_ffffn);
      const padBytes = lenField < 0n ? Number((BigInt.asUintN(64, lenField) >> 56n) & 7n) : 0;
      if (recBytes >= MAX_RECORD_BYTES - padBytes)
        throw new EtcdDataDirError(file, `wal: max entry size limit exceeded (record at offset ${pos})`);
      const start = pos + FRAME_LENGTH_BYTES;
      const end = start + recBytes + padBytes;
      if (end > seg.size) {
        if (last) return { kind: "torn", file, offset: pos };
        throw new EtcdDataDirError(file, `wal: segment ends inside the record at offset ${pos}`);
      }
      const frame = Buffer.from(seg.bytes(start, recBytes + padBytes));
      let rec: Pick<WalRecord, "type" | "crc" | "data">;
      try {
        rec = decodeRecord(frame.subarray(0, recBytes));
      } catch (err) {
        if (last && isTorn(frame, start)) return { kind: "torn", file, offset: pos };
        throw new EtcdDataDirError(
          file,
          `wal: cannot decode the record at offset ${pos} (${(err as Error).message})`,
        );
      }
      if (rec.type === RecordType.crc) {
        // a segment's first record carries the chain over; a fresh decoder (crc 0) accepts any
        const current = crc.digest();
        if (current !== 0 && current !== rec.crc)
          throw new EtcdDataDirError(file, `wal: crc mismatch (crc record at offset ${pos})`);
        crc = new Crc32c(rec.crc);
      } else {
        crc.update(rec.data);
        if (crc.digest() !== rec.crc) {
          if (last && isTorn(frame, start)) return { kind: "torn", file, offset: pos };
          throw new EtcdDataDirError(file, `wal: crc mismatch (record at offset ${pos})`);
        }
      }
      onRecord({ ...rec, file, offset: pos });
      pos = end;
    }
  }
  return { kind: "end", crc };
}

function decodeWalSnapshot(data: Uint8Array, file: string): WalSnapshotRef {
  const cur = new WireCursor(data);
  let index = 0n;
  let term = 0n;
  try {
    while (!cur.done) {
      const { field, wireType } = cur.tag("Snapshot");
      if (field === 1 && wireType === 0) index = cur.varint();
      else if (field === 2 && wireType === 0) term = cur.varint();
      else cur.skip(wireType);
    }
  } catch (err) {
    throw new EtcdDataDirError(file, `wal: cannot decode a snapshot record (${(err as Error).message})`);
  }
  return { index: safeNumber(index, file, "snapshot index"), term: safeNumber(term, file, "snapshot term") };
}

function decodeOrRefuse<T>(decode: () => T, file: string, what: string): T {
  try {
    return decode();
  } catch (err) {
    throw new EtcdDataDirError(file, `wal: cannot decode ${what} (${(err as Error).message})`);
  }
}

/**
 * The snapshot markers a restart may use (wal.ValidSnapshotEntries): every one in the whole WAL whose
 * index is at most the last hard state's commit.
 */
export function validSnapshotRefs(walDir: string): WalSnapshotRef[] {
  const refs: WalSnapshotRef[] = [];
  let commit = 0;
  decodeSegments(walSegments(walDir), (rec) => {
    if (rec.type === RecordType.snapshot) refs.push(decodeWalSnapshot(rec.data, rec.file));
    else if (rec.type === RecordType.state)
      commit = decodeOrRefuse(() => HardState.decode(rec.data), rec.file, "a hard state").commit;
  });
  return refs.filter((r) => r.index <= commit);
}

/** What etcd's ReadAll returns after opening the WAL at a snapshot. */
export interface WalContents {
  /** The metadata record (etcdserverpb.Metadata bytes). */
  metadata: Uint8Array;
  hardState: HardState;
  /** Entries after the snapshot, in log order (a later record for an index replaced the tail there). */
  entries: Entry[];
  /** Where the log was cut at a torn write, if it was. */
  end: WalEnd;
  /** The segments that were read. */
  segments: string[];
}

/**
 * Reads the WAL from the segment holding `start` (etcd's wal.Open + ReadAll in the way a restart uses
 * them): entries after start.index, the last hard state, the metadata. The snapshot marker must be
 * found with the same term; segments must be consecutive.
 */
export function readWal(walDir: string, start: WalSnapshotRef = { index: 0, term: 0 }): WalContents {
  const all = walSegments(walDir);
  let from = -1;
  for (let i = all.length - 1; i >= 0; i--) {
    if (all[i].index <= BigInt(start.index)) {
      from = i;
      break;
    }
  }
  if (from < 0)
    throw new EtcdDataDirError(walDir, `wal: file not found (no segment holds index ${start.index})`);
  const segments = all.slice(from);
  for (let i = 1; i < segments.length; i++) {
    if (segments[i].seq !== segments[i - 1].seq + 1n)
      throw new EtcdDataDirError(segments[i].file, "wal: file not found (segment sequence has a gap)");
  }
  let metadata: Uint8Array | undefined;
  let hardState = HardState.fromPartial({});
  let entries: Entry[] = [];
  let matched = false;
  const end = decodeSegments(segments, (rec) => {
    switch (rec.type) {
      case RecordType.entry: {
        const e = decodeOrRefuse(() => Entry.decode(rec.data), rec.file, "an entry");
        if (e.index > start.index) {
          const up = e.index - start.index - 1;
          if (up > entries.length)
            throw new EtcdDataDirError(rec.file, `wal: slice bounds out of range (entry ${e.index})`);
          entries = entries.slice(0, up);
          entries.push(e);
        }
        return;
      }
      case RecordType.state:
        hardState = decodeOrRefuse(() => HardState.decode(rec.data), rec.file, "a hard state");
        return;
      case RecordType.metadata:
        if (metadata !== undefined && !Buffer.from(metadata).equals(Buffer.from(rec.data)))
          throw new EtcdDataDirError(rec.file, "wal: conflicting metadata found");
        metadata = rec.data;
        return;
      case RecordType.crc:
        return;
      case RecordType.snapshot: {
        const ref = decodeWalSnapshot(rec.data, rec.file);
        if (ref.index === start.index) {
          if (ref.term !== start.term) throw new EtcdDataDirError(rec.file, "wal: snapshot mismatch");
          matched = true;
        }
        return;
      }
      default:
        throw new EtcdDataDirError(rec.file, `unexpected block type ${rec.type}`);
    }
  });
  if (!matched) throw new EtcdDataDirError(walDir, "wal: snapshot not found");
  if (metadata === undefined) throw new EtcdDataDirError(walDir, "wal: no metadata record");
  return { metadata, hardState, entries, end, segments: segments.map((s) => s.file) };
}

/** Every raft entry in the WAL segments, in log order (a later record for an index truncates the log there). */
export function readWalEntries(walDir: string): Entry[] {
  return readWal(walDir).entries;
}
