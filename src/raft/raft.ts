// The raft state machine: roles, elections, replication, commitment, reads, leader transfer and
// membership changes. Pure and deterministic: time arrives as tick(), input as step(), output
// leaves through `msgs`, `readStates` and the log (collected by RawNode into a Ready).
import {
  ConfChange,
  ConfChangeTransition,
  ConfChangeType,
  type ConfChangeV2,
  ConfChangeV2 as ConfChangeV2Codec,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type Snapshot,
} from "../gen/raftpb/raft.js";
import { Changer } from "./confchange/changer.js";
import { asV2, enterJointOf, isConfChangeV1, leaveJointOf } from "./confchange/conv.js";
import { restore as restoreConfig } from "./confchange/restore.js";
import { describeConfState } from "./describe.js";
import { RaftLog } from "./log.js";
import { discardLogger, hexId, type RaftLogger } from "./logger.js";
import { VoteResult } from "./quorum/types.js";
import type { Rand } from "./rand.js";
import { ctxFromKey, ReadOnly, ReadOnlyOption, type ReadState } from "./read_only.js";
import { StateType, stateTypeName } from "./state.js";
import {
  CompactedError,
  SnapshotTemporarilyUnavailableError,
  type Storage,
  UnavailableError,
} from "./storage.js";
import { Inflights } from "./tracker/inflights.js";
import type { Progress, ProgressMap } from "./tracker/progress.js";
import { ProgressState, progressStateName } from "./tracker/state.js";
import { configToString, ProgressTracker, type TrackerConfig } from "./tracker/tracker.js";
import {
  confStatesEquivalent,
  emptyBuffer,
  isEmptyHardState,
  isEmptySnap,
  None,
  noLimit,
  payloadSize,
  voteRespMsgType,
} from "./util.js";

export { ReadOnlyOption, StateType };

/** A proposal was not accepted (no leader, leadership transfer, removed leader, size limit). */
export class ProposalDroppedError extends Error {
  override name = "ProposalDroppedError";
  constructor() {
    super("raft proposal dropped");
  }
}

/** A message type that only exists inside a node arrived through step(). */
export class StepLocalMsgError extends Error {
  override name = "StepLocalMsgError";
  constructor() {
    super("raft: cannot step raft local message");
  }
}

/** A response arrived from a node that is not in the configuration. */
export class StepPeerNotFoundError extends Error {
  override name = "StepPeerNotFoundError";
  constructor() {
    super("raft: cannot step as peer not found");
  }
}

export interface Config {
  /** This node's id; never 0. */
  id: bigint;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [e, 2e)). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be below electionTick. */
  heartbeatTick: number;
  storage: Storage;
  /** The last applied index when restarting; entries up to it are not handed out again. */
  applied?: number;
  /** Byte limit of one append message; 0 (the default) means one entry per message. */
  maxSizePerMsg?: number;
  /** Byte limit of committed entries in one Ready; 0 means maxSizePerMsg. */
  maxCommittedSizePerReady?: number;
  /** Byte limit of the leader's uncommitted tail; 0 means no limit. */
  maxUncommittedEntriesSize?: number;
  /** Appends in flight per follower while replicating; must be positive. */
  maxInflightMsgs: number;
  /** The leader steps down when a quorum was not heard from during an election timeout. */
  checkQuorum?: boolean;
  /** Run a pre-election before incrementing the term (raft thesis 9.6). */
  preVote?: boolean;
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  logger?: RaftLogger;
  /** The source of randomized election timeouts. */
  rand: Rand;
}

const campaignPreElection = "CampaignPreElection";
const campaignElection = "CampaignElection";
const campaignTransfer = "CampaignTransfer";
type CampaignType = typeof campaignPreElection | typeof campaignElection | typeof campaignTransfer;
const campaignTransferCtx = Buffer.from(campaignTransfer);

/** A message with every field at its zero value, then the given type and recipient. */
export function newMessage(type: MessageType, to: bigint): Message {
  return {
    type,
    to,
    from: None,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: emptyBuffer,
  };
}

function msgName(t: MessageType): string {
  return MessageType[t] ?? `MessageType(${t})`;
}

function validate(c: Config): void {
  if (c.id === None) throw new Error("cannot use none as id");
  if (!(c.heartbeatTick > 0)) throw new Error("heartbeat tick must be greater than 0");
  if (!(c.electionTick > c.heartbeatTick))
    throw new Error("election tick must be greater than heartbeat tick");
  if (c.storage === undefined || c.storage === null) throw new Error("storage cannot be nil");
  if (!(c.maxInflightMsgs > 0)) throw new Error("max inflight messages must be greater than 0");
  if (c.readOnlyOption === ReadOnlyOption.ReadOnlyLeaseBased && !c.checkQuorum) {
    throw new Error("CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased");
  }
}

/** Go's %v of a byte slice: decimal bytes in brackets. */
function goBytes(b: Buffer): string {
  return `[${Array.from(b).join(" ")}]`;
}

/** Go's %v of a conf change struct (gogo field order, unknown-fields slice last), as etcd logs a refused one. */
function confChangeForLog(cc: ConfChange | ConfChangeV2): string {
  if (!isConfChangeV1(cc)) {
    const changes = cc.changes.map((c) => `{${ConfChangeType[c.type]} ${c.nodeId} []}`).join(" ");
    return `{${ConfChangeTransition[cc.transition]} [${changes}] ${goBytes(cc.context)} []}`;
  }
  return `{${ConfChangeType[cc.type]} ${cc.nodeId} ${goBytes(cc.context)} ${cc.id} []}`;
}

