import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { ETCD_VERSION } from "../config/defaults.js";

/** Exponential buckets as etcd uses for its disk latencies: 1 ms doubling 14 times. */
const DISK_BUCKETS = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);

/** A member's metrics under etcd's names, so dashboards and alerts written for etcd keep working. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly hasLeader = new Gauge({
    name: "etcd_server_has_leader",
    help: "Whether or not a leader exists. 1 is existence, 0 is not.",
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: "etcd_server_is_leader",
    help: "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    registers: [this.registry],
  });
  readonly leaderChanges = new Counter({
    name: "etcd_server_leader_changes_seen_total",
    help: "The number of leader changes seen.",
    registers: [this.registry],
  });
  /**
   * The applied and committed indexes, read when scraped: a gauge's set cost three objects, and the
   * apply loop set two per batch (one batch per put with one client).
   */
  appliedIndex: () => number = () => 0;
  committedIndex: () => number = () => 0;
  readonly proposalsCommitted: Gauge = new Gauge({
    name: "etcd_server_proposals_committed_total",
    help: "The total number of consensus proposals committed.",
    registers: [this.registry],
    collect: () => this.proposalsCommitted.set(Math.max(this.appliedIndex(), this.committedIndex())),
  });
  readonly proposalsApplied: Gauge = new Gauge({
    name: "etcd_server_proposals_applied_total",
    help: "The total number of consensus proposals applied.",
    registers: [this.registry],
    collect: () => this.proposalsApplied.set(this.appliedIndex()),
  });
  /** How many proposals are waiting for their answer: read when scraped, not counted per request. */
  pendingProposals: () => number = () => 0;
  readonly proposalsPending: Gauge = new Gauge({
    name: "etcd_server_proposals_pending",
    help: "The current number of pending proposals to commit.",
    registers: [this.registry],
    collect: () => this.proposalsPending.set(this.pendingProposals()),
  });
  readonly proposalsFailed = new Counter({
    name: "etcd_server_proposals_failed_total",
    help: "The total number of failed proposals seen.",
    registers: [this.registry],
  });
  readonly slowApplies = new Counter({
    name: "etcd_server_slow_apply_total",
    help: "The total number of slow apply requests (likely overloaded from slow disk).",
    registers: [this.registry],
  });
  readonly readIndexFailed = new Counter({
    name: "etcd_server_slow_read_indexes_total",
    help: "The total number of pending read indexes not in sync with leader's or timed out read index requests.",
    registers: [this.registry],
  });
  readonly walFsync: Histogram = new Histogram({
    name: "etcd_disk_wal_fsync_duration_seconds",
    help: "The latency distributions of fsync called by WAL.",
    buckets: DISK_BUCKETS,
    registers: [this.registry],
    collect: () => this.observeWalFsyncs(),
  });
  /** WAL sync durations (s) not yet in walFsync. */
  private walFsyncs: number[] = [];

  /**
   * Notes a WAL sync's duration for walFsync, observed when it is read (or once enough are held): the
   * WAL reports a sync between its end and the answers that waited for it, where a histogram's
   * observe cost about 4 us a sync.
   */
  noteWalFsync(seconds: number): void {
    if (this.walFsyncs.push(seconds) >= 1024) this.observeWalFsyncs();
  }

  private observeWalFsyncs(): void {
    const held = this.walFsyncs;
    this.walFsyncs = [];
    for (const s of held) this.walFsync.observe(s);
  }
  readonly backendCommit = new Histogram({
    name: "etcd_disk_backend_commit_duration_seconds",
    help: "The latency distributions of commit called by backend.",
    buckets: DISK_BUCKETS,
    registers: [this.registry],
  });
  readonly dbSize = new Gauge({
    name: "etcd_mvcc_db_total_size_in_bytes",
    help: "Total size of the underlying database physically allocated in bytes.",
    registers: [this.registry],
  });
  readonly dbSizeInUse = new Gauge({
    name: "etcd_mvcc_db_total_size_in_use_in_bytes",
    help: "Total size of the underlying database logically in use in bytes.",
    registers: [this.registry],
  });
  readonly serverId = new Gauge({
    name: "etcd_server_id",
    help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
    labelNames: ["server_id"],
    registers: [this.registry],
  });
  readonly version = new Gauge({
    name: "etcd_server_version",
    help: "Which version is running. 1 for 'server_version' label with current version.",
    labelNames: ["server_version"],
    registers: [this.registry],
  });
  readonly clusterVersion = new Gauge({
    name: "etcd_cluster_version",
    help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
    labelNames: ["cluster_version"],
    registers: [this.registry],
  });

  constructor() {
    this.version.set({ server_version: ETCD_VERSION }, 1);
    this.clusterVersion.set({ cluster_version: "3.4" }, 1);
    // The event loop lag is sampled ten times a second, not a hundred (prom-client's default): each
    // sample wakes the process, and an idle member spent more on these wake-ups than on anything else.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  setMemberId(memberIdHex: string): void {
    this.serverId.set({ server_id: memberIdHex }, 1);
  }
}
