import { join } from "node:path";
import type { Logger } from "pino";
import { retryingResolver, verifyInitialCluster } from "../config/cluster.js";
import { parseEtcdUrl, parseUrlsMap, urlsMapText } from "../config/urls.js";
import { DiscoveryError, joinCluster } from "../discovery/v2-discovery.js";
import type { ConfState, Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { RaftCluster } from "../membership/cluster.js";
import { formatId } from "../membership/ids.js";
import type { MemberJson } from "../membership/member-json.js";
import type { HostResolver } from "../membership/url-equality.js";
import { MemoryStorage } from "../raft/storage.js";
import { emptyConfState } from "../raft/util.js";
import { WAL, type WalCommit, type WalOptions, type WalRepair } from "../wal/wal.js";

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
  /** --unsafe-no-fsync: WAL writes are not synced (a machine crash can lose acknowledged writes). */
  unsafeNoFsync?: boolean;
  name: string;
  initialCluster: ReadonlyMap<string, readonly string[]>;
  initialClusterToken: string;
  initialClusterState: "new" | "existing";
  /**
   * Asks peers for the cluster they run (GET /members, first good answer), for joining an existing
   * cluster and for the new-cluster check that this member was not bootstrapped before.
   */
  fetchMembers?: (urls: string[], timeoutMs: number) => Promise<RemoteCluster | undefined>;
  /**
   * Resolves host names when matching --initial-cluster against the advertised peer URLs or a running
   * cluster (default: DNS, each name retried every second for up to 30 s, as etcd does).
   */
  resolveHost?: HostResolver;
  /** --initial-advertise-peer-urls: must match this member's --initial-cluster entry on a first start. */
  peerUrls: readonly string[];
  /**
   * --discovery (and --discovery-proxy): a new member's initial cluster comes from this v2 discovery
   * service; initialCluster is then this member alone and initialClusterToken the discovery URL.
   */
  discovery?: BootstrapDiscovery;
  logger?: Logger;
}

export interface BootstrapDiscovery {
  url: string;
  proxy: string;
  /** The retry backoff's unit (etcd: 1 s), shorter in tests. */
  retryUnitMs?: number;
}

/** A running cluster as a peer's `/members` answer describes it. */
export interface RemoteCluster {
  clusterId: bigint;
  members: MemberJson[];
}

/** The peer URLs of every --initial-cluster member but this one, sorted (etcd asks them in this order). */
function otherPeerUrls(cluster: RaftCluster): string[] {
  return cluster
    .list()
    .filter((m) => m.id !== cluster.localId)
    .flatMap((m) => m.peerUrls)
    .sort();
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
  /** The running cluster's members when joining it (the transport reaches them before membership is applied). */
  readonly remotes: Array<{ id: bigint; peerUrls: string[] }>;
  /** Crash damage the WAL mended at its tail on a restart (for the log). */
  readonly walRepairs: readonly WalRepair[];
}

/**
 * Chooses the start-up case from the data dir and the configuration, and refuses anything else:
 * a WAL means restart; no WAL and `new` means a new cluster; no WAL and `existing` means joining,
 * which needs the peers' view of the cluster (not available to a single member yet).
 */
function walOptionsOf(input: BootstrapInput): WalOptions {
  return {
    ...(input.onWalCommit ? { onCommit: input.onWalCommit } : {}),
    ...(input.unsafeNoFsync ? { unsafeNoFsync: true } : {}),
  };
}

export async function bootstrapRaft(input: BootstrapInput): Promise<BootstrappedRaft> {
  const { paths } = input;
  if (WAL.exists(paths.walDir)) {
    if (input.discovery)
      input.logger?.warn(
        { "wal-dir": paths.walDir },
        "discovery token is ignored since cluster already initialized; valid logs are found",
      );
    const opened = await WAL.open(paths.walDir, walOptionsOf(input));
    const meta = decodeWalMetadata(opened.metadata, paths.walDir);
    const storage = new MemoryStorage();
    if (opened.snapshot) storage.applySnapshot(opened.snapshot);
    storage.setHardState(opened.hardState);
    storage.append(opened.entries as Entry[]);
    // membership as of the snapshot; raft re-delivers every committed entry after it, conf changes
    // and v2 requests included, which brings it forward (etcd rebuilds it from its v2 store the same way)
    const data = opened.snapshot?.data;
    const cluster =
      data && data.length > 0
        ? RaftCluster.fromSnapshotData(meta.memberId, meta.clusterId, Buffer.from(data))
        : new RaftCluster(meta.clusterId, meta.memberId);
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
      remotes: [],
      walRepairs: opened.repairs,
    };
  }
  await verifyFirstStart(input);
  const local = RaftCluster.fromInitialCluster(input.name, input.initialCluster, input.initialClusterToken);
  if (input.initialClusterState === "existing") return joinExisting(input, local);
  const others = otherPeerUrls(local);
  if (others.length > 0 && input.fetchMembers) {
    // a member that already published to a running cluster must restart from its WAL, not bootstrap again
    const running = await input.fetchMembers(others, 1000);
    const self = running?.members.find((m) => m.id === local.localId);
    if (self && (self.clientURLs?.length ?? 0) > 0)
      throw new Error(`member ${formatId(local.localId)} has already been bootstrapped`);
  }
  const cluster = input.discovery ? await discoveredCluster(input, input.discovery, local) : local;
  const wal = await WAL.create(
    paths.walDir,
    encodeWalMetadata({ memberId: cluster.localId, clusterId: cluster.id }),
    walOptionsOf(input),
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
    bootstrapPeers: cluster.bootstrapConfChanges(),
    remotes: [],
    walRepairs: [],
  };
}