export class Raft {
  readonly id: bigint;
  term = 0;
  vote: bigint = None;
  readStates: ReadState[] = [];
  readonly raftLog: RaftLog;
  readonly maxMsgSize: number;
  readonly maxUncommittedSize: number;
  prs: ProgressTracker;
  state: StateType = StateType.StateFollower;
  /** Whether this node is a learner in the current configuration. */
  isLearner = false;
  /** Outgoing messages, collected by the next Ready. */
  msgs: Message[] = [];
  lead: bigint = None;
  /** The target of an ongoing leadership transfer, or None. */
  leadTransferee: bigint = None;
  /** Index at or beyond the latest conf change in the log; a new one waits until it is applied. */
  pendingConfIndex = 0;
  /** Estimated payload bytes of the leader's uncommitted tail. */
  uncommittedSize = 0;
  readOnly: ReadOnly;
  /** Ticks since the last election timeout (leader, candidate) or since hearing the leader (follower). */
  electionElapsed = 0;
  /** Ticks since the last heartbeat (leader only). */
  heartbeatElapsed = 0;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /** Drawn in [electionTimeout, 2*electionTimeout) at every reset to follower or candidate. */
  randomizedElectionTimeout = 0;
  readonly disableProposalForwarding: boolean;
  readonly logger: RaftLogger;
  readonly rand: Rand;
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = [];

  // Passed to prs.visit; allocated once per node rather than per call.
  private readonly probeVisitor = (id: bigint): void => {
    this.maybeSendAppend(id, false);
  };
  private sortedIds: bigint[] = [];
  private sortedIdsOf: ProgressMap | undefined = undefined;

  constructor(c: Config) {
    validate(c);
    this.logger = c.logger ?? discardLogger;
    this.rand = c.rand;
    const maxSizePerMsg = c.maxSizePerMsg ?? 0;
    const maxCommitted = c.maxCommittedSizePerReady ? c.maxCommittedSizePerReady : maxSizePerMsg;
    this.raftLog = new RaftLog(c.storage, this.logger, maxCommitted);
    const { hardState, confState } = c.storage.initialState();
    this.id = c.id;
    this.maxMsgSize = maxSizePerMsg;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize ? c.maxUncommittedEntriesSize : noLimit;
    this.prs = new ProgressTracker(c.maxInflightMsgs);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.readOnly = new ReadOnly(c.readOnlyOption ?? ReadOnlyOption.ReadOnlySafe);
    this.disableProposalForwarding = c.disableProposalForwarding ?? false;

    const [cfg, prs] = restoreConfig(new Changer(this.prs, this.raftLog.lastIndex()), confState);
    this.assertConfStatesEquivalent(confState, this.switchToConfig(cfg, prs));

    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (c.applied !== undefined && c.applied > 0) this.raftLog.appliedTo(c.applied);
    this.becomeFollower(this.term, None);

    const peers = this.prs
      .voterNodes()
      .map((n) => hexId(n))
      .join(",");
    this.logger.info(
      `newRaft ${hexId(this.id)} [peers: [${peers}], term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}]`,
    );
  }

  private assertConfStatesEquivalent(a: ConfState, b: ConfState): void {
    if (!confStatesEquivalent(a, b)) {
      this.logger.panic(
        `ConfStates not equivalent after sorting: ${describeConfState(a)} vs ${describeConfState(b)}`,
      );
    }
  }

  hasLeader(): boolean {
    return this.lead !== None;
  }

