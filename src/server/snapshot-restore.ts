// `snapshot restore`: a new member's data dir made from a snapshot file (etcd's bbolt file, written by
// `etcdctl snapshot save` against etcd or rxetcd), with etcdctl 3.4's checks, defaults and error texts
// (clientv3/snapshot/v3_snapshot.go Restore). The result is rxetcd's own layout: the backend imported
// from the file with its consistent index set to the number of members, and a WAL holding the raft
// snapshot of a fresh membership at that index (term 1, voted for the lowest member id), as etcdctl's
// WAL and .snap file hold it. Every check runs before anything is written; a failure while writing
// removes what was made.

import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { verifyInitialCluster } from "../config/cluster.js";
import { parseUrlList, parseUrlsMap } from "../config/urls.js";
import { checkEtcdBackend, EtcdDataDirError } from "../etcddir/index.js";
import { ConfChangeType, type Snapshot } from "../gen/raftpb/raft.js";
import { RaftCluster } from "../membership/cluster.js";
import { Backend, MetaKey } from "../mvcc/backend.js";
import { importBbolt } from "../mvcc/bbolt-import.js";
import { KVStore } from "../mvcc/kvstore.js";
import { emptyConfState } from "../raft/util.js";
import { WAL } from "../wal/wal.js";
import { encodeWalMetadata, memberPaths } from "./bootstrap.js";

/** etcdctl snapshot restore's flags, with its defaults applied by the caller. */
export interface RestoreOptions {
  snapshotPath: string;
  name: string;
  /** "" = `<name>.etcd`. */
  dataDir: string;
  /** "" = <data-dir>/member/wal. */
  walDir: string;
  /** --initial-advertise-peer-urls, comma-separated. */
  peerUrls: string;
  initialCluster: string;
  initialClusterToken: string;
  skipHashCheck: boolean;
}

export interface RestoreResult {
  dataDir: string;
  walDir: string;
  backendFile: string;
  memberId: bigint;
  clusterId: bigint;
  /** Raft index (and consistent index) the member starts from: the number of members. */
  index: number;
  revision: number;
}

/** A refused restore; the message is etcdctl's. */
export class SnapshotRestoreError extends Error {}

const SHA256_BYTES = 32;

/** Go's text for a failed open (os.PathError). */
function openError(path: string, err: NodeJS.ErrnoException): SnapshotRestoreError {
  const why =
    err.code === "ENOENT"
      ? "no such file or directory"
      : err.code === "EACCES"
        ? "permission denied"
        : err.code === "EISDIR"
          ? "is a directory"
          : err.message;
  return new SnapshotRestoreError(`open ${path}: ${why}`);
}

/** Go's %v of a byte slice: decimal bytes in brackets. */
function goBytes(b: Uint8Array): string {
  return `[${[...b].join(" ")}]`;
}

