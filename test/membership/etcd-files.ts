// Readers for the files etcd 3.4 keeps in member/snap and member/wal, enough for tests to check rxetcd's
// membership against what a real etcd wrote: `.snap` files (snappb.Snapshot{crc=1, data=2} holding a
// raftpb.Snapshot) and WAL segments (8-byte little-endian frame lengths around walpb.Record{type=1,
// crc=2, data=3}).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Entry, Entry as EntryCodec, Snapshot } from "../../src/gen/raftpb/raft.js";
import { WireCursor } from "../../src/membership/gogo-wire.js";
import { crc32c } from "../../src/mvcc/hash.js";

/** The fields of a flat protobuf message: number -> last varint or bytes value. */
function fields(bytes: Uint8Array): Map<number, bigint | Uint8Array> {
  const cur = new WireCursor(bytes);
  const out = new Map<number, bigint | Uint8Array>();
  while (!cur.done) {
    const { field, wireType } = cur.tag("record");
    if (wireType === 0) out.set(field, cur.varint());
    else if (wireType === 2) out.set(field, cur.delimited());
    else throw new Error(`unexpected wire type ${wireType} in field ${field}`);
  }
  return out;
}

export function newestSnapFile(snapDir: string): string {
  const names = readdirSync(snapDir)
    .filter((n) => n.endsWith(".snap"))
    .sort();
  const newest = names.at(-1);
  if (!newest) throw new Error(`no .snap file in ${snapDir}`);
  return join(snapDir, newest);
}

/** A `.snap` file: its raftpb.Snapshot, after checking the CRC-32C etcd checks. */
export function readSnapFile(path: string): Snapshot {
  const f = fields(readFileSync(path));
  const crc = Number(f.get(1) ?? 0n);
  const data = f.get(2);
  if (!(data instanceof Uint8Array)) throw new Error(`${path}: no snapshot data`);
  if (crc32c(data) !== crc) throw new Error(`${path}: crc mismatch`);
  return Snapshot.decode(data);
}

function varint(v: number): number[] {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x & 0x7f) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
  return out;
}

/** Writes a `.snap` file as etcd's snapshotter does. */
export function writeSnapFile(path: string, snapshot: Snapshot): void {
  const data = Snapshot.encode(snapshot).finish();
  const body = Buffer.concat([
    Buffer.from([0x08, ...varint(crc32c(data))]),
    Buffer.from([0x12, ...varint(data.length)]),
    Buffer.from(data),
  ]);
  writeFileSync(path, body);
}

const ENTRY_RECORD = 2n;

/** Every raft entry in the WAL segments, in log order (a later record for an index truncates the log there). */
export function readWalEntries(walDir: string): Entry[] {
  const log: Entry[] = [];
  for (const name of readdirSync(walDir)
    .filter((n) => n.endsWith(".wal"))
    .sort()) {
    const buf = readFileSync(join(walDir, name));
    let pos = 0;
    while (pos + 8 <= buf.length) {
      const lenField = buf.readBigInt64LE(pos);
      if (lenField === 0n) break;
      const recBytes = Number(BigInt.asUintN(64, lenField) & 0x00ff_ffff_ffff_ffffn);
      const padBytes = lenField < 0n ? Number((BigInt.asUintN(64, lenField) >> 56n) & 7n) : 0;
      const record = fields(buf.subarray(pos + 8, pos + 8 + recBytes));
      pos += 8 + recBytes + padBytes;
      if (record.get(1) !== ENTRY_RECORD) continue;
      const entry = EntryCodec.decode(record.get(3) as Uint8Array);
      const at = log.findIndex((e) => e.index >= entry.index);
      if (at >= 0) log.length = at;
      log.push(entry);
    }
  }
  return log;
}