  softState(): { lead: bigint; raftState: StateType } {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Queues a message, stamping sender and (for all but proposals and reads) the current term. */
  private send(m: Message): void {
    m.from = this.id;
    const t = m.type;
    if (
      t === MessageType.MsgVote ||
      t === MessageType.MsgVoteResp ||
      t === MessageType.MsgPreVote ||
      t === MessageType.MsgPreVoteResp
    ) {
      // Campaign messages carry the term they are about, set by the caller.
      if (m.term === 0) this.logger.panic(`term should be set when sending ${msgName(t)}`);
    } else {
      if (m.term !== 0)
        this.logger.panic(`term should not be set when sending ${msgName(t)} (was ${m.term})`);
      // Proposals and read requests are forwarded to the leader as if local: no term.
      if (t !== MessageType.MsgProp && t !== MessageType.MsgReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (or a snapshot) to `to`, even one without entries (it carries the commit). */
  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends an append with the entries `to` lacks, or a snapshot when they are compacted away.
   * Returns whether a message was sent; an append without entries goes out only if sendIfEmpty.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const m = newMessage(MessageType.MsgApp, to);

    let term = 0;
    let ents: Entry[] = [];
    let failed = false;
    try {
      term = this.raftLog.term(pr.next - 1);
    } catch (err) {
      if (!isLogGap(err)) throw err;
      failed = true;
    }
    try {
      ents = this.raftLog.entries(pr.next, this.maxMsgSize);
    } catch (err) {
      if (!isLogGap(err)) throw err;
      failed = true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;

    if (failed) {
      if (!pr.recentActive) {
        this.logger.debug(`ignore sending snapshot to ${hexId(to)} since it is not recently active`);
        return false;
      }
      m.type = MessageType.MsgSnap;
      let snapshot: Snapshot;
      try {
        snapshot = this.raftLog.snapshot();
      } catch (err) {
        if (err instanceof SnapshotTemporarilyUnavailableError) {
          this.logger.debug(
            `${hexId(this.id)} failed to send snapshot to ${hexId(to)} because snapshot is temporarily unavailable`,
          );
          return false;
        }
        throw err;
      }
      if (isEmptySnap(snapshot)) this.logger.panic("need non-empty snapshot");
      m.snapshot = snapshot;
      const md = snapshot.metadata!;
      this.logger.debug(
        `${hexId(this.id)} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${md.index}, term: ${md.term}] to ${hexId(to)} [${pr.toString()}]`,
      );
      pr.becomeSnapshot(md.index);
      this.logger.debug(
        `${hexId(this.id)} paused sending replication messages to ${hexId(to)} [${pr.toString()}]`,
      );
    } else {
      m.index = pr.next - 1;
      m.logTerm = term;
      m.entries = ents;
      m.commit = this.raftLog.committed;
      const n = ents.length;
      if (n !== 0) {
        if (pr.state === ProgressState.StateReplicate) {
          // Optimistically assume delivery and keep streaming.
          const last = ents[n - 1].index;
          pr.optimisticUpdate(last);
          pr.inflights.add(last);
        } else if (pr.state === ProgressState.StateProbe) {
          pr.probeSent = true;
        } else {
          this.logger.panic(
            `${hexId(this.id)} is sending append in unhandled state ${progressStateName(pr.state)}`,
          );
        }
      }
    }
    this.send(m);
    return true;
  }

  /** A heartbeat carries min(match, committed): never a commit index the follower may lack. */
  private sendHeartbeat(to: bigint, ctx: Buffer): void {
    const pr = this.prs.progress.get(to)!;
    const m = newMessage(MessageType.MsgHeartbeat, to);
    m.commit = Math.min(pr.match, this.raftLog.committed);
    m.context = ctx;
    this.send(m);
  }

  /** Sends appends to every other member, ascending by id. */
  bcastAppend(): void {
    const ids = this.sortedPeerIds();
    for (let k = 0; k < ids.length; k++) if (ids[k] !== this.id) this.sendAppend(ids[k]);
  }

  /**
   * The ids of the progress map, ascending, cached per map: broadcasts run for every proposal and
   * the map only changes when a configuration is installed (a new map) or in tests (size changes).
   */
  private sortedPeerIds(): bigint[] {
    const progress = this.prs.progress;
    if (this.sortedIdsOf !== progress || this.sortedIds.length !== progress.size) {
      this.sortedIds = [...progress.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      this.sortedIdsOf = progress;
    }
    return this.sortedIds;
  }

  /** Heartbeats to every other member, carrying the newest pending read's context. */
  bcastHeartbeat(): void {
    const last = this.readOnly.lastPendingRequestCtx();
    this.bcastHeartbeatWithCtx(last === undefined || last.length === 0 ? emptyBuffer : ctxFromKey(last));
  }

  private bcastHeartbeatWithCtx(ctx: Buffer): void {
    const ids = this.sortedPeerIds();
    for (let k = 0; k < ids.length; k++) if (ids[k] !== this.id) this.sendHeartbeat(ids[k], ctx);
  }

  /**
   * Takes note that the application handled a Ready: moves the applied cursor, appends the
   * automatic leave-joint entry when due, and marks entries and snapshot stable.
   */
  advance(rd: {
    committedEntries: readonly Entry[];
    entries: readonly Entry[];
    snapshot?: Snapshot | undefined;
  }): void {
    const nc = rd.committedEntries.length;
    let index = 0;
    if (nc > 0) index = rd.committedEntries[nc - 1].index;
    else if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) index = rd.snapshot.metadata!.index;
    if (index > 0) {
      this.raftLog.appliedTo(index);
      if (
        this.prs.config.autoLeave &&
        index >= this.pendingConfIndex &&
        this.state === StateType.StateLeader
      ) {
        // The joint configuration is applied and should be left automatically: propose that now.
        const ent: Entry = { type: EntryType.EntryConfChangeV2, term: 0, index: 0, data: emptyBuffer };
        if (!this.appendEntry([ent])) {
          // Try again later.
          this.pendingConfIndex = this.raftLog.lastIndex();
        } else {
          this.logger.info(
            `initiating automatic transition out of joint configuration ${configToString(this.prs.config)}`,
          );
        }
      }
    }
    this.reduceUncommittedSize(rd.committedEntries);
    const ne = rd.entries.length;
    if (ne > 0) {
      const e = rd.entries[ne - 1];
      this.raftLog.stableTo(e.index, e.term);
    }
    if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot))
      this.raftLog.stableSnapTo(rd.snapshot.metadata!.index);
  }

  /** Advances the commit index to what a quorum has (entries of the current term only). */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.prs.committed(), this.term);
  }

