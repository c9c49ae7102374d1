// Turns a member's public streams into feed events: reliable ones as they happen, state and
// high-rate ones (raft state, Ready batches, apply samples, members, peers, metrics) once per window.
import { Subject, type Subscription } from "rxjs";
import { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import { AlarmRequest_AlarmAction, AlarmType } from "../gen/etcdserverpb/rpc.js";
import { type Event, Event_EventType } from "../gen/mvccpb/kv.js";
import { type Entry, EntryType } from "../gen/raftpb/raft.js";
import type { MembershipChange } from "../membership/cluster.js";
import { formatId } from "../membership/ids.js";
import { StateType } from "../raft/state.js";
import { ProgressState } from "../raft/tracker/state.js";
import type { EtcdServer } from "../server/etcd-server.js";
import { KvChange } from "./kv-change.js";
import type { AlarmInfo, EventOf, FeedEvent, MemberInfo, PeerProgress, RaftRole } from "./protocol.js";
import { requestKind } from "./request-kind.js";

/** What the observer emits as it happens: a reliable event, or one coalesced with older ones of the same key. */
export type Published =
  | { readonly kind: "event"; readonly event: FeedEvent; readonly coalesce?: string }
  | { readonly kind: "kv"; readonly change: KvChange };

/** Per-peer connectivity (the peer transport knows it). */
export type PeerHealth = (id: bigint) => { connected: boolean; rttMs: number | null } | undefined;

/** A peer is connected while the transport has a working stream or pipeline to it; RTT from its prober. */
export function transportPeerHealth(server: EtcdServer): PeerHealth {
  return (id) => {
    const transport = server.transport;
    if (!transport) return undefined;
    const connected = transport.activeSince(id) !== undefined;
    // the prober's figure outlives the connection: an unreachable peer has no round trip
    const rtt = connected ? transport.roundTripMs(id) : undefined;
    return { connected, rttMs: rtt === undefined ? null : round2(rtt) };
  };
}

const ROLES: Record<StateType, RaftRole> = {
  [StateType.StateFollower]: "follower",
  [StateType.StateCandidate]: "candidate",
  [StateType.StateLeader]: "leader",
  [StateType.StatePreCandidate]: "pre-candidate",
};

const PROGRESS: Record<ProgressState, PeerProgress["state"]> = {
  [ProgressState.StateProbe]: "probe",
  [ProgressState.StateReplicate]: "replicate",
  [ProgressState.StateSnapshot]: "snapshot",
};

/** What a window of Ready batches summed to. */
interface ReadyWindow {
  batches: number;
  entries: number;
  committedEntries: number;
  messages: number;
  snapshots: number;
  persistMsTotal: number;
  persistMsMax: number;
  term: number;
  commit: number;
}

/** Counters over one metrics window. */
interface MetricsWindow {
  startedAt: number;
  puts: number;
  deletes: number;
  applies: number;
  applyBatches: number;
  applyMsTotal: number;
  applyMsMax: number;
}

export interface MemberObserverOptions {
  /** Apply batches slower than this per entry are reported (etcd's --experimental-warning-apply-duration). */
  warningApplyMs: number;
  /** Connectivity of each peer; the member's transport by default. */
  peerHealth?: PeerHealth;
  now?: () => number;
}

export class MemberObserver {
  readonly published$ = new Subject<Published>();
  private readonly member: string;
  private readonly now: () => number;
  private readonly subscriptions: Subscription[] = [];
  private ready: ReadyWindow | undefined;
  private applySample:
    | {
        entry: Entry;
        durationMs: number;
        batchEntries: number;
        skipped: number;
        firstIndex: number;
        batches: number;
        durationMsTotal: number;
        durationMsMax: number;
        kinds: Record<string, number>;
      }
    | undefined;
  private metricsWindow: MetricsWindow;
  private lastRaftState = "";
  private lastLeadership = "";
  private readonly peerHealth: PeerHealth;
  private lastMembers = "";
  private lastSnapshotIndex: number;
  private alarmList: AlarmInfo[] = [];
  private walBuckets: number[] | undefined;
  private readsTotal: number | undefined;
  private latestMetrics: EventOf<"metrics"> | undefined;
  /** A key's previous versions, for subscriptions that ask for them. */
  private readonly versionAt = (key: Buffer, revision: number) => this.server.store.get(key, revision);
  /** Clients connected to the feed (set by the feed); with none, key-value changes are only counted. */
  feedClients = 0;

  constructor(
    private readonly server: EtcdServer,
    private readonly options: MemberObserverOptions,
  ) {
    this.member = formatId(server.memberId);
    this.now = options.now ?? Date.now;
    this.peerHealth = options.peerHealth ?? transportPeerHealth(server);
    this.metricsWindow = this.freshMetricsWindow();
    this.lastSnapshotIndex = server.raft.storage.snapshot().metadata?.index ?? 0;
  }

  /** Starts listening, with the alarms in force as the starting state. */
  async start(): Promise<void> {
    this.alarmList = this.server.alarms().map((a) => ({
      memberId: formatId(a.memberID),
      alarm: AlarmType[a.alarm] ?? String(a.alarm),
    }));
    const s = this.server;
    this.subscriptions.push(
      s.events$.subscribe(({ revision, events }) => this.onKvEvents(revision, events)),
      s.applied$.subscribe((batch) => this.onApplied(batch)),
      s.raft.readyBatches$.subscribe((r) => this.onReady(r)),
      s.membership$.subscribe((c) => this.onMembershipChange(c)),
      s.lessor.changes$.subscribe((c) => {
        const lease = this.base("lease");
        this.publish(
          { ...lease, action: c.action, id: formatId(c.id), ttl: c.ttl, remainingTtl: c.remainingTtl },
          c.action === "keepalive" ? `lease.keepalive:${c.id}` : undefined,
        );
      }),
    );
    let previous = s.raft.leadership$.value.lead;
    this.subscriptions.push(
      s.raft.leadership$.subscribe((l) => {
        if (l.lead === previous) return;
        this.publish({
          ...this.base("raft.leader"),
          leader: formatId(l.lead),
          previous: formatId(previous),
          term: l.term,
        });
        previous = l.lead;
      }),
    );
  }

  stop(): void {
    for (const sub of this.subscriptions.splice(0)) sub.unsubscribe();
    this.published$.complete();
  }

  private base<T extends FeedEvent["type"]>(type: T): { type: T; at: number; member: string } {
    return { type, at: this.now(), member: this.member };
  }

  private publish(event: FeedEvent, coalesce?: string): void {
    this.published$.next(
      coalesce === undefined ? { kind: "event", event } : { kind: "event", event, coalesce },
    );
  }

  // ---- reliable events ------------------------------------------------------------------------

  private onKvEvents(revision: number, events: Event[]): void {
    for (const e of events) {
      if (e.type === Event_EventType.PUT) this.metricsWindow.puts++;
      else this.metricsWindow.deletes++;
    }
    // nobody connected, nobody subscribed: the feed would drop each change it is offered
    if (!this.published$.observed || this.feedClients === 0) return;
    const at = this.now();
    const versionAt = this.versionAt;
    for (const e of events) {
      const kv = e.kv;
      if (!kv) continue;
      const kind = e.type === Event_EventType.PUT ? "put" : "delete";
      this.published$.next({
        kind: "kv",
        change: new KvChange(revision, kind, kv, at, this.member, versionAt),
      });
    }
  }

  private onApplied(batch: { index: number; entries: Entry[]; durationMs: number }): void {
    const w = this.metricsWindow;
    w.applies += batch.entries.length;
    w.applyBatches++;
    w.applyMsTotal += batch.durationMs;
    w.applyMsMax = Math.max(w.applyMsMax, batch.durationMs);
    if (batch.entries.length === 0) return;
    const last = batch.entries[batch.entries.length - 1];
    const before = this.applySample;
    const skipped = (before ? before.skipped + 1 : 0) + batch.entries.length - 1;
    const kinds = before?.kinds ?? {};
    this.applySample = {
      entry: last,
      durationMs: batch.durationMs,
      batchEntries: batch.entries.length,
      skipped,
      firstIndex: before?.firstIndex ?? batch.entries[0].index,
      batches: (before?.batches ?? 0) + 1,
      durationMsTotal: (before?.durationMsTotal ?? 0) + batch.durationMs,
      durationMsMax: Math.max(before?.durationMsMax ?? 0, batch.durationMs),
      kinds,
    };
    const expectedMs = this.options.warningApplyMs;
    if (batch.durationMs > expectedMs * batch.entries.length) {
      this.publish({
        ...this.base("apply.slow"),
        index: batch.index,
        entries: batch.entries.length,
        durationMs: batch.durationMs,
        expectedMs,
      });
    }
    for (const entry of batch.entries) {
      const kind = this.inspect(entry);
      kinds[kind] = (kinds[kind] ?? 0) + 1;
    }
  }

  /** An applied membership change (a refused one never reaches here); the members list follows in the window. */
  private onMembershipChange(c: MembershipChange): void {
    const action = c.kind === "add" && c.member?.isLearner ? "add-learner" : c.kind;
    this.publish({
      ...this.base("member.change"),
      action,
      id: formatId(c.id),
      name: c.member?.name ?? "",
      peerUrls: c.member ? [...c.member.peerUrls] : [],
      isLearner: c.member?.isLearner ?? false,
      // the apply wrote the entry's index with the change before telling us
      index: this.server.store.consistentIndex(),
    });
    this.lastMembers = "";
  }

  /** Compaction and alarm entries become events of their own (they are rare). Returns the entry's kind. */
  private inspect(entry: Entry): string {
    if (entry.type !== EntryType.EntryNormal) return "confChange";
    const kind = requestKind(entry.data);
    if (kind === "v2") this.lastMembers = "";
    if (kind !== "compaction" && kind !== "alarm") return kind;
    const req = InternalRaftRequest.decode(entry.data);
    if (req.compaction) {
      this.publish({
        ...this.base("compaction"),
        revision: req.compaction.revision,
        physical: req.compaction.physical,
        index: entry.index,
      });
    } else if (req.alarm && req.alarm.action !== AlarmRequest_AlarmAction.GET) {
      const memberId = formatId(req.alarm.memberID);
      const alarm = AlarmType[req.alarm.alarm] ?? String(req.alarm.alarm);
      const activate = req.alarm.action === AlarmRequest_AlarmAction.ACTIVATE;
      this.alarmList = this.alarmList.filter((a) => !(a.memberId === memberId && a.alarm === alarm));
      if (activate) this.alarmList.push({ memberId, alarm });
      this.publish({ ...this.base("alarm"), action: activate ? "activate" : "deactivate", memberId, alarm });
    }
    return kind;
  }

  private onReady(r: {
    term: number;
    commit: number;
    entries: number;
    committedEntries: number;
    messages: number;
    snapshotIndex: number | undefined;
    persistMs: number;
  }): void {
    const w = (this.ready ??= {
      batches: 0,
      entries: 0,
      committedEntries: 0,
      messages: 0,
      snapshots: 0,
      persistMsTotal: 0,
      persistMsMax: 0,
      term: 0,
      commit: 0,
    });
    w.batches++;
    w.entries += r.entries;
    w.committedEntries += r.committedEntries;
    w.messages += r.messages;
    if (r.snapshotIndex !== undefined) w.snapshots++;
    w.persistMsTotal += r.persistMs;
    w.persistMsMax = Math.max(w.persistMsMax, r.persistMs);
    w.term = r.term;
    w.commit = r.commit;
  }

  // ---- per-window events ------------------------------------------------------------------------

  /** The state and high-rate events of the window that just ended (each at most once per window). */
  windowEvents(windowMs: number): Array<{ event: FeedEvent; coalesce?: string }> {
    const out: Array<{ event: FeedEvent; coalesce?: string }> = [];
    const raft = this.raftState();
    const raftKey = `${raft.role}/${raft.term}/${raft.leader}/${raft.commitIndex}/${raft.appliedIndex}`;
    if (raftKey !== this.lastRaftState) {
      this.lastRaftState = raftKey;
      out.push({ event: raft, coalesce: "raft.state" });
      // a new leader (or none) changes who reports follower progress: send it now, not at the next sample
      const leadership = `${raft.role}/${raft.leader}`;
      if (leadership !== this.lastLeadership) {
        this.lastLeadership = leadership;
        out.push({ event: this.peers(), coalesce: "peers" });
      }
    }
    if (this.ready) {
      out.push({ event: { ...this.base("raft.ready"), windowMs, ...this.ready } });
      this.ready = undefined;
    }
    if (this.applySample) {
      const {
        entry,
        durationMs,
        batchEntries,
        skipped,
        firstIndex,
        batches,
        durationMsTotal,
        durationMsMax,
        kinds,
      } = this.applySample;
      out.push({
        event: {
          ...this.base("apply"),
          index: entry.index,
          term: entry.term,
          kind: entry.type === EntryType.EntryNormal ? requestKind(entry.data) : "confChange",
          revision: this.server.store.currentRev(),
          durationMs,
          batchEntries,
          skipped,
          firstIndex,
          entries: skipped + 1,
          batches,
          durationMsMax: round2(durationMsMax),
          durationMsMean: round2(durationMsTotal / batches),
          kinds,
        },
      });
      this.applySample = undefined;
    }
    const snap = this.server.raft.storage.snapshot().metadata;
    if (snap && snap.index !== this.lastSnapshotIndex) {
      this.lastSnapshotIndex = snap.index;
      out.push({ event: { ...this.base("snapshot"), index: snap.index, term: snap.term } });
    }
    const members = this.members();
    const membersKey = JSON.stringify(members.members);
    if (membersKey !== this.lastMembers) {
      this.lastMembers = membersKey;
      out.push({ event: members, coalesce: "members" });
    }
    return out;
  }

  raftState(): EventOf<"raft.state"> {
    const st = this.server.raft.node.basicStatus();
    return {
      ...this.base("raft.state"),
      role: ROLES[st.softState.raftState],
      term: st.hardState.term,
      leader: formatId(st.softState.lead),
      commitIndex: st.hardState.commit,
      appliedIndex: this.server.store.consistentIndex(),
    };
  }

  members(): EventOf<"members"> {
    const members: MemberInfo[] = this.server.clusterMembers().map((m) => ({
      id: formatId(m.id),
      name: m.name,
      peerUrls: [...m.peerUrls],
      clientUrls: [...m.clientUrls],
      isLearner: m.isLearner,
    }));
    return { ...this.base("members"), clusterId: formatId(this.server.clusterId), members };
  }

  /** Follower progress on the leader (its followers and learners, not itself); empty elsewhere. */
  peers(): EventOf<"peers"> {
    const st = this.server.raft.node.status();
    const names = new Map(this.server.clusterMembers().map((m) => [m.id, m.name]));
    const peers: PeerProgress[] = [];
    for (const [id, pr] of st.progress) {
      // raft tracks the leader's own log in its progress map too: that is no follower's progress
      if (id === st.id) continue;
      const health = this.peerHealth(id);
      peers.push({
        id: formatId(id),
        name: names.get(id) ?? "",
        match: pr.match,
        next: pr.next,
        state: PROGRESS[pr.state],
        connected: health?.connected ?? pr.recentActive,
        rttMs: health?.rttMs ?? null,
      });
    }
    peers.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    return { ...this.base("peers"), leader: formatId(st.softState.lead), peers };
  }

  leases(): EventOf<"lease.list"> {
    const leases = this.server.lessor.ids().flatMap((id) => {
      const t = this.server.lessor.timeToLive(id);
      return t ? [{ id: formatId(id), ttl: t.grantedTtl, remainingTtl: t.ttl, keys: t.keys.length }] : [];
    });
    return { ...this.base("lease.list"), leases };
  }

  alarms(): EventOf<"alarm.list"> {
    return { ...this.base("alarm.list"), alarms: [...this.alarmList] };
  }

  /** The newest metrics sample (undefined before the first). */
  metrics(): EventOf<"metrics"> | undefined {
    return this.latestMetrics;
  }

  private freshMetricsWindow(): MetricsWindow {
    return {
      startedAt: this.now(),
      puts: 0,
      deletes: 0,
      applies: 0,
      applyBatches: 0,
      applyMsTotal: 0,
      applyMsMax: 0,
    };
  }

  /** Closes the metrics window: rates over it, WAL sync p99 from the histogram's growth, sizes. */
  async sampleMetrics(): Promise<EventOf<"metrics">> {
    const w = this.metricsWindow;
    this.metricsWindow = this.freshMetricsWindow();
    const windowMs = Math.max(1, this.now() - w.startedAt);
    const perSec = (n: number) => Math.round((n * 1000 * 10) / windowMs) / 10;
    const reads = await this.readsTotalNow();
    const readsDelta = this.readsTotal === undefined || reads < this.readsTotal ? 0 : reads - this.readsTotal;
    this.readsTotal = reads;
    let dbSize = 0;
    let dbSizeInUse = 0;
    try {
      dbSize = this.server.store.backend.size();
      dbSizeInUse = this.server.store.backend.sizeInUse();
    } catch {
      // the store is closing
    }
    const sample: EventOf<"metrics"> = {
      ...this.base("metrics"),
      windowMs,
      putsPerSec: perSec(w.puts),
      deletesPerSec: perSec(w.deletes),
      readsPerSec: perSec(readsDelta),
      appliesPerSec: perSec(w.applies),
      applyMsMax: round2(w.applyMsMax),
      applyMsMean: w.applyBatches === 0 ? 0 : round2(w.applyMsTotal / w.applyBatches),
      walFsyncMsP99: await this.walFsyncP99(),
      dbSize,
      dbSizeInUse,
      revision: this.server.store.currentRev(),
      keys: this.server.store.indexedKeys(),
      leases: this.server.lessor.ids().length,
      feedClients: this.feedClients,
    };
    this.latestMetrics = sample;
    return sample;
  }

  /** Range requests answered so far (gRPC and the gateway count in the same metric). */
  private async readsTotalNow(): Promise<number> {
    const metric = this.server.metrics.getSingleMetric("grpc_server_handled_total");
    if (!metric) return 0;
    const value = await metric.get();
    let total = 0;
    for (const v of value.values) if (v.labels.grpc_method === "Range") total += v.value;
    return total;
  }

  /** The p99 of the WAL syncs since the previous sample, interpolated inside its histogram bucket. */
  private async walFsyncP99(): Promise<number | null> {
    const h = await this.server.serverMetrics.walFsync.get();
    const buckets = h.values
      .filter((v) => v.metricName?.endsWith("_bucket"))
      .map((v) => ({ le: Number(v.labels.le), count: v.value }));
    const counts = buckets.map((b) => b.count);
    const previous = this.walBuckets;
    this.walBuckets = counts;
    if (!previous || previous.length !== counts.length) return null;
    const delta = counts.map((c, i) => c - previous[i]);
    const total = delta[delta.length - 1];
    if (!(total > 0)) return null;
    const rank = total * 0.99;
    for (let i = 0; i < delta.length; i++) {
      if (delta[i] >= rank) {
        const upper = buckets[i].le;
        const lower = i === 0 ? 0 : buckets[i - 1].le;
        const below = i === 0 ? 0 : delta[i - 1];
        const inBucket = delta[i] - below;
        const hi = Number.isFinite(upper) ? upper : lower * 2;
        const frac = inBucket > 0 ? (rank - below) / inBucket : 1;
        return round2((lower + (hi - lower) * frac) * 1000);
      }
    }
    return null;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
