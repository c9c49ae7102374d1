import {
  closeSync,
  fdatasyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Snapshot } from "../gen/raftpb/raft.js";
import { indexKey, RecordKind, unseal } from "./record.js";
import { fsyncDirectory, TEMPORARY_SUFFIX } from "./segment-files.js";
import { hex16 } from "./u64.js";

/**
 * Snapshots (raft metadata and data), one file each: `<index>.snap`, the record sealed as in
 * record.ts (kind, CRC over the index and the payload). Written to a temporary file, synced,
 * renamed and the directory synced, so a snapshot file is either whole or absent.
 */
const SNAPSHOT_NAME = /^([0-9a-f]{16})\.snap$/;

function snapshotPath(dir: string, index: number): string {
  return join(dir, `${hex16(index)}.snap`);
}

/** Indexes of the snapshot files in dir, ascending. */
export function listSnapshotFiles(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = SNAPSHOT_NAME.exec(name);
    if (m) out.push(Number.parseInt(m[1], 16));
  }
  return out.sort((a, b) => a - b);
}

export function writeSnapshotFile(dir: string, index: number, sealed: Buffer): void {
  const path = snapshotPath(dir, index);
  const tmp = `${path}${TEMPORARY_SUFFIX}`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    let at = 0;
    while (at < sealed.length) at += writeSync(fd, sealed, at, sealed.length - at, at);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDirectory(dir);
}

/** The snapshot stored at index, or why it cannot be used. */
export function readSnapshotFile(dir: string, index: number): Snapshot | string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(snapshotPath(dir, index));
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT"
      ? "is missing"
      : `cannot be read: ${(error as Error).message}`;
  }
  const payload = unseal(RecordKind.snapshot, indexKey(index), bytes);
  if (typeof payload === "string") return payload;
  let snapshot: Snapshot;
  try {
    snapshot = Snapshot.decode(payload);
  } catch {
    return "undecodable record";
  }
  if (snapshot.metadata === undefined) return "undecodable record";
  if (snapshot.metadata.index !== index) return `describes index ${snapshot.metadata.index}`;
  return snapshot;
}

export function removeSnapshotFile(dir: string, index: number): void {
  rmSync(snapshotPath(dir, index), { force: true });
}
