import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import {
  distinctUntilChanged,
  EMPTY,
  filter,
  firstValueFrom,
  interval,
  map,
  merge,
  mergeMap,
  type Observable,
  Subject,
  type Subscription,
  share,
  take,
  takeUntil,
  tap,
  timer,
} from "rxjs";
import { batchWhileBusy } from "../../streams/operators/batch-while-busy.js";
import { inOrder } from "../../streams/operators/in-order.js";
import { ticks } from "../../streams/sources/ticks.js";
import { type AuthStore, internalRootContext } from "../auth/index.js";
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import type { AlarmMember, ResponseHeader } from "../gen/etcdserverpb/rpc.js";
import type { Event } from "../gen/mvccpb/kv.js";
import {
  type ConfChange,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type Snapshot,
} from "../gen/raftpb/raft.js";
import { decodeLeaseRecord, Lessor } from "../lease/lessor.js";
import type { Member, MembershipChange, RaftCluster } from "../membership/cluster.js";
import { IdGenerator } from "../membership/id-generator.js";
import { formatId } from "../membership/ids.js";
import type { MemberJson } from "../membership/member-json.js";
import { encodeV2Request, publishRequest } from "../membership/v2-request.js";
import { exportBbolt } from "../mvcc/bbolt-export.js";
import { KVStore } from "../mvcc/kvstore.js";
import { WatchableStore } from "../mvcc/watchable-store.js";
import type { RaftLogger } from "../raft/logger.js";
import { SeededRand } from "../raft/rand.js";
import { RawNode, SnapshotStatus } from "../raft/rawnode.js";
import { Errors, EtcdError, isClientVisibleError } from "../rpctypes/errors.js";
import { fetchMembers } from "../transport/peer-client.js";
import { Transport } from "../transport/transport.js";
import type { WAL } from "../wal/wal.js";
import { createClientApi } from "./api/index.js";
import { type ApplyResult, EntryApplier } from "./apply.js";
import { createAuthStore } from "./auth-setup.js";
import { type BootstrapCase, bootstrapRaft, logWalRepair } from "./bootstrap.js";
import type { ClientApi, ClientDeadline } from "./client-api.js";
import { ClusterOps } from "./cluster-ops.js";
import { clusterVersion$ } from "./cluster-version.js";
import { Compactor } from "./compactor.js";
import { corruptAlarm, periodicCorruptionCheck$ } from "./corruption-check.js";
import { KvRequests } from "./kv-requests.js";
import { sendMergedSnapshot } from "./merged-snapshot.js";
import { ServerMetrics } from "./metrics.js";
import { createPeerServices } from "./peer-services.js";
import { DataProposal, type PendingProposal, type ProposalHost, ProposalOf } from "./pending-proposal.js";
import { ProposedRequests } from "./proposed-requests.js";
import { quotaBytes } from "./quota.js";
import { type ApplyBatch, RaftNode } from "./raft-node.js";
import { encodeProposal, type Proposal } from "./raft-request.js";
import { LinearizableReads } from "./read-index.js";
import { ServerRecords } from "./records.js";
import type { ServerConfig } from "./server-config.js";
import { requestTimeoutMs, type ServerCore } from "./server-core.js";
import { Snapshotter } from "./snapshotter.js";
import { UnansweredProposals } from "./unanswered-proposals.js";
import { IndexWaiter, WaitRegistry } from "./wait.js";

const LEASE_EXPIRY_CHECK_MS = 500;
/** etcd's maxGapBetweenApplyAndCommitIndex. */
const MAX_APPLY_GAP = 5000;
/** etcd's maxInFlightMsgSnap: merged snapshots being sent at once. */
const MAX_SNAPSHOTS_IN_FLIGHT = 16;

/** This member was removed from the cluster: it stops, and its data dir must not be reused. */
export class MemberRemovedError extends Error {
  constructor(why = "the member has been permanently removed from the cluster") {
    super(why);
  }
}

/** etcd revokes at most 1000 leases per second: half of that every 500 ms check. */
const LEASE_REVOKES_PER_CHECK = 500;
const MAX_PENDING_REVOKES = 16;
/** etcd's maxLeaseCheckpointBatchSize. */
const LEASE_CHECKPOINTS_PER_BATCH = 1000;

function raftLogger(log: Logger): RaftLogger {
  return {
    debug: (m) => log.debug(m),
    info: (m) => log.info(m),
    warning: (m) => log.warn(m),
    error: (m) => log.error(m),
    panic: (m) => {
      log.fatal(m);
      throw new Error(m);
    },
  };
}

/**
 * One member: the raft node, the durable log, the key-value store, leases and the cluster,
 * driven by one merged pipeline of streams (see `run`). Implements what the client API needs.
 */
export class EtcdServer implements ServerCore {
  readonly serverMetrics: ServerMetrics;
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly raft: RaftNode;
  readonly store: KVStore;
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  readonly auth: AuthStore;
  /** Every batch of entries once applied, with the applied index and how long its apply took. */
  readonly applied$ = new Subject<{ index: number; entries: Entry[]; durationMs: number }>();
  /** Every applied key-value change, one emission per revision, in revision order. */
  readonly events$ = new Subject<{ revision: number; events: Event[] }>();
  /** Every membership change applied here (add, promote, update, remove), as it is applied. */
  readonly membership$ = new Subject<MembershipChange>();
  /** Emits when the first entry of a leader's term is applied here (etcd's FirstCommitInTermNotify). */
  readonly firstCommitInTerm$ = new Subject<number>();
  /** Emits once when the server stops; the Error is set when it stopped because of a failure. */
  readonly stopped$ = new Subject<Error | undefined>();