/** The integrity trailer check of etcdctl's saveDB, done on the source file before anything is copied. */
function checkHash(path: string, skipHashCheck: boolean): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw openError(path, err as NodeJS.ErrnoException);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < SHA256_BYTES) throw new SnapshotRestoreError(`seek ${path}: invalid argument`);
    // a file written by `snapshot save` is pages plus the 32-byte SHA-256 of them
    const hasHash = size % 512 === SHA256_BYTES;
    if (!hasHash && !skipHashCheck)
      throw new SnapshotRestoreError("snapshot missing hash but --skip-hash-check=false");
    if (!hasHash || skipHashCheck) return;
    const hash = createHash("sha256");
    const chunk = Buffer.alloc(1024 * 1024);
    const body = size - SHA256_BYTES;
    for (let pos = 0; pos < body; ) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, body - pos), pos);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      pos += n;
    }
    const trailer = Buffer.alloc(SHA256_BYTES);
    readSync(fd, trailer, 0, SHA256_BYTES, body);
    const got = hash.digest();
    if (!got.equals(trailer))
      throw new SnapshotRestoreError(`expected sha256 ${goBytes(trailer)}, got ${goBytes(got)}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * etcdctl's quirk, kept so both restores give the same db: the names found in the old `members` and
 * `members_removed` buckets are deleted as *keys* (one write), and the consistent index is set to
 * the number of new members whatever the file said.
 */
async function resetBackend(backendFile: string, index: number): Promise<number> {
  await writeConsistentIndex(backendFile, 0);
  const store = KVStore.open(backendFile, { durability: "nosync" });
  let revision: number;
  try {
    const names = [...store.records("members"), ...store.records("members_removed")].map(([k]) => k);
    store.write(index, (tx) => {
      for (const name of names) tx.deleteRange(name, undefined);
    });
    await store.compactionsDone();
    await store.sync();
    revision = store.currentRev();
  } finally {
    await store.close();
  }
  // a write that deleted nothing records no index: set it whatever happened
  await writeConsistentIndex(backendFile, index);
  return revision;
}

async function writeConsistentIndex(backendFile: string, index: number): Promise<void> {
  const backend = Backend.open(backendFile, { durability: "nosync" });
  try {
    backend.write(() => backend.putMetaNumber(MetaKey.consistentIndex, index));
    await backend.sync();
  } finally {
    await backend.close();
  }
}

/** Restores `o.snapshotPath` into a new data dir; `log` hears etcdctl's two progress lines. */
export async function restoreSnapshot(
  o: RestoreOptions,
  log: (msg: string, fields: Record<string, string>) => void = () => {},
): Promise<RestoreResult> {
  let peerUrls: ReturnType<typeof parseUrlList>;
  let initial: ReturnType<typeof parseUrlsMap>;
  try {
    peerUrls = parseUrlList(o.peerUrls);
    initial = parseUrlsMap(o.initialCluster);
    await verifyInitialCluster(
      { name: o.name, initialAdvertisePeerUrls: peerUrls, initialClusterState: "new", discovery: "" },
      initial,
    );
  } catch (err) {
    throw new SnapshotRestoreError((err as Error).message);
  }
  const hrefs = new Map([...initial].map(([name, urls]) => [name, urls.map((u) => u.href)]));
  let cluster: RaftCluster;
  try {
    cluster = RaftCluster.fromInitialCluster(o.name, hrefs, o.initialClusterToken);
  } catch (err) {
    throw new SnapshotRestoreError((err as Error).message);
  }
  const dataDir = o.dataDir !== "" ? o.dataDir : `${o.name}.etcd`;
  if (existsSync(dataDir)) throw new SnapshotRestoreError(`data-dir ${JSON.stringify(dataDir)} exists`);
  if (o.walDir !== "" && existsSync(o.walDir))
    throw new SnapshotRestoreError(`wal-dir ${JSON.stringify(o.walDir)} exists`);
  const paths = memberPaths(dataDir, o.walDir);
  const snapDir = dirname(paths.backendFile);
  const where = { path: o.snapshotPath, "wal-dir": paths.walDir, "data-dir": dataDir, "snap-dir": snapDir };
  log("restoring snapshot", where);

  checkHash(o.snapshotPath, o.skipHashCheck);
  try {
    checkEtcdBackend(o.snapshotPath);
  } catch (err) {
    if (err instanceof EtcdDataDirError) throw new SnapshotRestoreError(err.message);
    throw err;
  }

  const members = cluster.bootstrapConfChanges();
  const index = members.length;
  try {
    mkdirSync(snapDir, { recursive: true });
    await importBbolt(o.snapshotPath, paths.backendFile);
    const revision = await resetBackend(paths.backendFile, index);

    // the membership as etcdctl's .snap file holds it: each member added (raft attributes only)
    const fresh = new RaftCluster(cluster.id, cluster.localId);
    for (const m of members)
      fresh.applyConfChange({
        id: 0n,
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: m.id,
        context: m.context,
      });
    const snapshot: Snapshot = {
      data: fresh.toSnapshotData(),
      metadata: { index, term: 1, confState: { ...emptyConfState(), voters: members.map((m) => m.id) } },
    };
    const wal = await WAL.create(
      paths.walDir,
      encodeWalMetadata({ memberId: cluster.localId, clusterId: cluster.id }),
    );
    try {
      await wal.save({ term: 1, vote: members[0].id, commit: index }, [], snapshot);
    } finally {
      await wal.close();
    }
    log("restored snapshot", where);
    return {
      dataDir,
      walDir: paths.walDir,
      backendFile: paths.backendFile,
      memberId: cluster.localId,
      clusterId: cluster.id,
      index,
      revision,
    };
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    if (o.walDir !== "") rmSync(o.walDir, { recursive: true, force: true });
    throw err;
  }
}