/**
 * etcd's bootstrap through --discovery: this member registers with the discovery service and waits for
 * the others; the cluster is built from their registrations, with the discovery URL as its token.
 */
async function discoveredCluster(
  input: BootstrapInput,
  discovery: BootstrapDiscovery,
  local: RaftCluster,
): Promise<RaftCluster> {
  const self = new Map([...input.initialCluster].map(([name, urls]) => [name, urls.map(parseEtcdUrl)]));
  let text: string;
  try {
    text = await joinCluster(
      {
        url: discovery.url,
        ...(discovery.proxy !== "" ? { proxy: discovery.proxy } : {}),
        ...(input.logger ? { logger: input.logger } : {}),
        ...(discovery.retryUnitMs !== undefined ? { retryUnitMs: discovery.retryUnitMs } : {}),
      },
      local.localId,
      urlsMapText(self),
    );
  } catch (err) {
    throw new DiscoveryError("join", err instanceof Error ? err : new Error(String(err)));
  }
  const members = parseUrlsMap(text);
  const seen = new Set<string>();
  for (const u of [...members.values()].flat()) {
    if (seen.has(u.href)) throw new Error(`discovery cluster ${urlsMapText(members)} has duplicate url`);
    seen.add(u.href);
  }
  const found = new Map([...members].map(([name, urls]) => [name, urls.map((u) => u.href)]));
  return RaftCluster.fromInitialCluster(input.name, found, input.initialClusterToken);
}

/**
 * Joining a running cluster (etcd's join-existing case): the peers' member list must match
 * --initial-cluster; the member takes the ids the cluster gave, and starts with an empty log that
 * the leader fills (from index 1, or with a snapshot).
 */
async function joinExisting(input: BootstrapInput, local: RaftCluster): Promise<BootstrappedRaft> {
  const { paths } = input;
  const others = otherPeerUrls(local);
  const remote =
    others.length > 0 && input.fetchMembers ? await input.fetchMembers(others, 10_000) : undefined;
  if (!remote)
    throw new Error(
      "cannot fetch cluster info from peer urls: could not retrieve cluster information from the given URLs",
    );
  const cluster = await RaftCluster.forJoin(
    input.name,
    input.initialCluster,
    input.initialClusterToken,
    remote,
    input.resolveHost ? { resolve: input.resolveHost } : {},
  );
  const wal = await WAL.create(
    paths.walDir,
    encodeWalMetadata({ memberId: cluster.localId, clusterId: cluster.id }),
    walOptionsOf(input),
  );
  return {
    case: "join-existing",
    wal,
    storage: new MemoryStorage(),
    // membership is learned by applying the leader's log: start from nothing
    cluster: new RaftCluster(cluster.id, cluster.localId),
    id: cluster.localId,
    snapshot: undefined,
    hardState: undefined,
    confState: emptyConfState(),
    bootstrapPeers: [],
    remotes: remote.members.map((m) => ({ id: m.id, peerUrls: [...(m.peerURLs ?? [])] })),
    walRepairs: [],
  };
}

/**
 * etcd's VerifyBootstrap / VerifyJoinExisting, run only without a WAL: this member is in --initial-cluster,
 * its entry there matches --initial-advertise-peer-urls (names resolved), no peer URL appears twice.
 */
async function verifyFirstStart(input: BootstrapInput): Promise<void> {
  const resolve =
    input.resolveHost ??
    retryingResolver({
      intervalMs: 1000,
      timeoutMs: 30_000,
      onRetry: (host, err) =>
        input.logger?.warn(
          { host, "retry-interval": "1s", error: err.message },
          "failed to resolve URL Host",
        ),
    });
  await verifyInitialCluster(
    {
      name: input.name,
      initialAdvertisePeerUrls: input.peerUrls.map(parseEtcdUrl),
      initialClusterState: input.initialClusterState,
      discovery: input.discovery?.url ?? "",
    },
    new Map([...input.initialCluster].map(([name, urls]) => [name, urls.map(parseEtcdUrl)])),
    resolve,
  );
}

/** One line per piece of crash damage the WAL mended on open (etcd logs its WAL repair the same way). */
export function logWalRepair(log: Logger, repair: WalRepair): void {
  switch (repair.kind) {
    case "zeroed-torn-tail":
      log.warn(
        { path: repair.file, offset: repair.from, bytes: repair.to - repair.from },
        "repaired the WAL: cleared a record a crash cut short at its tail (never acknowledged)",
      );
      return;
    case "dropped-empty-segment":
      log.warn({ path: repair.file }, "repaired the WAL: removed a segment a crash left without a record");
      return;
    case "removed-orphan-snapshot":
      log.warn(
        { index: repair.index },
        "repaired the WAL: removed a snapshot file whose save never reached the log",
      );
  }
}
