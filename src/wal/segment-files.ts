import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readdirSync,
  write,
  writeSync,
  writevSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { hex16 } from "./u64.js";

/**
 * Segment files: `<seq>-<index>.seg` (16 hex digits each: the sequence number and the first index
 * the segment was started for), prepared as `<seq>.seg.tmp` and renamed into place. The suffix is
 * not etcd's `.wal`, so that a directory is never mistaken for an etcd WAL or the other way round.
 */
const SEGMENT_NAME = /^([0-9a-f]{16})-([0-9a-f]{16})\.seg$/;
export const TEMPORARY_SUFFIX = ".tmp";

/** A new log's first segment (written whole before a start serves); every later one has the largest size. */
export const INITIAL_SEGMENT_BYTES = 1024 * 1024;
/** Largest segment, as etcd's (64 MB). */
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

export interface SegmentFile {
  readonly seq: number;
  readonly path: string;
}

export function segmentName(seq: number, index: number): string {
  return `${hex16(seq)}-${hex16(index)}.seg`;
}

export function temporarySegmentName(seq: number): string {
  return `${hex16(seq)}.seg${TEMPORARY_SUFFIX}`;
}

/** The segments of dir in sequence order; [] when there are none or dir does not exist. */
export function listSegments(dir: string): SegmentFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: SegmentFile[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m) out.push({ seq: Number.parseInt(m[1], 16), path: join(dir, name) });
  }
  return out.sort((a, b) => a.seq - b.seq);
}

export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Zeros are written 16 KiB at a time: the kernel caches a file in pages the size of the write that
 * made them (ext4's large folios), and every later small append into such a page walks all of its
 * blocks, when written and again when synced. Filled in 1 MiB writes, a 110-byte append and its
 * fdatasync cost 25-35 us of CPU; in 16 KiB writes 15-16 us, about what a file grown by appends costs.
 */
const ZEROS = Buffer.alloc(16 * 1024);
const writeAsync = promisify(write);

/** Writes zeros over [from, to) of an open file. */
export function zeroFill(fd: number, from: number, to: number): void {
  for (let at = from; at < to; at += ZEROS.length)
    writeSync(fd, ZEROS, 0, Math.min(ZEROS.length, to - at), at);
}

export async function zeroFillAsync(fd: number, from: number, to: number): Promise<void> {
  for (let at = from; at < to; at += ZEROS.length) {
    await writeAsync(fd, ZEROS, 0, Math.min(ZEROS.length, to - at), at);
  }
}

/** Writes all of `buffers` at `position` with one system call where the kernel takes them at once. */
export function writeAll(fd: number, buffers: readonly Buffer[], position: number): number {
  let bytes = 0;
  for (const b of buffers) bytes += b.length;
  const written = writevSync(fd, buffers as Buffer[], position);
  if (written !== bytes) throw new Error(`short write: ${written} of ${bytes} bytes`);
  return bytes;
}

/** A complete segment file in one go (a new WAL, a conversion): frames, zeros up to `bytes`, synced. */
export function writeSegmentFile(path: string, frames: readonly Buffer[], bytes: number): void {
  const fd = openSync(path, "w", 0o600);
  try {
    const written = writeAll(fd, frames, 0);
    zeroFill(fd, written, bytes);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