  /** Common part of every role change: term, timers, votes, progress. */
  reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const last = this.raftLog.lastIndex();
    const maxInflight = this.prs.maxInflight;
    for (const [id, pr] of this.prs.progress) {
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.state = ProgressState.StateProbe;
      pr.pendingSnapshot = 0;
      pr.recentActive = false;
      pr.probeSent = false;
      pr.inflights = new Inflights(maxInflight);
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnly.option);
  }

  /** Appends entries of the current term to the leader's log; false when over the uncommitted limit. */
  appendEntry(es: Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    for (let k = 0; k < es.length; k++) {
      const e = es[k];
      es[k] = { type: e.type, term: this.term, index: li + 1 + k, data: e.data };
    }
    if (!this.increaseUncommittedSize(es)) {
      this.logger.debug(
        `${hexId(this.id)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      );
      return false;
    }
    const newLast = this.raftLog.append(es);
    this.prs.progress.get(this.id)?.maybeUpdate(newLast);
    // The caller broadcasts regardless of whether this commits.
    this.maybeCommit();
    return true;
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    if (this.state === StateType.StateLeader) this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      const m = newMessage(MessageType.MsgHup, None);
      m.from = this.id;
      this.step(m);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        const m = newMessage(MessageType.MsgCheckQuorum, None);
        m.from = this.id;
        this.step(m);
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === StateType.StateLeader && this.leadTransferee !== None) this.abortLeaderTransfer();
    }
    if (this.state !== StateType.StateLeader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      const m = newMessage(MessageType.MsgBeat, None);
      m.from = this.id;
      this.step(m);
    }
  }

  becomeFollower(term: number, lead: bigint): void {
    this.reset(term);
    this.lead = lead;
    this.state = StateType.StateFollower;
    this.logger.info(`${hexId(this.id)} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    if (this.state === StateType.StateLeader) this.logger.panic("invalid transition [leader -> candidate]");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.StateCandidate;
    this.logger.info(`${hexId(this.id)} became candidate at term ${this.term}`);
  }

  becomePreCandidate(): void {
    if (this.state === StateType.StateLeader)
      this.logger.panic("invalid transition [leader -> pre-candidate]");
    // A pre-candidate changes role only: neither the term nor the vote move.
    this.prs.resetVotes();
    this.lead = None;
    this.state = StateType.StatePreCandidate;
    this.logger.info(`${hexId(this.id)} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    if (this.state === StateType.StateFollower) this.logger.panic("invalid transition [follower -> leader]");
    this.reset(this.term);
    this.lead = this.id;
    this.state = StateType.StateLeader;
    // The leader trivially replicates to itself (reset set its match to the last index).
    this.prs.progress.get(this.id)?.becomeReplicate();
    // Whether or not a conf change is pending in the tail, wait until the whole tail is applied.
    this.pendingConfIndex = this.raftLog.lastIndex();
    const empty: Entry = { type: EntryType.EntryNormal, term: 0, index: 0, data: emptyBuffer };
    if (!this.appendEntry([empty])) this.logger.panic("empty entry was dropped");
    // The leader's empty entry does not count against the uncommitted limit.
    this.reduceUncommittedSize([empty]);
    this.logger.info(`${hexId(this.id)} became leader at term ${this.term}`);
  }

  private campaign(t: CampaignType): void {
    if (!this.promotable()) {
      this.logger.warning(`${hexId(this.id)} is unpromotable; campaign() should have been called`);
    }
    let term: number;
    let voteMsg: MessageType;
    if (t === campaignPreElection) {
      this.becomePreCandidate();
      voteMsg = MessageType.MsgPreVote;
      // Pre-votes are asked for the next term without moving to it yet.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = MessageType.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, voteRespMsgType(voteMsg), true).result === VoteResult.VoteWon) {
      // Our own vote decided it: a single-voter configuration.
      if (t === campaignPreElection) this.campaign(campaignElection);
      else this.becomeLeader();
      return;
    }
    const ids = [...this.prs.config.voters.ids()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of ids) {
      if (id === this.id) continue;
      this.logger.info(
        `${hexId(this.id)} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${msgName(voteMsg)} request to ${hexId(id)} at term ${this.term}`,
      );
      const m = newMessage(voteMsg, id);
      m.term = term;
      m.index = lastIndex;
      m.logTerm = lastTerm;
      if (t === campaignTransfer) m.context = campaignTransferCtx;
      this.send(m);
    }
  }

  private poll(
    id: bigint,
    t: MessageType,
    v: boolean,
  ): { granted: number; rejected: number; result: VoteResult } {
    if (v)
      this.logger.info(`${hexId(this.id)} received ${msgName(t)} from ${hexId(id)} at term ${this.term}`);
    else
      this.logger.info(
        `${hexId(this.id)} received ${msgName(t)} rejection from ${hexId(id)} at term ${this.term}`,
      );
    this.prs.recordVote(id, v);
    return this.prs.tallyVotes();
  }

  /** Handles one message. Throws ProposalDroppedError for proposals that were not accepted. */
  step(m: Message): void {
    // First settle the message's term against ours.
    if (m.term === 0) {
      // A local message.
    } else if (m.term > this.term) {
      if (m.type === MessageType.MsgVote || m.type === MessageType.MsgPreVote) {
        const force = m.context.equals(campaignTransferCtx);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // Within the lease of a live leader, neither move the term nor grant the vote.
          this.logger.info(
            `${hexId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${hexId(this.vote)}] ignored ${msgName(m.type)} from ${hexId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MessageType.MsgPreVote) {
        // A pre-vote never moves our term.
      } else if (m.type === MessageType.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign at; the term moves when we win.
      } else {
        this.logger.info(
          `${hexId(this.id)} [term: ${this.term}] received a ${msgName(m.type)} message with higher term from ${hexId(m.from)} [term: ${m.term}]`,
        );
        if (
          m.type === MessageType.MsgApp ||
          m.type === MessageType.MsgHeartbeat ||
          m.type === MessageType.MsgSnap
        ) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      if (
        (this.checkQuorum || this.preVote) &&
        (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgApp)
      ) {
        // A leader of an older term still talks to us: tell it our term so it steps down (with
        // check-quorum or pre-vote we may not advance terms through votes).
        this.send(newMessage(MessageType.MsgAppResp, m.from));
      } else if (m.type === MessageType.MsgPreVote) {
        // Reject with our term so that a candidate with a stale term learns of the newer one.
        this.logger.info(
          `${hexId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${hexId(this.vote)}] rejected ${msgName(m.type)} from ${hexId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        const resp = newMessage(MessageType.MsgPreVoteResp, m.from);
        resp.term = this.term;
        resp.reject = true;
        this.send(resp);
      } else {
        this.logger.info(
          `${hexId(this.id)} [term: ${this.term}] ignored a ${msgName(m.type)} message with lower term from ${hexId(m.from)} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (m.type) {
      case MessageType.MsgHup:
        this.hup();
        return;
      case MessageType.MsgVote:
      case MessageType.MsgPreVote:
        this.handleVoteRequest(m);
        return;
      default:
        switch (this.state) {
          case StateType.StateLeader:
            this.stepLeader(m);
            return;
          case StateType.StateCandidate:
          case StateType.StatePreCandidate:
            this.stepCandidate(m);
            return;
          default:
            this.stepFollower(m);
        }
    }
  }

  private hup(): void {
    if (this.state === StateType.StateLeader) {
      this.logger.debug(`${hexId(this.id)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warning(`${hexId(this.id)} is unpromotable and can not campaign; ignoring MsgHup`);
      return;
    }
    // A conf change committed but not applied could change whether we may campaign at all.
    if (this.raftLog.committed > this.raftLog.applied) {
      let ents: Entry[];
      try {
        ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, noLimit);
      } catch (err) {
        this.logger.panic(`unexpected error getting unapplied entries (${(err as Error).message})`);
      }
      const n = countConfChanges(ents);
      if (n !== 0) {
        this.logger.warning(
          `${hexId(this.id)} cannot campaign at term ${this.term} since there are still ${n} pending configuration changes to apply`,
        );
        return;
      }
    }
    this.logger.info(`${hexId(this.id)} is starting a new election at term ${this.term}`);
    this.campaign(this.preVote ? campaignPreElection : campaignElection);
  }

  private handleVoteRequest(m: Message): void {
    // A repeated vote, no vote and no known leader in this term, or a pre-vote for a later term...
    const canVote =
      this.vote === m.from ||
      (this.vote === None && this.lead === None) ||
      (m.type === MessageType.MsgPreVote && m.term > this.term);
    // ...and a candidate at least as up to date as we are. Learners vote too: a learner may have
    // been promoted without knowing it yet.
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      this.logger.info(
        `${this.voteLogPrefix()} cast ${msgName(m.type)} for ${hexId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      // Answer with the message's term: for a pre-vote ours may be older, and the candidate would
      // ignore an answer with a stale term.
      const resp = newMessage(voteRespMsgType(m.type), m.from);
      resp.term = m.term;
      this.send(resp);
      if (m.type === MessageType.MsgVote) {
        // Only real votes are recorded.
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(
        `${this.voteLogPrefix()} rejected ${msgName(m.type)} from ${hexId(m.from)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
      );
      const resp = newMessage(voteRespMsgType(m.type), m.from);
      resp.term = this.term;
      resp.reject = true;
      this.send(resp);
    }
  }

  private voteLogPrefix(): string {
    return `${hexId(this.id)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${hexId(this.vote)}]`;
  }

  private stepLeader(m: Message): void {
    // Messages that do not need the sender's progress.
    switch (m.type) {
      case MessageType.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MessageType.MsgCheckQuorum: {
        // The leader counts itself active (if still a member at all).
        const self = this.prs.progress.get(this.id);
        if (self !== undefined) self.recentActive = true;
        if (!this.prs.quorumActive()) {
          this.logger.warning(`${hexId(this.id)} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, None);
        }
        // Everyone else must prove activity again before the next check.
        for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false;
        return;
      }
      case MessageType.MsgProp:
        this.leaderPropose(m);
        return;
      case MessageType.MsgReadIndex:
        this.leaderReadIndex(m);
        return;
    }

    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug(`${hexId(this.id)} no progress available for ${hexId(m.from)}`);
      return;
    }
    switch (m.type) {
      case MessageType.MsgAppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MessageType.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MessageType.MsgSnapStatus:
        if (pr.state !== ProgressState.StateSnapshot) return;
        if (!m.reject) {
          pr.becomeProbe();
          this.logger.debug(
            `${hexId(this.id)} snapshot succeeded, resumed sending replication messages to ${hexId(m.from)} [${pr.toString()}]`,
          );
        } else {
          // Forget the snapshot first, or probing would start after a snapshot never applied.
          pr.pendingSnapshot = 0;
          pr.becomeProbe();
          this.logger.debug(
            `${hexId(this.id)} snapshot failed, resumed sending replication messages to ${hexId(m.from)} [${pr.toString()}]`,
          );
        }
        // Wait for the follower's MsgAppResp (success) or the next heartbeat (failure) before sending.
        pr.probeSent = true;
        return;
      case MessageType.MsgUnreachable:
        // An optimistic stream to an unreachable peer has probably lost messages.
        if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
        this.logger.debug(
          `${hexId(this.id)} failed to send message to ${hexId(m.from)} because it is unreachable [${pr.toString()}]`,
        );
        return;
      case MessageType.MsgTransferLeader:
        this.handleTransferLeader(m, pr);
        return;
    }
  }

  private leaderPropose(m: Message): void {
    if (m.entries.length === 0) this.logger.panic(`${hexId(this.id)} stepped empty MsgProp`);
    if (!this.prs.progress.has(this.id)) {
      // Removed from the configuration while leading: accept nothing new.
      throw new ProposalDroppedError();
    }
    if (this.leadTransferee !== None) {
      this.logger.debug(
        `${hexId(this.id)} [term ${this.term}] transfer leadership to ${hexId(this.leadTransferee)} is in progress; dropping proposal`,
      );
      throw new ProposalDroppedError();
    }
    const ents = m.entries.slice();
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k];
      let cc: ConfChange | ConfChangeV2 | undefined;
      if (e.type === EntryType.EntryConfChange) cc = ConfChange.decode(e.data);
      else if (e.type === EntryType.EntryConfChangeV2) cc = ConfChangeV2Codec.decode(e.data);
      if (cc === undefined) continue;
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.prs.config.voters.outgoing.ids.size > 0;
      const wantsLeaveJoint = asV2(cc).changes.length === 0;
      let refused = "";
      if (alreadyPending) {
        refused = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        refused = "must transition out of joint config first";
      } else if (!alreadyJoint && wantsLeaveJoint) {
        refused = "not in joint state; refusing empty conf change";
      }
      if (refused !== "") {
        this.logger.info(
          `${hexId(this.id)} ignoring conf change ${confChangeForLog(cc)} at config ${configToString(this.prs.config)}: ${refused}`,
        );
        ents[k] = { type: EntryType.EntryNormal, term: 0, index: 0, data: emptyBuffer };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + k + 1;
      }
    }
    if (!this.appendEntry(ents)) throw new ProposalDroppedError();
    this.bcastAppend();
  }

  private leaderReadIndex(m: Message): void {
    // The only voter: the commit index is already safe to read at.
    if (this.prs.isSingleton()) {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp !== undefined) this.send(resp);
      return;
    }
    // Until an entry of this term commits, our commit index may lag the previous leader's.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReadIndexMessages.push(m);
      return;
    }
    this.sendReadIndexResponse(m);
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      this.logger.debug(
        `${hexId(this.id)} received MsgAppResp(MsgApp was rejected, lastindex: ${m.rejectHint}) from ${hexId(m.from)} for index ${m.index}`,
      );
      if (pr.maybeDecrTo(m.index, m.rejectHint)) {
        this.logger.debug(`${hexId(this.id)} decreased progress of ${hexId(m.from)} to [${pr.toString()}]`);
        if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === ProgressState.StateProbe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.StateSnapshot && pr.match >= pr.pendingSnapshot) {
      this.logger.debug(
        `${hexId(this.id)} recovered from needing snapshot, resumed sending replication messages to ${hexId(m.from)} [${pr.toString()}]`,
      );
      // Through probing, which accounts for the snapshot, so that the status is consistent at once.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.StateReplicate) {
      pr.inflights.freeLE(m.index);
    }

    if (this.maybeCommit()) {
      // An entry of this term committed: pending reads may be answered now.
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      // The follower may have missed the latest commit index while paused.
      this.sendAppend(m.from);
    }
    // Flow control may have opened up: send what we can, without empty commit-only messages.
    while (this.maybeSendAppend(m.from, false)) {
      // keep sending
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info(`${hexId(this.id)} sent MsgTimeoutNow to ${hexId(m.from)} after received MsgAppResp`);
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // Free one slot of a full window so that replication makes progress.
    if (pr.state === ProgressState.StateReplicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);

    if (this.readOnly.option !== ReadOnlyOption.ReadOnlySafe || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined || this.prs.config.voters.voteResult(acks) !== VoteResult.VoteWon) return;
    for (const rs of this.readOnly.advance(m)) {
      const req = rs.req;
      if (req.from === None || req.from === this.id) {
        this.readStates.push({ index: rs.index, requestCtx: req.entries[0].data });
      } else {
        const resp = newMessage(MessageType.MsgReadIndexResp, req.from);
        resp.index = rs.index;
        resp.entries = req.entries;
        this.send(resp);
      }
    }
  }

  private handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) {
      this.logger.debug(`${hexId(this.id)} is learner. Ignored transferring leadership`);
      return;
    }
    const transferee = m.from;
    const last = this.leadTransferee;
    if (last !== None) {
      if (last === transferee) {
        this.logger.info(
          `${hexId(this.id)} [term ${this.term}] transfer leadership to ${hexId(transferee)} is in progress, ignores request to same node ${hexId(transferee)}`,
        );
        return;
      }
      this.abortLeaderTransfer();
      this.logger.info(
        `${hexId(this.id)} [term ${this.term}] abort previous transferring leadership to ${hexId(last)}`,
      );
    }
    if (transferee === this.id) {
      this.logger.debug(`${hexId(this.id)} is already leader. Ignored transferring leadership to self`);
      return;
    }
    this.logger.info(
      `${hexId(this.id)} [term ${this.term}] starts to transfer leadership to ${hexId(transferee)}`,
    );
    // The transfer must complete within one election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(transferee);
      this.logger.info(
        `${hexId(this.id)} sends MsgTimeoutNow to ${hexId(transferee)} immediately as ${hexId(transferee)} already has up-to-date log`,
      );
    } else {
      this.sendAppend(transferee);
    }
  }

  /** Shared by candidates and pre-candidates; each only counts the responses of its own phase. */
  private stepCandidate(m: Message): void {
    const myVoteRespType =
      this.state === StateType.StatePreCandidate ? MessageType.MsgPreVoteResp : MessageType.MsgVoteResp;
    switch (m.type) {
      case MessageType.MsgProp:
        this.logger.info(`${hexId(this.id)} no leader at term ${this.term}; dropping proposal`);
        throw new ProposalDroppedError();
      case MessageType.MsgApp:
        this.becomeFollower(m.term, m.from); // m.term equals ours here
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteRespType: {
        const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject);
        this.logger.info(
          `${hexId(this.id)} has received ${granted} ${msgName(m.type)} votes and ${rejected} vote rejections`,
        );
        if (result === VoteResult.VoteWon) {
          if (this.state === StateType.StatePreCandidate) {
            this.campaign(campaignElection);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.VoteLost) {
          // A pre-vote response carries a future term: stay at ours.
          this.becomeFollower(this.term, None);
        }
        return;
      }
      case MessageType.MsgTimeoutNow:
        this.logger.debug(
          `${hexId(this.id)} [term ${this.term} state ${stateTypeName(this.state)}] ignored MsgTimeoutNow from ${hexId(m.from)}`,
        );
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.MsgProp:
        if (this.lead === None) {
          this.logger.info(`${hexId(this.id)} no leader at term ${this.term}; dropping proposal`);
          throw new ProposalDroppedError();
        }
        if (this.disableProposalForwarding) {
          this.logger.info(
            `${hexId(this.id)} not forwarding to leader ${hexId(this.lead)} at term ${this.term}; dropping proposal`,
          );
          throw new ProposalDroppedError();
        }
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.MsgTransferLeader:
        if (this.lead === None) {
          this.logger.info(`${hexId(this.id)} no leader at term ${this.term}; dropping leader transfer msg`);
          return;
        }
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.MsgTimeoutNow:
        if (this.promotable()) {
          this.logger.info(
            `${hexId(this.id)} [term ${this.term}] received MsgTimeoutNow from ${hexId(m.from)} and starts an election to get leadership.`,
          );
          // A transfer skips pre-vote: the cluster is known to be healthy.
          this.campaign(campaignTransfer);
        } else {
          this.logger.info(
            `${hexId(this.id)} received MsgTimeoutNow from ${hexId(m.from)} but is not promotable`,
          );
        }
        return;
      case MessageType.MsgReadIndex:
        if (this.lead === None) {
          this.logger.info(`${hexId(this.id)} no leader at term ${this.term}; dropping index reading msg`);
          return;
        }
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(
            `${hexId(this.id)} invalid format of MsgReadIndexResp from ${hexId(m.from)}, entries count: ${m.entries.length}`,
          );
          return;
        }
        this.readStates.push({ index: m.index, requestCtx: m.entries[0].data });
        return;
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      const resp = newMessage(MessageType.MsgAppResp, m.from);
      resp.index = this.raftLog.committed;
      this.send(resp);
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      const resp = newMessage(MessageType.MsgAppResp, m.from);
      resp.index = lastNew;
      this.send(resp);
    } else {
      this.logger.debug(
        `${hexId(this.id)} [logterm: ${this.raftLog.termOrZero(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${hexId(m.from)}`,
      );
      const resp = newMessage(MessageType.MsgAppResp, m.from);
      resp.index = m.index;
      resp.reject = true;
      resp.rejectHint = this.raftLog.lastIndex();
      this.send(resp);
    }
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    const resp = newMessage(MessageType.MsgHeartbeatResp, m.from);
    resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    const md = m.snapshot?.metadata;
    const sindex = md?.index ?? 0;
    const sterm = md?.term ?? 0;
    const resp = newMessage(MessageType.MsgAppResp, m.from);
    if (m.snapshot !== undefined && this.restore(m.snapshot)) {
      this.logger.info(
        `${hexId(this.id)} [commit: ${this.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      resp.index = this.raftLog.lastIndex();
    } else {
      this.logger.info(
        `${hexId(this.id)} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      resp.index = this.raftLog.committed;
    }
    this.send(resp);
  }

  /**
   * Resets the log and the configuration to a snapshot. Returns false when the snapshot is
   * ignored: not newer than our commit index, or already matching our log.
   */
  restore(s: Snapshot): boolean {
    const md = s.metadata!;
    if (md.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.StateFollower) {
      // Defense in depth: only followers restore. Move to a new term rather than corrupt state.
      this.logger.warning(`${hexId(this.id)} attempted to restore snapshot as leader; should never happen`);
      this.becomeFollower(this.term + 1, None);
      return false;
    }
    // Defense in depth: a snapshot that does not contain us would leave us without progress.
    const cs = md.confState ?? {
      voters: [],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    };
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id)) {
      this.logger.warning(
        `${hexId(this.id)} attempted to restore snapshot but it is not in the ConfState ${describeConfState(cs)}; should never happen`,
      );
      return false;
    }
    if (this.raftLog.matchTerm(md.index, md.term)) {
      this.logger.info(
        `${hexId(this.id)} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] fast-forwarded commit to snapshot [index: ${md.index}, term: ${md.term}]`,
      );
      this.raftLog.commitTo(md.index);
      return false;
    }
    this.raftLog.restore(s);
    // Rebuild the configuration from the snapshot's.
    this.prs = new ProgressTracker(this.prs.maxInflight);
    const [cfg, prs] = restoreConfig(new Changer(this.prs, this.raftLog.lastIndex()), cs);
    this.assertConfStatesEquivalent(cs, this.switchToConfig(cfg, prs));
    const self = this.prs.progress.get(this.id)!;
    self.maybeUpdate(self.next - 1);
    this.logger.info(
      `${hexId(this.id)} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] restored snapshot [index: ${md.index}, term: ${md.term}]`,
    );
    return true;
  }

  /** Whether this node may become leader: it is a voter of the configuration. */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  /** Applies a configuration change (after the application applied its entry). */
  applyConfChange(cc: ConfChangeV2): ConfState {
    const changer = new Changer(this.prs, this.raftLog.lastIndex());
    let result: [TrackerConfig, ProgressMap];
    if (leaveJointOf(cc)) {
      result = changer.leaveJoint();
    } else {
      const { autoLeave, ok } = enterJointOf(cc);
      result = ok ? changer.enterJoint(autoLeave, cc.changes) : changer.simple(cc.changes);
    }
    return this.switchToConfig(result[0], result[1]);
  }

  /**
   * Installs a new configuration and reacts to it: learner status, and for a leader, commitment
   * under the new quorum and probes for new members.
   */
  switchToConfig(cfg: TrackerConfig, prs: ProgressMap): ConfState {
    this.prs.config = cfg;
    this.prs.progress = prs;
    this.logger.info(`${hexId(this.id)} switched to configuration ${configToString(this.prs.config)}`);
    const cs = this.prs.confState();
    const pr = this.prs.progress.get(this.id);
    this.isLearner = pr?.isLearner === true;

    // A removed (or demoted) leader keeps leading until its term ends, but proposes nothing.
    if ((pr === undefined || this.isLearner) && this.state === StateType.StateLeader) return cs;
    // The rest concerns a leader with peers.
    if (this.state !== StateType.StateLeader || cs.voters.length === 0) return cs;

    if (this.maybeCommit()) {
      // The new quorum committed more: tell everyone.
      this.bcastAppend();
    } else {
      // Probe the new members right away instead of at the next heartbeat or proposal.
      this.prs.visit(this.probeVisitor);
    }
    // Abort a transfer to a node that is gone.
    if (this.leadTransferee !== None && !this.prs.progress.has(this.leadTransferee))
      this.abortLeaderTransfer();
    return cs;
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      this.logger.panic(
        `${hexId(this.id)} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.rand.intn(this.electionTimeout);
  }

  private sendTimeoutNow(to: bigint): void {
    this.send(newMessage(MessageType.MsgTimeoutNow, to));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** Whether the entry at our commit index is of our term. */
  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  /**
   * The answer to a read request at readIndex: a local request becomes a ReadState (and undefined
   * is returned), a remote one a MsgReadIndexResp to send.
   */
  private responseToReadIndexReq(req: Message, readIndex: number): Message | undefined {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0].data });
      return undefined;
    }
    const resp = newMessage(MessageType.MsgReadIndexResp, req.from);
    resp.index = readIndex;
    resp.entries = req.entries;
    return resp;
  }

  private increaseUncommittedSize(ents: readonly Entry[]): boolean {
    let s = 0;
    for (let k = 0; k < ents.length; k++) s += payloadSize(ents[k]);
    // An empty tail accepts any proposal, however large; otherwise the limit applies.
    if (this.uncommittedSize > 0 && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  private reduceUncommittedSize(ents: readonly Entry[]): void {
    // Followers do not track the size.
    if (this.uncommittedSize === 0) return;
    let s = 0;
    for (let k = 0; k < ents.length; k++) s += payloadSize(ents[k]);
    // The estimate may be low but never high: saturate at zero.
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  private releasePendingReadIndexMessages(): void {
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error("pending MsgReadIndex should be released only after first commit in current term");
      return;
    }
    const msgs = this.pendingReadIndexMessages;
    if (msgs.length === 0) return;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendReadIndexResponse(m);
  }

  private sendReadIndexResponse(m: Message): void {
    if (this.readOnly.option === ReadOnlyOption.ReadOnlySafe) {
      // Confirm leadership with a heartbeat round; our own ack counts at once.
      this.readOnly.addRequest(this.raftLog.committed, m);
      this.readOnly.recvAck(this.id, m.entries[0].data);
      this.bcastHeartbeatWithCtx(m.entries[0].data);
    } else {
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp !== undefined) this.send(resp);
    }
  }
}

/** The log no longer (or not yet) holds the entry: the follower needs a snapshot instead. */
function isLogGap(err: unknown): boolean {
  return err instanceof CompactedError || err instanceof UnavailableError;
}

function countConfChanges(ents: readonly Entry[]): number {
  let n = 0;
  // etcd 3.4 counts V1 conf change entries only here.
  for (const e of ents) if (e.type === EntryType.EntryConfChange) n++;
  return n;
}
