import { join } from "node:path";
import type { ConfState, Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { encodeMember, RaftCluster } from "../membership/cluster.js";
import { MemoryStorage } from "../raft/storage.js";
import { emptyConfState } from "../raft/util.js";
import { WAL, type WalCommit } from "../wal/wal.js";

/** Which of etcd's start-up cases applies to this data dir. */
export type BootstrapCase = "new-cluster" | "join-existing" | "restart";

/** What the WAL's metadata record says about the member that created it. */
export interface WalMetadata {
  memberId: bigint;
  clusterId: bigint;
}

export function encodeWalMetadata(m: WalMetadata): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(m.memberId, 0);
  b.writeBigUInt64BE(m.clusterId, 8);
  return b;
}

export function decodeWalMetadata(b: Buffer, walDir: string): WalMetadata {
  if (b.length !== 16) throw new Error(`WAL metadata in ${walDir} has ${b.length} bytes, expected 16`);
  return { memberId: b.readBigUInt64BE(0), clusterId: b.readBigUInt64BE(8) };
}

export interface MemberPaths {
  walDir: string;
  backendFile: string;
}

/** etcd's layout: <data-dir>/member/wal (or --wal-dir) and <data-dir>/member/snap/db. */
export function memberPaths(dataDir: string, walDir: string): MemberPaths {
  return {
    walDir: walDir !== "" ? walDir : join(dataDir, "member", "wal"),
    backendFile: join(dataDir, "member", "snap", "db"),
  };
}

export interface BootstrapInput {
  paths: MemberPaths;
  /** Told of every WAL commit (its fsync time feeds etcd_disk_wal_fsync_duration_seconds). */
  onWalCommit?: (commit: WalCommit) => void;
  name: string;
  initialCluster: ReadonlyMap<string, readonly string[]>;
  initialClusterToken: string;
  initialClusterState: "new" | "existing";
}

/** The raft side of a member before its node starts: the durable log, the in-memory log and the cluster. */
export interface BootstrappedRaft {
  readonly case: BootstrapCase;
  readonly wal: WAL;
  readonly storage: MemoryStorage;
  readonly cluster: RaftCluster;
  /** The node's id (the member id). */
  readonly id: bigint;
  /** Snapshot the storage starts from (restart only). */
  readonly snapshot: Snapshot | undefined;
  readonly hardState: HardState | undefined;
  readonly confState: ConfState;
  /** Voters to bootstrap the raft log with (new cluster only). */
  readonly bootstrapPeers: Array<{ id: bigint; context: Buffer }>;
}

/**
 * Chooses the start-up case from the data dir and the configuration, and refuses anything else:
 * a WAL means restart; no WAL and `new` means a new cluster; no WAL and `existing` means joining,
 * which needs the peers' view of the cluster (not available to a single member yet).
 */
export async function bootstrapRaft(input: BootstrapInput): Promise<BootstrappedRaft> {
  const { paths } = input;
  if (WAL.exists(paths.walDir)) {
    const walOptions = input.onWalCommit ? { onCommit: input.onWalCommit } : {};
    const opened = await WAL.open(paths.walDir, walOptions);
    const meta = decodeWalMetadata(opened.metadata, paths.walDir);
    const storage = new MemoryStorage();
    if (opened.snapshot) storage.applySnapshot(opened.snapshot);
    storage.setHardState(opened.hardState);
    storage.append(opened.entries as Entry[]);
    const cluster = new RaftCluster(meta.clusterId, meta.memberId);
    return {
      case: "restart",
      wal: opened.wal,
      storage,
      cluster,
      id: meta.memberId,
      snapshot: opened.snapshot,
      hardState: opened.hardState,
      confState: opened.snapshot?.metadata?.confState ?? emptyConfState(),
      bootstrapPeers: [],
    };
  }
  if (input.initialClusterState === "existing") {
    throw new Error(
      "cannot join an existing cluster: fetching the cluster from its peers is not supported yet (use --initial-cluster-state=new)",
    );
  }
  const cluster = RaftCluster.fromInitialCluster(input.name, input.initialCluster, input.initialClusterToken);
  const wal = await WAL.create(
    paths.walDir,
    encodeWalMetadata({ memberId: cluster.localId, clusterId: cluster.id }),
    input.onWalCommit ? { onCommit: input.onWalCommit } : {},
  );
  return {
    case: "new-cluster",
    wal,
    storage: new MemoryStorage(),
    cluster,
    id: cluster.localId,
    snapshot: undefined,
    hardState: undefined,
    confState: emptyConfState(),
    bootstrapPeers: cluster.list().map((m) => ({ id: m.id, context: encodeMember(m) })),
  };
}
