/**
 * Reads and rewrites the records of a segment file directly, bypassing every check of the WAL: the
 * damage tests use it to make logs that are well framed but wrong, or framed and then broken.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Entry } from "../../src/gen/raftpb/raft.js";
import { encodeFrame, FrameKind, readFrame } from "../../src/wal/frame.js";

export interface RawRecord {
  readonly offset: number;
  readonly end: number;
  readonly kind: number;
  readonly payload: Buffer;
}

/** Segment files of a WAL directory, oldest first. */
export function segmentPaths(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".seg"))
    .sort()
    .map((name) => join(dir, name));
}

export function readRecords(path: string): RawRecord[] {
  const buf = readFileSync(path);
  const out: RawRecord[] = [];
  let offset = 0;
  for (;;) {
    const read = readFrame(buf, offset);
    if (read.type !== "frame") return out;
    out.push({ offset, end: read.end, kind: read.kind, payload: Buffer.from(read.payload) });
    offset = read.end;
  }
}

/** The index of an entry record, undefined for other records. */
export function entryIndex(record: RawRecord): number | undefined {
  return record.kind === FrameKind.entry ? Entry.decode(record.payload).index : undefined;
}

/** Writes the records back, correctly framed, zeros after them up to the file's old size. */
export function rewriteRecords(
  path: string,
  edit: (records: RawRecord[]) => { kind: number; payload: Uint8Array }[],
): void {
  const size = readFileSync(path).length;
  const frames = edit(readRecords(path)).map((r) => encodeFrame(r.kind as FrameKind, r.payload));
  const body = Buffer.concat(frames);
  writeFileSync(path, Buffer.concat([body, Buffer.alloc(Math.max(0, size - body.length))]));
}

/** Applies a byte-level change to the file. */
export function editBytes(path: string, edit: (buf: Buffer) => void): void {
  const buf = readFileSync(path);
  edit(buf);
  writeFileSync(path, buf);
}
