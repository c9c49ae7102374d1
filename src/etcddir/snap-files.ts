// etcd 3.4's raft snapshot files (etcdserver/api/snap): member/snap/<term %016x>-<index %016x>.snap, each a
// snappb.Snapshot{crc=1 uint32, data=2 bytes} whose data is a raftpb.Snapshot (metadata and the v2 store
// JSON) and whose crc is the CRC-32C of that data.

import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Snapshot } from "../gen/raftpb/raft.js";
import { WireCursor } from "../membership/gogo-wire.js";
import { crc32c } from "../mvcc/hash.js";
import { EtcdDataDirError } from "./errors.js";
import type { WalSnapshotRef } from "./wal-segments.js";

const SNAP_SUFFIX = ".snap";

/** The `.snap` files of a snap directory, newest (highest name) first. */
export function snapFiles(snapDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(snapDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new EtcdDataDirError(snapDir, `cannot list the snap directory (${(err as Error).message})`);
  }
  return names
    .filter((n) => n.endsWith(SNAP_SUFFIX))
    .sort()
    .reverse()
    .map((n) => join(snapDir, n));
}

/** The newest `.snap` file of a directory. */
export function newestSnapFile(snapDir: string): string {
  const newest = snapFiles(snapDir)[0];
  if (!newest) throw new EtcdDataDirError(snapDir, "snap: no available snapshot");
  return newest;
}

/** A `.snap` file's raftpb.Snapshot, after the checks etcd's snap.Read makes (empty file or data, crc). */
export function readSnapFile(path: string): Snapshot {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new EtcdDataDirError(path, `cannot read the snapshot file (${(err as Error).message})`);
  }
  if (bytes.length === 0) throw new EtcdDataDirError(path, "snap: empty snapshot");
  let crc = 0n;
  let data: Uint8Array = new Uint8Array(0);
  try {
    const cur = new WireCursor(bytes);
    while (!cur.done) {
      const { field, wireType } = cur.tag("Snapshot");
      if (field === 1 && wireType === 0) crc = cur.varint();
      else if (field === 2 && wireType === 2) data = cur.delimited();
      else cur.skip(wireType);
    }
  } catch (err) {
    throw new EtcdDataDirError(path, `snap: cannot decode the snapshot file (${(err as Error).message})`);
  }
  if (data.length === 0 || crc === 0n) throw new EtcdDataDirError(path, "snap: empty snapshot");
  if (crc32c(data) !== Number(crc & 0xffff_ffffn)) throw new EtcdDataDirError(path, "snap: crc mismatch");
  try {
    return Snapshot.decode(data);
  } catch (err) {
    throw new EtcdDataDirError(path, `snap: cannot decode the raft snapshot (${(err as Error).message})`);
  }
}

/**
 * The newest snapshot file that a WAL snapshot marker vouches for (etcd's LoadNewestAvailable), or
 * undefined when there is none. A damaged file on the way is refused rather than skipped: etcd would
 * rename it aside, and converting must not touch etcd's files.
 */
export function newestAvailableSnapshot(
  snapDir: string,
  refs: readonly WalSnapshotRef[],
): { file: string; snapshot: Snapshot } | undefined {
  for (const file of snapFiles(snapDir)) {
    const snapshot = readSnapFile(file);
    const m = snapshot.metadata;
    if (m && refs.some((r) => r.index === m.index && r.term === m.term)) return { file, snapshot };
  }
  return undefined;
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

/** etcd's name of a snapshot file: `<term %016x>-<index %016x>.snap`. */
export function snapFileName(term: number, index: number): string {
  const hex = (n: number) => n.toString(16).padStart(16, "0");
  return `${hex(term)}-${hex(index)}${SNAP_SUFFIX}`;
}
