/**
 * A deterministic cluster simulator for src/raft. One seeded Prng drives everything: which node ticks, which
 * message is delivered (loss, duplication, reordering, delay), partitions and their healing, crashes and
 * restarts from durable state, proposals, ReadIndex requests, membership changes and log compaction.
 *
 * A node handles a Ready in etcd's order (persist hard state, entries and snapshot; send; apply; advance), in up
 * to three separate steps so that messages and ticks interleave with an outstanding Ready, and a crash between
 * them loses whatever was not yet persisted. The InvariantChecker runs after every step.
 */
import {
  ConfChange,
  ConfChangeType,
  ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type Snapshot,
} from "../../../src/gen/raftpb/raft.js";
import { chainHash, confStateKey, entryKey, InvariantChecker, InvariantViolation } from "./invariants.js";
import { type InFlight, SimNetwork } from "./network.js";
import { Prng } from "./prng.js";
import {
  describeMessage,
  discardLogger,
  MemoryStorage,
  ProposalDroppedError,
  RawNode,
  type Ready,
  SeededRand,
  SnapshotStatus,
  StateType,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "./raft-api.js";
import { TransportNetwork } from "./transport-network.js";

/** Deliberate harness faults, used only to prove that the checker can fail. */
export interface HarnessFaults {
  /** A restarted node comes back with vote = 0 in its durable hard state. */
  forgetVoteOnRestart?: boolean;
  /** A restarted node comes back without the last entry of its durable log when that entry is past its commit index (a lost fsync of an acknowledged append). */
  loseLastEntryOnRestart?: boolean;
}

export interface SimOptions {
  seed: number;
  /** Initial voters: 3 or 5. */
  nodes: number;
  /** Chaos steps; every fault heals for a quiet period halfway through and again at the end. */
  steps: number;
  faults?: HarnessFaults;
  /**
   * Opens two windows around a received snapshot that etcd 3.4's raft does not handle (see notes-raft):
   * (1) the node ticks while the restored snapshot is not yet advanced past: a campaign then panics (MsgHup reads
   * unapplied entries the snapshot compacted); (2) the snapshot arrives while an earlier Ready is being applied:
   * its conf changes are then applied on top of the snapshot's newer configuration. Off by default: a node
   * finishes its outstanding Ready before stepping a MsgSnap and handles the snapshot's Ready at once.
   */
  openSnapshotWindow?: boolean;
  /** Multiplies the crash rate (the mutation check uses a crash-heavy profile). */
  crashRateFactor?: number;
  trace?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  nodes: number;
  steps: number;
  ticks: number;
  delivered: number;
  committed: number;
  crashes: number;
  confChanges: number;
  snapshotsInstalled: number;
  readsAnswered: number;
  /** The longer of the two quiet periods: ticks until a leader, two fresh entries applied everywhere, a read answered. */
  livenessTicks: number;
  preVote: boolean;
  /** Quiet periods without pre-vote that did not recover within RECOVERY_WATCH_TICKS_WITHOUT_PREVOTE (0..2). */
  slowRecoveries: number;
  /** The run's network was etcd's transport (ordered streams that drop) rather than free reordering. */
  transport: boolean;
  /** Peer streams dropped, and messages sent into a dropped stream (lost). */
  streamDrops: number;
  lostInGaps: number;
}

/**
 * After faults heal, a leader must be elected and a proposal applied by every member within this many ticks
 * (20 election timeouts) when pre-vote is on.
 */
export const LIVENESS_BOUND_TICKS = 200;
/**
 * Without pre-vote there is no such bound in etcd 3.4, and the simulator only watches this long. etcd ignores a
 * MsgVote with a lower term without answering, so a lagging voter whose term ran ahead (campaigning to a stale
 * configuration that no longer holds the up-to-date voter) is caught up only when the other candidate's term
 * overtakes it by chance: a random walk of election timeouts (1,489 ticks for seed 399 at 10,000 steps; seed 11043
 * did not converge in 5,000). Such a run is counted as a slow recovery, not failed; the safety checks go on.
 */
export const RECOVERY_WATCH_TICKS_WITHOUT_PREVOTE = 5000;
export const ELECTION_TICK = 10;
export const HEARTBEAT_TICK = 1;

/** A failure carries the seed, the step and the one command that replays it. */
export class SimulationFailure extends Error {
  override name = "SimulationFailure";
  constructor(
    readonly seed: number,
    readonly nodes: number,
    readonly steps: number,
    readonly step: number,
    override readonly cause: unknown,
    readonly faultsFlag: string,
  ) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(
      `seed ${seed} (nodes ${nodes}) failed at step ${step}: ${what}\n` +
        `replay: npm run sim -- --seed ${seed} --nodes ${nodes} --steps ${steps}${faultsFlag}`,
    );
  }

  get replayCommand(): string {
    return `npm run sim -- --seed ${this.seed} --nodes ${this.nodes} --steps ${this.steps}${this.faultsFlag}`;
  }

  get invariant(): string | undefined {
    return this.cause instanceof InvariantViolation ? this.cause.invariant : undefined;
  }
}

