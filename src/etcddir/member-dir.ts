// An etcd 3.4 member directory read the way etcd reads it on restart (etcdserver/server.go NewServer,
// case haveWAL): the snapshot markers in the WAL pick the newest usable `.snap` file, the WAL is read
// from that snapshot on, and the bbolt backend member/snap/db holds the applied key-value state. Every
// byte is read and checked before anything is made of it; etcd's files are only ever opened for reading.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { BboltError, BboltReader } from "../bbolt/index.js";
import { Metadata } from "../gen/etcdserverpb/etcdserver.js";
import type { Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { EtcdDataDirError } from "./errors.js";
import { newestAvailableSnapshot } from "./snap-files.js";
import { hasWalSegments, readWal, validSnapshotRefs, type WalEnd } from "./wal-segments.js";

/** Where etcd keeps a member's files. */
export interface EtcdMemberPaths {
  walDir: string;
  snapDir: string;
  dbFile: string;
}

/** etcd's layout: <data-dir>/member/wal (or --wal-dir), <data-dir>/member/snap, <data-dir>/member/snap/db. */
export function etcdMemberPaths(dataDir: string, walDir = ""): EtcdMemberPaths {
  const snapDir = join(dataDir, "member", "snap");
  return {
    walDir: walDir !== "" ? walDir : join(dataDir, "member", "wal"),
    snapDir,
    dbFile: join(snapDir, "db"),
  };
}

/** True when the WAL directory holds etcd's segment files (`*.wal`). */
export function isEtcdMemberDir(paths: EtcdMemberPaths): boolean {
  return hasWalSegments(paths.walDir);
}

/** Everything a member restarting from an etcd data dir starts with. */
export interface EtcdMemberState {
  paths: EtcdMemberPaths;
  memberId: bigint;
  clusterId: bigint;
  /** The raft snapshot the log continues from, and its file. */
  snapshot: { file: string; snapshot: Snapshot } | undefined;
  hardState: HardState;
  /** Entries after the snapshot. */
  entries: Entry[];
  /** Whether the WAL ended at a torn write (etcd cuts it there on restart). */
  walEnd: WalEnd;
  /** The bbolt file holding the applied state (the db, or the snapshot's `.snap.db` after a crash). */
  backendFile: string;
  backend: BackendSummary;
}

export interface BackendSummary {
  consistentIndex: number;
  /** Top-level buckets and entries read (all of them, to prove the file whole). */
  buckets: number;
  entries: number;
}

/**
 * Reads every bucket and entry of a bbolt backend (a damaged page anywhere is found now, not later),
 * checks it is etcd's (a `key` bucket of revisions) and returns its consistent index.
 */
export function checkEtcdBackend(file: string): BackendSummary {
  let reader: BboltReader | undefined;
  try {
    reader = BboltReader.open(file);
    const names = reader.bucketNames();
    if (!names.some((n) => n.toString() === "key"))
      throw new EtcdDataDirError(file, "not an etcd backend: it has no key bucket");
    let entries = 0;
    let consistentIndex = 0;
    for (const name of names) {
      const bucket = name.toString("latin1");
      for (const e of reader.entries([name])) {
        entries++;
        if (bucket === "key" && e.key.length !== 17 && e.key.length !== 18)
          throw new EtcdDataDirError(file, `key bucket entry ${entries} is not a revision`);
        if (bucket === "meta" && e.key.toString("latin1") === "consistent_index") {
          if (e.value.length !== 8)
            throw new EtcdDataDirError(file, `meta consistent_index has ${e.value.length} bytes`);
          const v = e.value.readBigUInt64BE(0);
          if (v > BigInt(Number.MAX_SAFE_INTEGER))
            throw new EtcdDataDirError(file, `meta consistent_index ${v} is out of range`);
          consistentIndex = Number(v);
        }
      }
    }
    return { consistentIndex, buckets: names.length, entries };
  } catch (err) {
    if (err instanceof EtcdDataDirError) throw err;
    if (err instanceof BboltError) {
      const prefix = `bbolt file ${file}: `;
      const what = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
      throw new EtcdDataDirError(file, `bbolt: ${what}`);
    }
    throw new EtcdDataDirError(file, `cannot read the backend (${(err as Error).message})`);
  } finally {
    reader?.close();
  }
}

/** Reads and checks an etcd member directory; throws EtcdDataDirError naming the file for anything etcd would refuse. */
export function readEtcdMemberDir(paths: EtcdMemberPaths): EtcdMemberState {
  const refs = validSnapshotRefs(paths.walDir);
  const snap = newestAvailableSnapshot(paths.snapDir, refs);
  const meta = snap?.snapshot.metadata;
  const wal = readWal(paths.walDir, meta ? { index: meta.index, term: meta.term } : { index: 0, term: 0 });
  let ids: Metadata;
  try {
    ids = Metadata.decode(wal.metadata);
  } catch (err) {
    throw new EtcdDataDirError(paths.walDir, `wal: cannot decode the metadata (${(err as Error).message})`);
  }
  const memberId = ids.NodeID ?? 0n;
  const clusterId = ids.ClusterID ?? 0n;
  if (memberId === 0n) throw new EtcdDataDirError(paths.walDir, "wal: the metadata names no member");

  if (!existsSync(paths.dbFile))
    throw new EtcdDataDirError(
      paths.dbFile,
      "the backend database is missing (etcd 3.4 cannot start without it)",
    );
  let backendFile = paths.dbFile;
  let backend = checkEtcdBackend(backendFile);
  const snapIndex = meta?.index ?? 0;
  if (snapIndex > 0 && backend.consistentIndex < snapIndex) {
    // etcd crashed after saving a received snapshot but before its db replaced the backend: the db
    // that belongs to the snapshot waits beside it (etcdserver/backend.go recoverSnapshotBackend)
    const snapDb = join(paths.snapDir, `${snapIndex.toString(16).padStart(16, "0")}.snap.db`);
    if (!existsSync(snapDb))
      throw new EtcdDataDirError(
        paths.dbFile,
        `database file (index ${backend.consistentIndex}) does not match with snapshot (index ${snapIndex})`,
      );
    backendFile = snapDb;
    backend = checkEtcdBackend(snapDb);
  }
  return {
    paths,
    memberId,
    clusterId,
    snapshot: snap,
    hardState: wal.hardState,
    entries: wal.entries,
    walEnd: wal.end,
    backendFile,
    backend,
  };
}