  /** The requests this member proposed, applied without decoding their bytes again. */
  private readonly proposed = new ProposedRequests();
  /** Proposals waiting for their apply result; one not applied within the request timeout fails. */
  private readonly wait: WaitRegistry<ApplyResult>;
  readonly appliedIndex: IndexWaiter;
  readonly idGen: IdGenerator;
  readonly reads: LinearizableReads;
  private readonly applier: EntryApplier;
  readonly kv: KvRequests;
  readonly clusterOps: ClusterOps;
  /** Which of etcd's start-up cases this member went through. */
  bootCase: BootstrapCase = "new-cluster";
  /** The commit index the WAL held at start-up: applied once the replay is over. */
  private bootCommit = 0;
  /** The last entry raft handed to the apply loop (re-delivered entries included). */
  private readonly delivered = new IndexWaiter(0);
  /** The client API (gRPC services, gateway, /health) bound to this member. */
  readonly api: ClientApi;
  private readonly stop$ = new Subject<void>();
  private readonly errors$ = new Subject<Error>();
  private subscription: Subscription | undefined;
  /** The peer transport (set right after construction: its handlers need the server). */
  transport!: Transport;
  private readonly now: () => number;
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly cfg: ServerConfig,
    private readonly wal: WAL,
    raft: RaftNode,
    store: KVStore,
    readonly log: Logger,
    readonly cluster: RaftCluster,
    metrics: ServerMetrics,
  ) {
    this.now = cfg.now ?? Date.now;
    this.raft = raft;
    this.wait = new WaitRegistry<ApplyResult>(
      {
        timeoutMs: requestTimeoutMs(cfg),
        error: (id, waitedMs) => this.waitExpired(id, this.now() - waitedMs),
      },
      {
        // a refused request fails its waiter; the proposal is done either way (no `then` per proposal)
        errorOf: (r) => r.err,
        settled: (id, failed) => {
          this.unanswered.delete(id);
          if (failed) this.serverMetrics.proposalsFailed.inc();
        },
      },
    );
    this.store = store;
    this.clusterId = cluster.id;
    this.memberId = cluster.localId;
    this.serverMetrics = metrics;
    metrics.pendingProposals = () => this.unanswered.size;
    metrics.appliedIndex = () => this.appliedIndex.index;
    metrics.committedIndex = () => this.raft.node.committedIndex;
    store.backend.onCommitted((ms) => metrics.backendCommit.observe(ms / 1000));
    metrics.setMemberId(formatId(this.memberId));
    this.watchable = new WatchableStore(
      store,
      cfg.watchProgressNotifyIntervalMs
        ? { progressNotifyIntervalMs: cfg.watchProgressNotifyIntervalMs }
        : {},
    );
    this.lessor = new Lessor({
      minTtlSeconds: Math.ceil((3 * cfg.electionTicks * cfg.tickMs) / 2 / 1000),
      now: this.now,
    });
    this.idGen = new IdGenerator(this.memberId, this.now());
    store.onCommit((events, revision) => {
      if (this.events$.observed) this.events$.next({ revision, events });
    });
    this.appliedIndex = new IndexWaiter(store.consistentIndex());
    this.auth = createAuthStore(
      cfg.auth,
      {
        appliedIndex: () => this.appliedIndex.index,
        waitApplied: (i) => this.appliedIndex.wait(i),
        applyWaitMs: requestTimeoutMs(cfg),
      },
      new ServerRecords(store),
      log,
    );
    this.kv = new KvRequests(store, this.lessor, { maxTxnOps: cfg.maxTxnOps });
    this.applier = new EntryApplier({
      store,
      lessor: this.lessor,
      auth: this.auth,
      cluster,
      kv: this.kv,
      raft,
      log,
      quota: () => quotaBytes(cfg.quotaBackendBytes),
      persistLeaseCheckpoints: cfg.leaseCheckpoint?.persist ?? false,
      onMembershipChange: (change) => this.onMembershipChange(change),
      proposed: this.proposed,
    });
    this.clusterOps = new ClusterOps({
      core: this,
      transport: () => this.transport,
      configure: (cc, deadline) => this.configure(cc, deadline),
      now: this.now,
    });
    this.api = createClientApi(this);
    this.reads = new LinearizableReads({
      requestReadIndex: (ctx) => raft.readIndex(ctx),
      readStates$: raft.readStates$,
      applied: this.appliedIndex,
      timeoutMs: requestTimeoutMs(cfg),
      nextId: () => this.idGen.next(),
    });
  }

  /** Bootstraps (new cluster or restart from the WAL) and starts the run pipeline. */
  static async start(cfg: ServerConfig): Promise<EtcdServer> {
    const log = cfg.logger;
    const metrics = new ServerMetrics();
    const boot = await bootstrapRaft({
      ...cfg,
      fetchMembers: (urls, timeoutMs) => fetchMembers(urls, timeoutMs, cfg.peerTls),
      onWalCommit: (c) => metrics.noteWalFsync(c.durationMs / 1000),
    });
    // the WAL is the durable copy: the backend is replayed from it above its consistent index, so
    // its commits need atomicity but no fsync of their own (etcd commits its backend every 100 ms)
    for (const repair of boot.walRepairs) logWalRepair(log, repair);
    const store = KVStore.open(cfg.paths.backendFile, {
      durability: "nosync",
      // etcd's backend batch: 0 keeps its defaults (100 ms, 10,000 writes)
      commit: {
        intervalMs: cfg.backendBatchIntervalMs || undefined,
        limit: cfg.backendBatchLimit || undefined,
      },
    });
    try {
      // a crash after a received snapshot was made durable but before its db replaced the backend:
      // finish the job from the saved db, as etcd does
      const snapIndex = boot.snapshot?.metadata?.index ?? 0;
      if (snapIndex > 0 && store.consistentIndex() < snapIndex) {
        const dbFile = join(
          dirname(cfg.paths.backendFile),
          `${snapIndex.toString(16).padStart(16, "0")}.snap.db`,
        );
        if (!existsSync(dbFile))
          throw new Error(
            `database file (${cfg.paths.backendFile} index ${store.consistentIndex()}) does not match with snapshot (index ${snapIndex})`,
          );
        await store.restoreFromBbolt(dbFile);
        store.setConsistentIndex(snapIndex);
        rmSync(dbFile, { force: true });
        log.info({ "snapshot-index": snapIndex }, "recovered the backend from the snapshot's db");
      }
      // the cluster and the leases as the backend last saw them; the WAL replay brings them forward
      const records = new ServerRecords(store);
      const node = new RawNode({
        id: boot.id,
        electionTick: cfg.electionTicks,
        heartbeatTick: 1,
        storage: boot.storage,
        applied: boot.snapshot?.metadata?.index ?? 0,
        maxSizePerMsg: 1024 * 1024,
        maxInflightMsgs: 512,
        checkQuorum: true,
        preVote: cfg.preVote,
        logger: raftLogger(log.child({ component: "raft" })),
        rand: new SeededRand(
          BigInt.asUintN(64, boot.id ^ BigInt(Date.now()) ^ randomBytes(8).readBigUInt64BE()),
        ),
      });
      if (boot.case === "new-cluster") node.bootstrap(boot.bootstrapPeers);
      // messages leave through the transport, which exists once the server does (it answers for it)
      let server: EtcdServer | undefined;
      const sender = { send: (msgs: Message[]) => server?.sendMessages(msgs) };
      const raft = new RaftNode(node, boot.storage, boot.wal, sender, boot.confState);
      server = new EtcdServer(cfg, boot.wal, raft, store, log, boot.cluster, metrics);
      const self = server;
      const transport = new Transport({
        localId: boot.id,
        clusterId: boot.cluster.id,
        localPeerUrls: cfg.peerUrls,
        electionTimeoutMs: cfg.electionTicks * cfg.tickMs,
        raft: {
          reportUnreachable: (id) => node.reportUnreachable(id),
          reportSnapshot: (id, failed) =>
            node.reportSnapshot(id, failed ? SnapshotStatus.SnapshotFailure : SnapshotStatus.SnapshotFinish),
        },
        services: createPeerServices({
          core: self,
          snapshotDir: dirname(cfg.paths.backendFile),
          stepSnapshot: (msg, dbFile) => self.stepSnapshot(msg, dbFile),
          promoteMember: (id) => self.promoteMember(id),
        }),
        logger: log.child({ component: "transport" }),
        registry: metrics.registry,
        ...(cfg.peerTls ? { tls: cfg.peerTls } : {}),
      });
      server.transport = transport;
      server.bootCase = boot.case;
      server.bootCommit = boot.hardState?.commit ?? 0;
      for (const m of boot.cluster.list()) {
        if (m.id !== boot.id) transport.addPeer(m.id, m.peerUrls);
      }
      for (const r of boot.remotes) if (!boot.cluster.member(r.id)) transport.addRemote(r.id, r.peerUrls);
      server.lessor.restore(records.list("lease").map(([, value]) => decodeLeaseRecord(value)));
      for (const { lease, key } of store.leasedKeys()) server.lessor.attach(lease, key);
      log.info(
        {
          "local-member-id": formatId(server.memberId),
          "cluster-id": formatId(server.clusterId),
          case: boot.case,
          "consistent-index": store.consistentIndex(),
        },
        "starting server",
      );
      server.run();
      // a single voter need not wait an election timeout to lead: it campaigns as soon as its
      // configuration is applied (raft refuses while a conf change is pending), as etcd's adjustTicks
      // lets it. A restart from a WAL without a snapshot learns its membership again from the replayed
      // entries: it knows no member at boot and decides once they are applied.
      const soleVoter = () => {
        const voters = boot.cluster.voterIds();
        return voters.length === 1 && voters[0] === boot.id;
      };
      const campaign = () => {
        if (soleVoter() && !raft.hasLeader) {
          node.campaign();
          raft.kick();
        }
      };
      if (soleVoter() && boot.case !== "new-cluster") campaign();
      else if (soleVoter() || boot.cluster.list().length === 0) {
        // after the apply batch, raft's own applied index moves on advance(): campaign after that
        server.applied$.pipe(take(1)).subscribe(() => setTimeout(campaign, 0));
      } else if (cfg.initialElectionTickAdvance && boot.cluster.list().length > 1) {
        void server.advanceTicksWhenPeersUp();
      }
      return server;
    } catch (err) {
      await store.close().catch(() => {});
      await boot.wal.close().catch(() => {});
      throw err;
    }
  }

  /**
   * The run pipeline: every input of the member is a stream, merged and run until stop.
   * ticks -> node.tick; ready -> the raft loop; applies -> FIFO apply; lease expiries -> revoke
   * proposals (leader only); sync timers -> housekeeping; errors -> stop.
   */
  private run(): void {
    const stop$ = this.stop$;
    const ticks$ = ticks(this.cfg.tickMs).pipe(tap(() => this.raft.tick()));
    const peerMsgs$ = this.transport.received$.pipe(tap((m) => this.stepPeerMessage(m)));
    const removed$ = this.transport.removed$.pipe(
      tap((why) => this.errors$.next(new MemberRemovedError(why))),
    );
    const ready$ = this.raft.kicks$.pipe(batchWhileBusy(() => this.track(this.raft.drain())));
    const applies$ = this.raft.applies$.pipe(inOrder((batch) => this.track(this.applyAll(batch))));
    const leadership$ = this.raft.leadership$.pipe(
      map((l) => l.isLeader),
      distinctUntilChanged(),
      tap((isLeader) => this.onLeadership(isLeader)),
    );
    const hasLeader$ = this.raft.leadership$.pipe(
      map((l) => l.lead),
      distinctUntilChanged(),
      tap((lead) => {
        this.serverMetrics.hasLeader.set(lead === 0n ? 0 : 1);
        if (lead !== 0n && this.awaitingLeader.length > 0) {
          const waiting = this.awaitingLeader;
          this.awaitingLeader = [];
          for (const propose of waiting) propose();
        }
        if (lead !== 0n) {
          this.leadElectedAt = this.now();
          this.serverMetrics.leaderChanges.inc();
          this.log.info({ leader: formatId(lead), term: this.raft.leadership$.value.term }, "leader elected");
        }
      }),
    );
    // proposals lost with a previous leader are made again (see UnansweredProposals)
    const lostProposals$ = this.firstCommitInTerm$.pipe(
      mergeMap((term) => timer(this.cfg.electionTicks * this.cfg.tickMs).pipe(map(() => term))),
      tap((term) => {
        const now = this.raft.leadership$.value;
        if (now.lead === 0n) return; // no leader now: they wait for the next one's first entry
        const n = this.unanswered.reproposeFromTermsBefore(term, now.term);
        if (n > 0)
          this.log.info({ term, proposals: n }, "proposed again what was lost with the previous leader");
      }),
    );
    const leaseExpiries$ = interval(LEASE_EXPIRY_CHECK_MS).pipe(
      filter(() => this.raft.leadership$.value.isLeader),
      mergeMap(() => this.lessor.expired(LEASE_REVOKES_PER_CHECK)),
      mergeMap((id) => this.revokeExpired(id), MAX_PENDING_REVOKES),
    );
    const syncTimers$ = merge(
      interval(5_000).pipe(tap(() => this.refreshSizeMetrics())),
      this.autoCompaction$(),
      this.corruptionCheck$(),
      clusterVersion$({
        core: this,
        firstCommitInTerm$: this.firstCommitInTerm$,
        proposeV2: (id, data) => this.proposeAndWait(new DataProposal(this.pendingHost, id, this.raft, data)),
        peerTimeoutMs: requestTimeoutMs(this.cfg),
      }),
      this.leaseCheckpoints$(),
    );
    const errors$ = this.errors$.pipe(
      tap((err) => {
        this.log.error({ err, "data-dir": this.cfg.paths.walDir }, "fatal error, stopping the member");
        void this.stop(err);
      }),
    );
    const all$: Observable<unknown> = merge(
      ticks$,
      peerMsgs$,
      removed$,
      ready$,
      applies$,
      leadership$,
      hasLeader$,
      leaseExpiries$,
      lostProposals$,
      syncTimers$,
      errors$,
    ).pipe(takeUntil(stop$), share());
    this.subscription = all$.subscribe({
      error: (err: unknown) => {
        this.log.error({ err }, "run pipeline failed");
        void this.stop(err instanceof Error ? err : new Error(String(err)));
      },
    });
    // a Ready may be waiting already (a new cluster's bootstrap entries are committed at boot, a
    // restart may hold committed entries not applied yet): take it now, not at the first tick
    this.raft.kick();
  }

  /**
   * Work that touches storage (a Ready loop, an apply) not finished yet; stop waits for it before
   * closing LMDB. A count, not a set of the promises: one of each runs per put with one client.
   */
  private inflight = 0;
  /** Ends stop's wait for the tracked work. */
  private inflightDone: (() => void) | undefined;
  private readonly untrack = (): void => {
    if (--this.inflight === 0) this.inflightDone?.();
  };

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight++;
    p.then(this.untrack, this.untrack);
    return p;
  }

  /** The leader's periodic corruption check, when --experimental-corrupt-check-time is set. */
  private corruptionCheck$(): Observable<unknown> {
    const intervalMs = this.cfg.corruptCheckIntervalMs ?? 0;
    if (intervalMs <= 0) return EMPTY;
    return periodicCorruptionCheck$({
      core: this,
      intervalMs,
      waitReadable: () => this.reads.waitReadable(),
      raiseCorrupt: async () => {
        await this.propose({ alarm: corruptAlarm });
      },
    });
  }

  /** Leader-only lease checkpoints (remaining TTLs through raft), when enabled. */
  private leaseCheckpoints$(): Observable<unknown> {
    const cp = this.cfg.leaseCheckpoint;
    if (!cp) return EMPTY;
    return interval(cp.intervalMs).pipe(
      filter(() => this.raft.leadership$.value.isLeader),
      mergeMap(async () => {
        const batch = this.lessor.checkpoints(LEASE_CHECKPOINTS_PER_BATCH);
        if (batch.length === 0) return;
        try {
          await this.propose({
            leaseCheckpoint: { checkpoints: batch.map((c) => ({ ID: c.id, remainingTTL: c.remainingTtl })) },
          });
        } catch (err) {
          this.log.warn({ err, leases: batch.length }, "failed to checkpoint leases");
        }
      }, 1),
    );
  }

  /** Leader-only auto-compaction on etcd 3.4's schedule; empty when it is off. */
  private autoCompaction$(): Observable<unknown> {
    const policy = this.cfg.autoCompaction;
    if (!policy) return EMPTY;
    const compactor = new Compactor(policy, this.now());
    this.log.info(
      {
        mode: policy.mode,
        retention: policy.mode === "revision" ? policy.revisions : `${policy.retentionMs}ms`,
      },
      "auto-compaction enabled",
    );
    return interval(compactor.checkIntervalMs).pipe(
      filter(() => this.raft.leadership$.value.isLeader),
      mergeMap(async () => {
        const rev = compactor.decide(this.now(), this.store.currentRev());
        if (rev === undefined) return;
        try {
          await this.api.compact({ revision: rev, physical: false });
          this.log.info({ revision: rev, mode: policy.mode }, "completed auto revision compaction");
        } catch (err) {
          if (!(isClientVisibleError(err) && err.grpcMessage === Errors.Compacted.message)) {
            this.log.warn({ err, revision: rev }, "failed auto compaction");
            return;
          }
        }
        compactor.compacted(rev, this.now());
      }, 1),
    );
  }

  // ---- peers ---------------------------------------------------------------------------------

  /**
   * etcd's adjustTicks for a member of a multi-member cluster: once peers report connected (checked
   * every 50 ms for up to 5 s), the election clock is moved to two ticks before its timeout, so a
   * cluster without a leader elects one sooner than a full election timeout after start-up.
   */
  private async advanceTicksWhenPeersUp(): Promise<void> {
    for (let waited = 0; waited < 5000 && !this.stopping; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
      if (this.transport.activePeers() > 1) {
        for (let i = 0; i < this.cfg.electionTicks - 2; i++) this.raft.node.tick();
        this.raft.kick();
        this.log.info(
          { ticks: this.cfg.electionTicks - 2 },
          "advanced the election clock: peers are connected",
        );
        return;
      }
    }
  }

  /**
   * Raft's outgoing messages: nothing goes to removed members, and a MsgSnap becomes a merged
   * snapshot (raft's snapshot metadata with this member's applied state and backend), as etcd sends it.
   */
  sendMessages(msgs: Message[]): void {
    const out: Message[] = [];
    for (const m of msgs) {
      if (this.cluster.isRemoved(m.to)) continue;
      if (m.type === MessageType.MsgSnap) this.queueMergedSnapshot(m);
      else out.push(m);
    }
    if (out.length > 0) this.transport.send(out);
  }

  /** A message from a peer: stepped into raft unless it comes from a removed member. */
  private stepPeerMessage(m: Message): void {
    if (this.cluster.isRemoved(m.from)) return;
    try {
      this.raft.step(m);
    } catch (err) {
      this.log.debug(
        { err, type: MessageType[m.type], from: formatId(m.from) },
        "raft refused a peer message",
      );
    }
  }

  /** Merged snapshots being sent (etcd's maxInFlightMsgSnap). */
  private readonly snapshotsInFlight = new Set<bigint>();

  private queueMergedSnapshot(m: Message): void {
    if (this.snapshotsInFlight.size >= MAX_SNAPSHOTS_IN_FLIGHT || this.snapshotsInFlight.has(m.to)) {
      this.raft.node.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
      return;
    }
    this.snapshotsInFlight.add(m.to);
    void this.track(
      sendMergedSnapshot(
        { core: this, transport: this.transport, exportBackend: () => exportBbolt(this.store.backend) },
        m,
      )
        .catch((err: unknown) => {
          this.log.warn({ err, to: formatId(m.to) }, "failed to send a merged snapshot");
          this.raft.node.reportSnapshot(m.to, SnapshotStatus.SnapshotFailure);
          this.raft.kick();
        })
        .finally(() => this.snapshotsInFlight.delete(m.to)),
    );
  }

  /** Dbs received with snapshot messages, by snapshot index, until the snapshot is applied. */
  private readonly receivedDbs = new Map<number, string>();

  /** A merged snapshot arrived on the peer port: its db is saved; raft decides whether to take it. */
  async stepSnapshot(msg: Message, dbFile: string): Promise<void> {
    const index = msg.snapshot?.metadata?.index ?? 0;
    this.receivedDbs.set(index, dbFile);
    this.stepPeerMessage(msg);
  }

  /**
   * A snapshot from the leader, as etcd applies one: the backend becomes the db that came with it,
   * membership comes from its data, auth, leases and alarms are read again, and the transport follows the
   * new members. Entries after the snapshot index are then applied as usual.
   */
  private async applySnapshot(snap: Snapshot): Promise<void> {
    const index = snap.metadata?.index ?? 0;
    const dbFile =
      this.receivedDbs.get(index) ??
      join(dirname(this.cfg.paths.backendFile), `${index.toString(16).padStart(16, "0")}.snap.db`);
    if (!existsSync(dbFile))
      throw new Error(
        `database snapshot file for index ${index} is missing (${dbFile}): the member cannot apply the snapshot`,
      );
    const started = performance.now();
    const consistentIndex = await this.store.restoreFromBbolt(dbFile);
    if (consistentIndex !== index)
      this.log.warn(
        { "snapshot-index": index, "consistent-index": consistentIndex },
        "snapshot db does not describe its index",
      );
    this.store.setConsistentIndex(index);
    rmSync(dbFile, { force: true });
    this.receivedDbs.delete(index);
    this.cluster.restore(snap.data);
    const records = new ServerRecords(this.store);
    // users, roles, permissions, the enabled flag and the auth revision came with the db
    this.auth.recover(records);
    this.lessor.restore(records.list("lease").map(([, value]) => decodeLeaseRecord(value)));
    for (const { lease, key } of this.store.leasedKeys()) this.lessor.attach(lease, key);
    this.applier.reloadAlarms();
    this.transport.removeAllPeers();
    for (const m of this.cluster.list()) if (m.id !== this.memberId) this.transport.addPeer(m.id, m.peerUrls);
    this.raft.confState = snap.metadata?.confState ?? this.raft.confState;
    this.appliedIndex.trigger(index);
    this.delivered.trigger(index);
    this.log.info(
      {
        "snapshot-index": index,
        revision: this.store.currentRev(),
        took: `${(performance.now() - started).toFixed(1)}ms`,
      },
      "applied snapshot from the leader",
    );
  }

  /** MemberPromote arriving on the peer port (forwarded by a member that is not the leader). */
  promoteMember(id: bigint): Promise<MemberJson[]> {
    return this.clusterOps.promote(id);
  }

  /** The transport follows the membership; a member that applies its own removal stops. */
  private onMembershipChange(change: MembershipChange): void {
    const self = change.id === this.memberId;
    switch (change.kind) {
      case "add":
        if (!self && change.member) this.transport.addPeer(change.id, change.member.peerUrls);
        break;
      case "update":
        if (!self && change.member) this.transport.updatePeer(change.id, change.member.peerUrls);
        break;
      case "remove":
        if (self) {
          // as etcd: stop a moment later, so the entry's answer and the peers' acknowledgements go out
          setTimeout(() => this.errors$.next(new MemberRemovedError()), 1000).unref();
        } else this.transport.removePeer(change.id);
        break;
      default:
        break;
    }
    this.membership$.next(change);
  }

  private onLeadership(isLeader: boolean): void {
    this.serverMetrics.isLeader.set(isLeader ? 1 : 0);
    if (isLeader) this.lessor.promote(this.cfg.electionTicks * this.cfg.tickMs);
    else this.lessor.demote();
  }

  private async revokeExpired(id: bigint): Promise<void> {
    try {
      await this.api.leaseRevoke({ ID: id }, internalRootContext);
      this.log.info({ "lease-id": formatId(id) }, "revoked expired lease");
    } catch (err) {
      if (!(err instanceof EtcdError && err.message === Errors.LeaseNotFound.message)) {
        this.log.warn({ err, "lease-id": formatId(id) }, "failed to revoke expired lease");
      }
    }
  }

  /** Applies and defragmentation take turns: the backend refuses writes while it is rebuilt. */
  private backendTurn: Promise<unknown> = Promise.resolve();

  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.backendTurn.then(work, work);
    this.backendTurn = run.catch(() => {});
    return run;
  }

  private applyAll(batch: ApplyBatch): Promise<void> {
    return this.exclusive(() => this.applyBatch(batch));
  }

  private async applyBatch(batch: ApplyBatch): Promise<void> {
    // entries only this Ready writes are applied once it is durable: what an apply shows a client survives
    if (!batch.durable) await batch.persisted;
    try {
      const snapIndex = batch.snapshot?.metadata?.index ?? 0;
      if (batch.snapshot && snapIndex > this.appliedIndex.index) await this.applySnapshot(batch.snapshot);
      // decoded, with any password hashed, before the batch's transaction opens
      const ready = this.applier.prepare(batch.entries);
      const prepared = ready instanceof Promise ? await ready : ready;
      let last = this.appliedIndex.index;
      const started = performance.now();
      // one staged backend batch (one LMDB transaction, committed off the main thread); waiters hear
      // their results once it is applied, as etcd's do before its backend commits
      const results = this.store.batch(() => {
        // a literal, not map(): an empty batch's results keep the map of the others' (see prepare)
        const out: ApplyResult[] = [];
        for (const p of prepared) out.push(this.applier.apply(p));
        return out;
      });
      for (const result of results) if (result.id !== undefined) this.wait.trigger(result.id, result);
      const entries = batch.entries;
      if (entries.length > 0) last = entries[entries.length - 1].index;
      // applied: raft's in-memory log needs the entries' objects no more and keeps them packed
      this.raft.storage.packTo(last);
      const term = this.raft.leadership$.value.term;
      if (hasLeaderEntry(entries, term)) this.firstCommitInTerm$.next(term);
      const took = performance.now() - started;
      const warnMs = this.cfg.warningApplyMs ?? 100;
      if (took > warnMs * Math.max(1, batch.entries.length)) {
        this.serverMetrics.slowApplies.inc();
        this.log.warn(
          { took: `${took.toFixed(1)}ms`, expected: `${warnMs}ms`, entries: batch.entries.length },
          "apply request took too long",
        );
      }
      this.appliedIndex.trigger(last);
      if (entries.length > 0) this.delivered.trigger(entries[entries.length - 1].index);
      this.applied$.next({ index: last, entries, durationMs: took });
      // a snapshot of the state needs raft's log to hold what was applied (the Ready may still be written)
      await batch.persisted;
      if (this.snapshotter.isDue(last, this.cfg.snapshotCount, this.raft)) await this.snapshot(last);
    } catch (err) {
      this.errors$.next(err instanceof Error ? err : new Error(String(err)));
    } finally {
      batch.applied();
    }
  }

  private readonly snapshotter = new Snapshotter();

  private async snapshot(applied: number): Promise<void> {
    await this.snapshotter.maybeSnapshot({
      applied,
      snapshotCount: this.cfg.snapshotCount,
      catchUpEntries: this.cfg.snapshotCatchUpEntries,
      maxSnapshots: this.cfg.maxSnapshots,
      raft: this.raft,
      wal: this.wal,
      store: this.store,
      log: this.log,
      data: () => this.cluster.toSnapshotData(),
    });
  }

  private refreshSizeMetrics(): void {
    try {
      this.serverMetrics.dbSize.set(this.store.backend.size());
      this.serverMetrics.dbSizeInUse.set(this.store.backend.sizeInUse());
    } catch {
      // closing
    }
  }

  // ---- proposals -----------------------------------------------------------------------------

  /**
   * Proposes a request through raft and waits for its apply result (etcd's processInternalRaftRequest),
   * until the request timeout or the client's deadline, whichever passes first.
   */
  propose(req: Partial<InternalRaftRequest>, deadline?: ClientDeadline): Promise<ApplyResult> {
    // (not async: every write comes this way, and the promise of the wait is the answer itself)
    if (this.stopping) return Promise.reject(Errors.Stopped);
    // etcd refuses new work while applies lag commits by more than maxGapBetweenApplyAndCommitIndex
    if (this.raft.node.committedIndex > this.appliedIndex.index + MAX_APPLY_GAP)
      return Promise.reject(Errors.ApplyLagTooManyRequests);
    const id = this.idGen.next();
    // the user and auth revision the request speaks for, checked when it is applied
    const header = {
      ID: id,
      username: req.header?.username ?? "",
      authRevision: req.header?.authRevision ?? 0,
    };
    let proposal: Proposal;
    try {
      proposal = encodeProposal(req, header);
    } catch (err) {
      return Promise.reject(err);
    }
    const { data, decoded } = proposal;
    if (data.length > this.cfg.maxRequestBytes) return Promise.reject(Errors.RequestTooLarge);
    if (decoded !== undefined) this.proposed.remember(data, decoded);
    return this.proposeAndWait(new DataProposal(this.pendingHost, id, this.raft, data), deadline);
  }

  /** Proposes a membership change and waits for every member's verdict on it (etcd's configure). */
  async configure(cc: ConfChange, deadline?: ClientDeadline): Promise<void> {
    if (this.stopping) throw Errors.Stopped;
    await this.proposeAndWait(
      new ProposalOf(this.pendingHost, cc.id, () => {
        this.raft.node.proposeConfChange(cc);
        this.raft.kick();
      }),
      deadline,
    );
  }

  /** When this member last learned of a new leader (ms on `now`'s clock; etcd's leadElectedTime). */
  private leadElectedAt = 0;

  /**
   * The error of a proposal raft took that was not applied within the request timeout, by etcd's
   * parseProposeCtxErr: made within two election timeouts before a leader was elected, the previous
   * leader's failure; else a connection lost since it was made (to a quorum when leading, to the
   * leader when following); else the plain timeout (also while no leader is known).
   */
  private proposalTimeout(start: number): unknown {
    const electedAt = this.leadElectedAt;
    const previousLost = electedAt - 2 * this.cfg.electionTicks * this.cfg.tickMs;
    if (start > previousLost && start < electedAt) return Errors.TimeoutDueToLeaderFail;
    const lead = this.raft.lead;
    const connectedSince = (id: bigint) => {
      const since = this.transport.activeSince(id);
      return since !== undefined && since !== 0 && since < start;
    };
    if (lead === this.memberId) {
      const members = this.cluster.list();
      const connected = members.filter((m) => m.id === this.memberId || connectedSince(m.id)).length;
      if (connected < Math.floor(members.length / 2) + 1) return Errors.TimeoutDueToConnectionLost;
    } else if (lead !== 0n && !connectedSince(lead)) return Errors.TimeoutDueToConnectionLost;
    return Errors.Timeout;
  }

  private readonly unanswered = new UnansweredProposals();
  /** Proposals made while no leader was known, proposed once one is. */
  private awaitingLeader: Array<() => void> = [];
  /** The ids of the proposals in awaitingLeader (what their timeout fails them with). */
  private readonly leaderless = new Set<bigint>();

  /**
   * The error of a wait for a proposal whose time is up (the request timeout's or the client's
   * deadline, made at `start`): one no leader took yet fails as etcd's raft node gives up waiting for
   * one (the context's error), one raft took as parseProposeCtxErr says.
   */
  private waitExpired(id: bigint, start: number): unknown {
    if (this.leaderless.delete(id)) return Errors.ProposalDeadlineExceeded;
    return this.proposalTimeout(start);
  }

  /** What this member's pending proposals need of it: failing their waits. */
  private readonly pendingHost: ProposalHost = { fail: (id, err) => this.wait.fail(id, err) };

  /**
   * Makes a proposal registered under its id and waits for its apply result, failing after the request
   * timeout or when the client's deadline passes.
   */
  private proposeAndWait(pending: PendingProposal, deadline?: ClientDeadline): Promise<ApplyResult> {
    const id = pending.id;
    let result: Promise<ApplyResult>;
    try {
      result = this.wait.register(id);
    } catch (err) {
      return Promise.reject(err);
    }
    if (deadline !== undefined) {
      const start = this.now();
      deadline.onExpiry(() => this.wait.fail(id, this.waitExpired(id, start)));
    }
    try {
      pending.term = this.raft.leadership$.value.term;
      this.unanswered.add(id, pending);
      if (this.raft.hasLeader) pending.attempt();
      else {
        // as etcd's raft node: with no leader a proposal waits for one (until the request timeout) instead
        // of failing, so an election costs clients time, not errors
        this.leaderless.add(id);
        this.awaitingLeader.push(() => {
          this.leaderless.delete(id);
          if (!this.wait.isRegistered(id)) return; // timed out meanwhile: its client has its answer
          this.unanswered.retag(id, this.raft.leadership$.value.term);
          pending.attempt();
        });
      }
    } catch (err) {
      this.wait.fail(id, err);
    }
    // the registry fails the wait once the request timeout is over (Errors.Timeout, or
    // TimeoutDueToLeaderFail without a leader then, or ProposalDeadlineExceeded while it still waits
    // for one), and a result carrying an error with that error;
    // it forgets the proposal as it settles (see the constructor)
    return result;
  }

  alarms(): AlarmMember[] {
    return this.applier.alarms();
  }

  header(revision = this.store.currentRev()): ResponseHeader {
    return {
      clusterId: this.clusterId,
      memberId: this.memberId,
      revision,
      raftTerm: this.raft.leadership$.value.term,
    };
  }

  // ---- cluster and maintenance ---------------------------------------------------------------

  clusterMembers(): Member[] {
    return this.cluster.list();
  }

  /** Resolves once every entry committed before the restart is applied again (membership included). */
  waitReplayed(): Promise<void> {
    return this.delivered.wait(this.bootCommit);
  }

  private published: Promise<void> | undefined;

  /**
   * Resolves once this member has published its name and client URLs through raft (etcd's
   * ReadyNotify): a leader is known and everything committed before it is applied.
   */
  waitReady(): Promise<void> {
    if (!this.published) this.published = this.publish();
    return this.published;
  }

  /** etcd 3.4's publish: a v2 PUT of /0/members/<id>/attributes, retried until it is applied. */
  private async publish(): Promise<void> {
    for (;;) {
      if (this.stopping) throw Errors.Stopped;
      await firstValueFrom(this.raft.leadership$.pipe(filter((l) => l.lead !== 0n)));
      try {
        // a bare v2 request, as etcd 3.4 proposes it (etcd members apply it alike)
        const id = this.idGen.next();
        const data = encodeV2Request(publishRequest(id, this.memberId, this.cfg.name, this.cfg.clientUrls));
        await this.proposeAndWait(new DataProposal(this.pendingHost, id, this.raft, data));
        this.log.info(
          { "local-member-id": formatId(this.memberId), "client-urls": this.cfg.clientUrls },
          "published local member to cluster through raft",
        );
        return;
      } catch (err) {
        if (this.stopping) throw err;
        this.log.warn({ err }, "failed to publish local member to cluster through raft");
      }
    }
  }

  get metrics(): Registry {
    return this.serverMetrics.registry;
  }

  // ---- stop ------------------------------------------------------------------------------------

  /** Stops the member: pending applies drain, waiters fail with "server stopped", storage closes cleanly. */
  stop(cause?: Error): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(cause);
    return this.stopping;
  }

  private async doStop(cause?: Error): Promise<void> {
    this.stop$.next();
    this.stop$.complete();
    this.subscription?.unsubscribe();
    this.reads.close();
    await this.transport?.close().catch(() => {});
    // the Ready being handled and the batch being applied finish before storage closes
    // (bounded: a Ready waiting for a conf change whose apply was dropped must not hold the stop)
    const deadline = Date.now() + 10_000;
    while (this.inflight > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.inflightDone = resolve;
        setTimeout(resolve, 100);
      });
    }
    this.inflightDone = undefined;
    this.awaitingLeader = [];
    this.wait.failAll(Errors.Stopped);
    this.watchable.close?.();
    this.auth.close();
    try {
      await this.store.close();
    } finally {
      await this.wal.close();
    }
    this.log.info({ "local-member-id": formatId(this.memberId) }, "stopped server");
    this.stopped$.next(cause);
    this.stopped$.complete();
  }
}
export type { ServerConfig } from "./server-config.js";

/** Whether `entries` hold the empty entry a leader of `term` appends first (its first commit once applied). */
function hasLeaderEntry(entries: readonly Entry[], term: number): boolean {
  for (const e of entries)
    if (e.term === term && e.type === EntryType.EntryNormal && e.data.length === 0) return true;
  return false;
}