/** The per-run randomized environment. */
interface Profile {
  loss: number;
  duplicate: number;
  crashRate: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxInflight: number;
  maxSizePerMsg: number;
  compactRate: number;
  serialize: boolean;
  /** etcd's server order: a leader sends a Ready's messages before persisting it (followers after). */
  leaderSendsFirst: boolean;
  /** Propose membership changes as ConfChangeV2 (simple, one change) instead of ConfChange. */
  confChangeV2: boolean;
  /** The network behaves as etcd's transport (TransportNetwork) instead of reordering freely (SimNetwork). */
  transport: boolean;
  /** Transport runs: how many of a stream's oldest messages may overtake each other. */
  reorderWindow: number;
}

interface PendingReady {
  rd: Ready;
  persisted: boolean;
  sent: boolean;
}

class SimNode {
  rn: RawNode | undefined;
  pending: PendingReady | undefined;
  /** The application state (volatile; rebuilt from the durable snapshot on restart). */
  applied = 0;
  appliedHash = 0;
  confState: ConfState = emptyConfState();
  /** Highest commit index made durable and folded into the committed log. */
  verifiedCommit = 0;
  removed = false;

  constructor(
    readonly id: bigint,
    /** The durable state: only what a Ready asked for and the node finished persisting. */
    public storage: MemoryStorage,
  ) {}

  get up(): boolean {
    return this.rn !== undefined;
  }
}

function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

const SNAPSHOT_DATA_BYTES = 8;

function encodeAppState(index: number, hash: number): Buffer {
  const b = Buffer.alloc(SNAPSHOT_DATA_BYTES);
  b.writeUInt32BE(index >>> 0, 0);
  b.writeUInt32BE(hash >>> 0, 4);
  return b;
}

/** The command-line flags that reproduce a run's harness settings (appended to its replay command). */
export function faultsFlag(
  f: HarnessFaults | undefined,
  openSnapshotWindow = false,
  crashRateFactor = 1,
): string {
  let s = openSnapshotWindow ? " --open-snapshot-window" : "";
  if (crashRateFactor !== 1) s += ` --crash-factor ${crashRateFactor}`;
  if (f?.forgetVoteOnRestart) s += " --fault forget-vote";
  if (f?.loseLastEntryOnRestart) s += " --fault lose-last-entry";
  return s;
}

export class Simulation {
  private readonly prng: Prng;
  private readonly profile: Profile;
  private readonly checker = new InvariantChecker();
  private readonly nodes = new Map<bigint, SimNode>();
  private readonly network: SimNetwork;
  /** The same network when the run uses the transport's (streams that can drop). */
  private readonly transport: TransportNetwork | undefined;
  private step = 0;
  private nextNodeId: bigint;
  private proposalSeq = 0;
  private readSeq = 0;
  private confChangeSeq = 0;
  /** The membership change in flight (one at a time) and the step it was proposed at. */
  private pendingChange: { cc: ConfChange; at: number } | undefined;
  /** Changes that timed out and might still commit late: their node ids are left alone. */
  private readonly unsettledIds = new Set<bigint>();
  /** The latest configuration applied anywhere, and at which index. */
  private latestConf: ConfState = emptyConfState();
  private latestConfIndex = 0;
  private readonly stopQueue: bigint[] = [];
  private slowRecoveries = 0;
  private readonly stats = {
    ticks: 0,
    delivered: 0,
    crashes: 0,
    confChanges: 0,
    snapshotsInstalled: 0,
    streamDrops: 0,
  };

  constructor(private readonly opts: SimOptions) {
    this.prng = new Prng(opts.seed);
    const p = this.prng;
    this.profile = {
      loss: p.pick([0, 0.01, 0.05, 0.15]),
      duplicate: p.pick([0, 0.02, 0.08]),
      crashRate: p.pick([0, 0.001, 0.003]) * (opts.crashRateFactor ?? 1),
      preVote: p.chance(0.5),
      checkQuorum: p.chance(0.5),
      maxInflight: p.pick([1, 4, 256]),
      maxSizePerMsg: p.pick([Number.POSITIVE_INFINITY, 64, 1024]),
      compactRate: p.pick([0, 0.005, 0.02]),
      serialize: p.chance(0.5),
      leaderSendsFirst: p.chance(0.5),
      confChangeV2: p.chance(0.3),
      transport: p.chance(0.5),
      reorderWindow: p.pick([1, 2, 4]),
    };
    if (this.profile.transport) {
      // a stream neither duplicates nor delays beyond what the window reorders
      this.transport = new TransportNetwork(p, { ...this.profile, duplicate: 0 });
      this.network = this.transport;
    } else {
      this.network = new SimNetwork(p, this.profile);
    }
    this.nextNodeId = BigInt(opts.nodes + 1);
  }

  private trace(line: string): void {
    this.opts.trace?.(`[${this.step}] ${line}`);
  }

  run(): SimResult {
    try {
      this.bootstrap();
      // Faults heal twice: halfway (then chaos resumes) and at the end.
      let livenessTicks = 0;
      const half = Math.floor(this.opts.steps / 2);
      for (this.step = 1; this.step <= this.opts.steps; this.step++) {
        this.chaosStep();
        this.afterStep();
        if (this.step === half) {
          livenessTicks = this.quietPeriodTicks();
          this.network.quiet = false;
        }
      }
      livenessTicks = Math.max(livenessTicks, this.quietPeriodTicks());
      return {
        seed: this.opts.seed,
        nodes: this.opts.nodes,
        steps: this.opts.steps,
        ticks: this.stats.ticks,
        delivered: this.stats.delivered,
        committed: this.checker.committedIndex(),
        crashes: this.stats.crashes,
        confChanges: this.stats.confChanges,
        snapshotsInstalled: this.stats.snapshotsInstalled,
        readsAnswered: this.checker.readsAnswered,
        livenessTicks,
        preVote: this.profile.preVote,
        slowRecoveries: this.slowRecoveries,
        transport: this.profile.transport,
        streamDrops: this.stats.streamDrops,
        lostInGaps: this.transport?.lostInGaps ?? 0,
      };
    } catch (err) {
      if (err instanceof SimulationFailure) throw err;
      throw new SimulationFailure(
        this.opts.seed,
        this.opts.nodes,
        this.opts.steps,
        this.step,
        err,
        faultsFlag(this.opts.faults, this.opts.openSnapshotWindow, this.opts.crashRateFactor),
      );
    }
  }

  describeProfile(): string {
    const p = this.profile;
    return `leaderSendsFirst=${p.leaderSendsFirst} confChangeV2=${p.confChangeV2} loss=${p.loss} dup=${p.transport ? 0 : p.duplicate} crash=${p.crashRate} preVote=${p.preVote} checkQuorum=${p.checkQuorum} maxInflight=${p.maxInflight} maxSizePerMsg=${p.maxSizePerMsg} compact=${p.compactRate} serialize=${p.serialize} transport=${p.transport ? `window ${p.reorderWindow}` : "off"}`;
  }

  // ---- set-up -------------------------------------------------------------------------------------------

  private newRawNode(id: bigint, storage: MemoryStorage): RawNode {
    return new RawNode({
      id,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      storage,
      maxSizePerMsg: this.profile.maxSizePerMsg,
      maxInflightMsgs: this.profile.maxInflight,
      maxUncommittedEntriesSize: 0,
      checkQuorum: this.profile.checkQuorum,
      preVote: this.profile.preVote,
      logger: discardLogger,
      rand: new SeededRand(this.prng.derive()),
    });
  }

  private bootstrap(): void {
    const peers = [];
    for (let i = 1; i <= this.opts.nodes; i++) peers.push({ id: BigInt(i) });
    for (const { id } of peers) {
      const node = new SimNode(id, new MemoryStorage());
      node.rn = this.newRawNode(id, node.storage);
      node.rn.bootstrap(peers);
      this.nodes.set(id, node);
    }
    // The bootstrap Ready (the initial configuration entries) is persisted and applied before the run starts.
    for (const node of this.nodes.values()) {
      while (node.rn?.hasReady() || node.pending) this.handleReady(node, true);
      this.observe(node);
    }
  }

  // ---- the chaos loop -----------------------------------------------------------------------------------

  private liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.up) out.push(n);
    return out;
  }

  /** Relative weights of the chaos actions (a step picks one). */
  private static readonly ACTIONS: ReadonlyArray<readonly [keyof Simulation & `act${string}`, number]> = [
    ["actDeliver", 50],
    ["actReady", 25],
    ["actTick", 11],
    ["actPropose", 7],
    ["actReadIndex", 2],
    ["actMembership", 2],
    ["actTransferLeader", 0.3],
    ["actCrashOrRestart", 1.2],
    ["actPartitionOrHeal", 0.6],
    ["actDropStream", 0.5],
  ];
  private static readonly ACTION_TOTAL = Simulation.ACTIONS.reduce((sum, [, w]) => sum + w, 0);

  private chaosStep(): void {
    const p = this.prng;
    let r = p.float() * Simulation.ACTION_TOTAL;
    for (const [action, weight] of Simulation.ACTIONS) {
      if (r < weight) {
        this[action]();
        break;
      }
      r -= weight;
    }
    if (this.profile.compactRate > 0 && p.chance(this.profile.compactRate)) this.compactRandom();
    if (this.profile.crashRate > 0 && p.chance(this.profile.crashRate)) this.crashRandom();
  }

  actDeliver(): void {
    if (this.network.size > 0) this.deliver(this.network.takeRandom(this.step));
    else this.tickRandom();
  }

  actReady(): void {
    const candidates = this.liveNodes().filter((n) => n.pending || n.rn?.hasReady());
    if (candidates.length > 0) this.handleReady(this.prng.pick(candidates), this.prng.chance(0.6));
    else this.tickRandom();
  }

  actTick(): void {
    this.tickRandom();
  }

  actPropose(): void {
    this.proposeRandom();
  }

  actReadIndex(): void {
    this.readIndexRandom();
  }

  actMembership(): void {
    this.maybeChangeMembership();
  }

  actTransferLeader(): void {
    this.transferLeadershipRandom();
  }

  actCrashOrRestart(): void {
    this.crashOrRestart();
  }

  actPartitionOrHeal(): void {
    this.partitionOrHeal();
  }

  actDropStream(): void {
    if (this.transport) this.dropStream(this.transport);
    else this.tickRandom();
  }

  /** Stops nodes whose removal was applied (etcd's transport refuses a removed member) and runs the checks. */
  private afterStep(): void {
    while (this.stopQueue.length > 0) {
      const id = this.stopQueue.shift()!;
      const node = this.nodes.get(id);
      if (node === undefined || node.removed) continue;
      node.removed = true;
      node.rn = undefined;
      node.pending = undefined;
      this.trace(`node ${id} stopped after its removal`);
    }
  }

  private tickRandom(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.prng.pick(live);
    this.tick(node);
  }

  private tick(node: SimNode): void {
    node.rn!.tick();
    this.stats.ticks++;
    this.observe(node);
  }

  /** Checks what the in-memory state of a node shows: its role per term and its commit index. */
  private observe(node: SimNode): void {
    const rn = node.rn;
    if (rn === undefined) return;
    const st = rn.basicStatus();
    this.checker.observeRole(node.id, st.hardState.term, st.softState.raftState === StateType.StateLeader);
    this.checker.observeMemoryCommit(node.id, st.hardState.commit);
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    let bestTerm = -1;
    for (const n of this.liveNodes()) {
      const st = n.rn!.basicStatus();
      if (st.softState.raftState === StateType.StateLeader && st.hardState.term > bestTerm) {
        best = n;
        bestTerm = st.hardState.term;
      }
    }
    return best;
  }

  // ---- network ------------------------------------------------------------------------------------------

  private send(m: Message): void {
    if (m.type === MessageType.MsgVoteResp && !m.reject) {
      this.checker.observeVoteGranted(m.from, m.term, m.to);
    }
    const sent = this.network.send(m, this.step);
    if (sent !== "sent" && m.type === MessageType.MsgSnap) {
      this.reportSnapshot(m.from, m.to, SnapshotStatus.SnapshotFailure);
    }
    // etcd's transport tells raft when it could not send (a full buffer, a stream being dialed again)
    if (sent === "unreachable") this.reportUnreachable(m.from, m.to);
  }

  private reportUnreachable(from: bigint, to: bigint): void {
    const sender = this.nodes.get(from);
    if (sender?.rn === undefined) return;
    sender.rn.reportUnreachable(to);
    this.observe(sender);
  }

  /**
   * Drops one peer stream: the messages on its wire are lost (a snapshot among them fails), the sender hears the
   * peer is unreachable, and sends to it are lost until the stream is dialed again.
   */
  private dropStream(network: TransportNetwork): void {
    const ids = [...this.nodes.keys()];
    if (ids.length < 2) return;
    const from = this.prng.pick(ids);
    const to = this.prng.pick(ids.filter((id) => id !== from));
    const drop = network.dropStream(from, to, this.step);
    if (drop === undefined) return;
    this.stats.streamDrops++;
    this.trace(
      `stream ${from}->${to} dropped with ${drop.lost.length} messages on it, dialed again at ${drop.until}`,
    );
    for (const f of drop.lost) {
      if (f.type === MessageType.MsgSnap) this.reportSnapshot(f.from, f.to, SnapshotStatus.SnapshotFailure);
    }
    this.reportUnreachable(from, to);
  }

  private reportSnapshot(from: bigint, to: bigint, status: SnapshotStatus): void {
    const sender = this.nodes.get(from);
    if (sender?.rn === undefined) return;
    sender.rn.reportSnapshot(to, status);
    this.observe(sender);
  }

  private deliver(f: InFlight): void {
    const target = this.nodes.get(f.to);
    const reachable = target?.rn !== undefined && !target.removed && this.network.connected(f.from, f.to);
    if (f.type === MessageType.MsgSnap) {
      this.reportSnapshot(
        f.from,
        f.to,
        reachable ? SnapshotStatus.SnapshotFinish : SnapshotStatus.SnapshotFailure,
      );
    }
    if (!reachable || target === undefined) {
      // etcd's transport tells raft when a peer cannot be reached; do the same now and then.
      const sender = this.nodes.get(f.from);
      if (sender?.rn && this.prng.chance(0.3)) sender.rn.reportUnreachable(f.to);
      return;
    }
    const m = SimNetwork.open(f);
    this.stats.delivered++;
    if (this.opts.trace) this.trace(`deliver ${describeMessage(m)}`);
    const guard = m.type === MessageType.MsgSnap && !this.opts.openSnapshotWindow;
    // Closing the snapshot windows (see SimOptions.openSnapshotWindow): an outstanding Ready is finished before
    // the snapshot is stepped, and the snapshot's Ready is handled at once.
    if (guard && target.pending) this.handleReady(target, true);
    this.stepNode(target, m);
    if (guard) {
      while (target.up && (target.pending || target.rn!.hasReady())) this.handleReady(target, true);
    }
  }

  /** Steps a message into a node; the errors etcd's RawNode returns for normal reasons are ignored. */
  private stepNode(node: SimNode, m: Message): void {
    try {
      node.rn!.step(m);
    } catch (err) {
      if (!isExpectedStepError(err)) throw err;
    }
    this.observe(node);
  }

  private partitionOrHeal(): void {
    if (this.network.partitioned) {
      this.network.heal();
      this.trace("partition healed");
    } else {
      this.trace(`partition ${this.network.partition([...this.nodes.keys()])}`);
    }
  }

  // ---- Ready handling ------------------------------------------------------------------------------------

  /**
   * One stage of Ready handling per call (or all of them when `complete`): take the Ready, persist it, then
   * send, apply and advance.
   */
  private handleReady(node: SimNode, complete: boolean): void {
    const rn = node.rn!;
    if (node.pending === undefined) {
      if (!rn.hasReady()) return;
      const rd = rn.ready();
      node.pending = { rd, persisted: false, sent: false };
      for (const rs of rd.readStates) {
        this.checker.observeReadAnswered(rs.requestCtx.toString("latin1"), node.id, rs.index);
      }
      if (this.profile.leaderSendsFirst && rn.basicStatus().softState.raftState === StateType.StateLeader) {
        this.sendAll(node, rd);
        node.pending.sent = true;
      }
      if (!complete) return;
    }
    const pending = node.pending;
    if (!pending.persisted) {
      this.persist(node, pending.rd);
      pending.persisted = true;
      if (!complete) return;
    }
    node.pending = undefined;
    const rd = pending.rd;
    if (!pending.sent) this.sendAll(node, rd);
    if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0)
      this.restoreApp(node, rd.snapshot);
    for (const e of rd.committedEntries) this.apply(node, e);
    rn.advance(rd);
    this.observe(node);
  }

  private sendAll(node: SimNode, rd: Ready): void {
    for (const m of rd.messages) {
      this.send(m.type === MessageType.MsgSnap ? this.mergedSnapshotMessage(node, m) : m);
    }
  }

  /**
   * etcd's server does not send the snapshot raft picked from storage: it sends its current applied state with
   * the configuration as of that index (createMergedSnapshotMessage), so that a member added after the stored
   * snapshot finds itself in the configuration it receives.
   */
  private mergedSnapshotMessage(node: SimNode, m: Message): Message {
    const st = node.storage;
    const index = node.applied;
    const stored = m.snapshot?.metadata?.index ?? 0;
    if (index < stored || index < st.firstIndex() - 1) return m;
    const snapshot: Snapshot = {
      data: encodeAppState(index, node.appliedHash),
      metadata: { index, term: st.term(index), confState: node.confState },
    };
    return { ...m, snapshot };
  }

  /** Makes a Ready durable: snapshot, entries, then hard state, checking each write. */
  private persist(node: SimNode, rd: Ready): void {
    const st = node.storage;
    if (rd.snapshot !== undefined && (rd.snapshot.metadata?.index ?? 0) > 0) {
      const md = rd.snapshot.metadata!;
      this.checker.observeDurableSnapshot(node.id, md.index, md.term);
      st.applySnapshot(rd.snapshot);
      this.trace(
        `node ${node.id} persisted snapshot at ${md.index} with ${confStateKey(md.confState ?? emptyConfState())}`,
      );
      this.stats.snapshotsInstalled++;
    }
    // Entries at or below the durable snapshot are already covered by it; storage ignores them too.
    const ents = rd.entries.filter((e) => e.index >= st.firstIndex());
    if (ents.length > 0) {
      const oldLast = st.lastIndex();
      const first = ents[0].index;
      if (first - 1 > oldLast) {
        throw new InvariantViolation(
          "log continuity",
          `node ${node.id} asked to persist entries from ${first} but its durable log spans ${st.firstIndex()}..${oldLast}`,
        );
      }
      let prevTerm = st.term(first - 1);
      for (let k = 0; k < ents.length; k++) {
        const e = ents[k];
        if (e.index !== first + k) {
          throw new InvariantViolation(
            "log continuity",
            `node ${node.id} persisted a gap at index ${first + k}`,
          );
        }
        if (e.term < prevTerm) {
          throw new InvariantViolation(
            "log terms never decrease",
            `node ${node.id} stored term ${e.term} at ${e.index} after term ${prevTerm}`,
          );
        }
        this.checker.observeDurableEntry(node.id, e, prevTerm);
        prevTerm = e.term;
      }
      // Raft may cut a diverging tail, even shorter than the committed index (the rest follows in later
      // appends), and a node may lose an entry that the cluster committed without it (a learner, or a voter
      // outside the quorum, taking a stale leader's append: its copy never counted). What it may never replace
      // or cut is an entry at or below its own durable commit index.
      const newLast = ents[ents.length - 1].index;
      const checkTo = Math.min(oldLast, st.initialState().hardState.commit);
      if (first <= checkTo) {
        const old = st.entries(first, checkTo + 1, Infinity);
        for (const e of old) {
          const replacement = ents[e.index - first];
          if (e.index > newLast || entryKey(replacement) !== entryKey(e))
            this.checker.observeDurableLoss(node.id, e);
        }
      }
      st.append(ents);
    }
    if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) {
      const hs = { ...rd.hardState };
      if (hs.commit > st.lastIndex()) {
        throw new InvariantViolation(
          "commit within log",
          `node ${node.id} persisted commit ${hs.commit} beyond its durable last index ${st.lastIndex()}`,
        );
      }
      st.setHardState(hs);
      this.checker.observeDurableHardState(node.id, hs);
      this.foldCommit(node, hs.commit);
    }
  }

  /** Extends (or checks) the committed log with what this node holds up to its durable commit. */
  private foldCommit(node: SimNode, commit: number): void {
    if (commit <= node.verifiedCommit) return;
    const st = node.storage;
    const first = st.firstIndex();
    const from = node.verifiedCommit + 1;
    const ents =
      commit >= Math.max(from, first) ? st.entries(Math.max(from, first), commit + 1, Infinity) : [];
    this.checker.observeDurableCommit(node.id, from, commit, (i) => {
      if (i < first) {
        // Compacted or covered by the snapshot: only the snapshot point itself is comparable.
        return undefined;
      }
      const e = ents[i - Math.max(from, first)];
      return e === undefined ? undefined : entryKey(e);
    });
    node.verifiedCommit = commit;
  }

  private apply(node: SimNode, e: Entry): void {
    if (e.index !== node.applied + 1) {
      throw new InvariantViolation(
        "apply in order",
        `node ${node.id} applied index ${e.index} after ${node.applied}`,
      );
    }
    const k = entryKey(e);
    const hash = chainHash(node.appliedHash, e.index, k);
    this.checker.observeApply(node.id, e, hash);
    node.applied = e.index;
    node.appliedHash = hash;
    if (e.type === EntryType.EntryConfChange || e.type === EntryType.EntryConfChangeV2) {
      let cc: ConfChange;
      let cs: ConfState;
      if (e.type === EntryType.EntryConfChange) {
        cc = ConfChange.decode(e.data);
        cs = node.rn!.applyConfChange(cc);
      } else {
        // A simple V2 change: one change, its proposal id in the context.
        const v2 = ConfChangeV2.decode(e.data);
        cs = node.rn!.applyConfChange(v2);
        const first = v2.changes[0];
        cc = ConfChange.fromPartial({
          id: v2.context.length === 8 ? v2.context.readBigUInt64BE(0) : 0n,
          type: first?.type ?? ConfChangeType.ConfChangeUpdateNode,
          nodeId: first?.nodeId ?? 0n,
        });
      }
      node.confState = cs;
      // The bootstrap entries are special: raft applied the whole initial configuration before they were
      // applied one by one, so a node replaying them after a restart sees intermediate configurations.
      const bootstrapEntry = e.index <= this.opts.nodes;
      if (!bootstrapEntry && this.checker.observeConfChange(node.id, e.index, cs)) {
        this.onConfChangeCommitted(cc, cs, e.index);
      } else if (bootstrapEntry && e.index > this.latestConfIndex) {
        this.latestConf = cs;
        this.latestConfIndex = e.index;
      }
    }
  }

  private restoreApp(node: SimNode, snap: Snapshot): void {
    const md = snap.metadata!;
    const index = snap.data.readUInt32BE(0);
    const hash = snap.data.readUInt32BE(4);
    if (index !== md.index) {
      throw new InvariantViolation(
        "snapshot content",
        `node ${node.id} got snapshot data for ${index} at ${md.index}`,
      );
    }
    this.checker.observeSnapshotRestore(node.id, md.index, hash);
    node.applied = md.index;
    node.appliedHash = hash;
    node.confState = md.confState ?? emptyConfState();
  }

  // ---- crashes and restarts ------------------------------------------------------------------------------

  private crashOrRestart(): void {
    const down = [...this.nodes.values()].filter((n) => !n.up && !n.removed);
    if (down.length > 0 && this.prng.chance(0.7)) this.restart(this.prng.pick(down));
    else if (this.prng.chance(0.3)) this.crashRandom();
  }

  private crashRandom(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.prng.pick(live);
    node.rn = undefined;
    node.pending = undefined; // whatever was not persisted is gone
    this.stats.crashes++;
    this.trace(`node ${node.id} crashed`);
  }

  /** Builds a new RawNode from exactly the durable state (a fresh copy of it, as a WAL replay would). */
  private restart(node: SimNode): void {
    const old = node.storage;
    const st = new MemoryStorage();
    const snap = old.snapshot();
    if ((snap.metadata?.index ?? 0) > 0) st.applySnapshot(snap);
    const hs = { ...old.initialState().hardState };
    let ents: Entry[] =
      old.lastIndex() >= old.firstIndex() ? old.entries(old.firstIndex(), old.lastIndex() + 1, Infinity) : [];
    if (this.opts.faults?.forgetVoteOnRestart) hs.vote = 0n;
    if (
      this.opts.faults?.loseLastEntryOnRestart &&
      ents.length > 0 &&
      ents[ents.length - 1].index > hs.commit
    ) {
      // An acknowledged entry beyond the node's own commit index vanishes (the fsync "lost" it).
      ents = ents.slice(0, -1);
    }
    st.append(ents);
    st.setHardState(hs);
    node.storage = st;
    node.rn = this.newRawNode(node.id, st);
    node.pending = undefined;
    // The application state comes back from the snapshot; committed entries after it are applied again.
    node.applied = snap.metadata?.index ?? 0;
    node.appliedHash = node.applied > 0 ? snap.data.readUInt32BE(4) : 0;
    node.confState = snap.metadata?.confState ?? emptyConfState();
    const mem = node.rn.basicStatus().hardState.commit;
    this.checker.observeRestart(node.id, hs.commit, mem);
    this.observe(node);
    this.trace(`node ${node.id} restarted at term ${hs.term} commit ${hs.commit} last ${st.lastIndex()}`);
  }

  // ---- client traffic ------------------------------------------------------------------------------------

  private proposeRandom(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.prng.pick(live);
    // A node that knows no leader drops the proposal (an exception, costly to build): try that path a fifth of
    // the time, and spend the rest of the steps on proposals that can go somewhere.
    if (node.rn!.basicStatus().softState.lead === 0n && !this.prng.chance(0.2)) return;
    try {
      // every fourth proposal is a run of three entries in one MsgProp (a server's proposals of one turn)
      if (this.proposalSeq % 4 === 3) {
        const run = [1, 2, 3].map(() => Buffer.from(`p${++this.proposalSeq}`));
        node.rn!.proposeMany(run);
      } else node.rn!.propose(Buffer.from(`p${++this.proposalSeq}`));
    } catch (err) {
      if (!isExpectedStepError(err)) throw err;
    }
    this.observe(node);
  }

  private readIndexRandom(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.prng.pick(live);
    const ctx = `r${++this.readSeq}`;
    this.checker.observeReadIssued(ctx, node.id);
    node.rn!.readIndex(Buffer.from(ctx, "latin1"));
    this.observe(node);
  }

  private transferLeadershipRandom(): void {
    const leader = this.currentLeader();
    if (leader === undefined) return;
    const target = this.prng.pick(this.latestConf.voters.length > 0 ? this.latestConf.voters : [leader.id]);
    leader.rn!.transferLeader(target);
    this.observe(leader);
  }

  /** etcd's snapshot-and-compact: snapshot the applied state, keep a few entries for slow followers. */
  private compactRandom(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const node = this.prng.pick(live);
    const st = node.storage;
    const snapIndex = st.snapshot().metadata?.index ?? 0;
    if (node.applied <= snapIndex) return;
    st.createSnapshot(node.applied, node.confState, encodeAppState(node.applied, node.appliedHash));
    this.trace(`node ${node.id} snapshot at ${node.applied} with ${confStateKey(node.confState)}`);
    const keep = this.prng.int(4);
    const compactTo = Math.max(snapIndex + 1, node.applied - keep);
    st.compact(compactTo);
  }

  // ---- membership ----------------------------------------------------------------------------------------

  private maybeChangeMembership(): void {
    if (this.pendingChange !== undefined) {
      if (this.step - this.pendingChange.at < 300) return;
      // The proposal was probably lost; it may still commit late, so its node is left alone from now on.
      this.unsettledIds.add(this.pendingChange.cc.nodeId);
      this.pendingChange = undefined;
    }
    const p = this.prng;
    const voters = this.latestConf.voters.filter((id) => !this.unsettledIds.has(id));
    const learners = this.latestConf.learners.filter((id) => !this.unsettledIds.has(id));
    const nVoters = this.latestConf.voters.length;
    const options: Array<() => ConfChange> = [];
    const fresh = (type: ConfChangeType) => () => {
      const id = this.nextNodeId++;
      return ConfChange.fromPartial({ type, nodeId: id });
    };
    if (nVoters < this.opts.nodes + 1) options.push(fresh(ConfChangeType.ConfChangeAddNode));
    if (learners.length < 2) options.push(fresh(ConfChangeType.ConfChangeAddLearnerNode));
    if (nVoters > this.opts.nodes - 1 && voters.length > 0) {
      options.push(() =>
        ConfChange.fromPartial({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: p.pick(voters) }),
      );
    }
    if (learners.length > 0) {
      options.push(() =>
        ConfChange.fromPartial({ type: ConfChangeType.ConfChangeRemoveNode, nodeId: p.pick(learners) }),
      );
      if (nVoters < this.opts.nodes + 1) {
        options.push(() =>
          ConfChange.fromPartial({ type: ConfChangeType.ConfChangeAddNode, nodeId: p.pick(learners) }),
        );
      }
    }
    if (options.length === 0) return;
    const cc = p.pick(options)();
    cc.id = BigInt(++this.confChangeSeq);
    const target =
      this.currentLeader() ?? (this.liveNodes().length > 0 ? p.pick(this.liveNodes()) : undefined);
    if (target === undefined) return;
    try {
      if (this.profile.confChangeV2) {
        const context = Buffer.alloc(8);
        context.writeBigUInt64BE(cc.id, 0);
        target.rn!.proposeConfChange(
          ConfChangeV2.fromPartial({ changes: [{ type: cc.type, nodeId: cc.nodeId }], context }),
        );
      } else {
        target.rn!.proposeConfChange(cc);
      }
    } catch (err) {
      if (!isExpectedStepError(err)) throw err;
      return;
    }
    this.observe(target);
    this.pendingChange = { cc, at: this.step };
    this.trace(`proposed conf change ${ConfChangeType[cc.type]} ${cc.nodeId} at node ${target.id}`);
  }

  /** Runs once per committed configuration change: starts added nodes, stops removed ones. */
  private onConfChangeCommitted(cc: ConfChange, cs: ConfState, index: number): void {
    this.stats.confChanges++;
    if (index > this.latestConfIndex) {
      this.latestConf = cs;
      this.latestConfIndex = index;
    }
    if (this.pendingChange !== undefined && this.pendingChange.cc.id === cc.id)
      this.pendingChange = undefined;
    const id = cc.nodeId;
    if (cc.type === ConfChangeType.ConfChangeRemoveNode) {
      if (this.nodes.has(id)) this.stopQueue.push(id);
    } else if (
      cc.type === ConfChangeType.ConfChangeAddNode ||
      cc.type === ConfChangeType.ConfChangeAddLearnerNode
    ) {
      if (!this.nodes.has(id)) {
        // A joining member starts empty and learns everything from the leader (etcd's join without a WAL).
        const node = new SimNode(id, new MemoryStorage());
        node.rn = this.newRawNode(id, node.storage);
        this.nodes.set(id, node);
      }
    }
    this.trace(`conf change at ${index} committed: ${ConfChangeType[cc.type]} ${id} -> ${confStateKey(cs)}`);
  }

  // ---- the quiet period ----------------------------------------------------------------------------------

  /** A quiet period's ticks to recovery; 0 for a slow recovery without pre-vote (see RECOVERY_WATCH_TICKS...). */
  private quietPeriodTicks(): number {
    const t = this.quietPeriod();
    if (t > 0) return t;
    this.slowRecoveries++;
    this.trace("slow recovery without pre-vote: no leader with the probes applied everywhere yet");
    return 0;
  }

  private members(): SimNode[] {
    const ids = [...this.latestConf.voters, ...this.latestConf.learners];
    const out: SimNode[] = [];
    for (const id of ids) {
      const n = this.nodes.get(id);
      if (n !== undefined && !n.removed) out.push(n);
    }
    return out;
  }

  /** Delivers every message and handles every Ready until nothing moves (bounded, so a livelock is caught). */
  private drain(): void {
    for (let round = 0; round < 10_000; round++) {
      let moved = false;
      for (const n of this.liveNodes()) {
        if (n.up && (n.pending || n.rn!.hasReady())) {
          this.handleReady(n, true);
          moved = true;
        }
        this.afterStep();
      }
      if (this.network.size > 0) {
        for (const f of this.network.takeAll()) this.deliver(f);
        moved = true;
        this.afterStep();
      }
      if (!moved) return;
    }
    throw new InvariantViolation("liveness", "the cluster never quiesced within 10000 delivery rounds");
  }

  /**
   * Heals every fault (network whole, lossless, all members up) and counts the ticks until a leader exists and
   * two fresh proposals (one made at the leader, one at a follower) are committed and applied by every member,
   * and a ReadIndex request made at a member is answered. Exceeding LIVENESS_BOUND_TICKS with pre-vote is a
   * failure; without pre-vote it returns 0 after RECOVERY_WATCH_TICKS_WITHOUT_PREVOTE ticks.
   */
  private quietPeriod(): number {
    this.network.quiet = true;
    this.network.heal();
    for (const n of this.nodes.values()) if (!n.up && !n.removed) this.restart(n);
    this.drain();
    // Two fresh proposals: one at the leader, one at a follower (forwarded to the leader).
    const probes = [false, true].map((viaFollower) => ({
      key: `probe-${this.step}-${viaFollower ? "follower" : "leader"}`,
      viaFollower,
      /** 0: not proposed yet, -1: proposed, > 0: its committed index. */
      index: 0,
      proposedAt: 0,
    }));
    const committedAtStart = this.checker.committedIndex();
    const read = { ctx: "", issuedAt: 0 };
    const bound = this.profile.preVote ? LIVENESS_BOUND_TICKS : RECOVERY_WATCH_TICKS_WITHOUT_PREVOTE;
    for (let t = 1; t <= bound; t++) {
      for (const n of this.liveNodes()) this.tick(n);
      this.drain();
      const leader = this.currentLeader();
      for (const probe of probes) {
        if (leader === undefined || probe.index !== 0) continue;
        const followers = this.members().filter(
          (n) => n !== leader && n.up && n.rn!.basicStatus().softState.lead === leader.id,
        );
        const at = probe.viaFollower && followers.length > 0 ? this.prng.pick(followers) : leader;
        try {
          at.rn!.propose(Buffer.from(probe.key, "latin1"));
          probe.index = -1;
          probe.proposedAt = t;
        } catch (err) {
          if (!isExpectedStepError(err)) throw err;
        }
        this.drain();
      }
      for (const probe of probes) {
        if (probe.index !== -1) continue;
        for (let i = this.checker.committedIndex(); i > committedAtStart; i--) {
          if (this.checker.committedKey(i)?.endsWith(`/${EntryType.EntryNormal}/${probe.key}`)) {
            probe.index = i;
            break;
          }
        }
        // A proposal may be dropped on the way (a leader change): propose it again.
        if (probe.index === -1 && t - probe.proposedAt >= 4 * ELECTION_TICK) probe.index = 0;
      }
      const last = Math.max(...probes.map((p) => p.index));
      if (!probes.every((p) => p.index > 0) || !this.members().every((n) => n.up && n.applied >= last))
        continue;
      // Then a ReadIndex at a member must be answered too (issued again if its request was dropped).
      if (
        read.ctx === "" ||
        (!this.checker.readAnswered(read.ctx) && t - read.issuedAt >= 4 * ELECTION_TICK)
      ) {
        const node = this.prng.pick(this.members());
        read.ctx = `quiet-read-${this.step}-${t}`;
        read.issuedAt = t;
        this.checker.observeReadIssued(read.ctx, node.id);
        node.rn!.readIndex(Buffer.from(read.ctx, "latin1"));
        this.drain();
      }
      if (this.checker.readAnswered(read.ctx)) return t;
    }
    const states = [...this.nodes.values()]
      .map((n) => {
        if (!n.up) return `${n.id}:${n.removed ? "removed" : "down"}`;
        const st = n.rn!.basicStatus();
        return `${n.id}:${StateType[st.softState.raftState]}@${st.hardState.term} commit=${st.hardState.commit} applied=${n.applied}`;
      })
      .join(", ");
    const leader = this.currentLeader();
    const progress =
      leader === undefined
        ? "no leader"
        : [...leader.rn!.status().progress].map(([id, pr]) => `${id}:${pr.toString()}`).join(", ");
    if (!this.profile.preVote) return 0;
    throw new InvariantViolation(
      "liveness",
      `no leader with the probe applied by every member within ${bound} ticks after healing (preVote ${this.profile.preVote}) (members ${confStateKey(this.latestConf)}; ${states}; leader progress ${progress})`,
    );
  }
}

function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === 0n && hs.commit === 0;
}

/** The errors RawNode.step and propose return in normal operation (etcd's servers ignore them too). */
function isExpectedStepError(err: unknown): boolean {
  return (
    err instanceof ProposalDroppedError ||
    err instanceof StepPeerNotFoundError ||
    err instanceof StepLocalMsgError
  );
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
