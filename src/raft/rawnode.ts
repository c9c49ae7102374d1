// RawNode: the application's handle on one raft state machine. Inputs go in through tick, step,
// propose & co.; everything raft wants done comes out as a Ready, confirmed with advance().
import {
  ConfChange,
  ConfChangeType,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type Snapshot,
} from "../gen/raftpb/raft.js";
import { asV2, marshalConfChange } from "./confchange/conv.js";
import type { SoftState } from "./describe.js";
import { type Config, newMessage, Raft, StepLocalMsgError, StepPeerNotFoundError } from "./raft.js";
import type { ReadState } from "./read_only.js";
import { type BasicStatus, getBasicStatus, getStatus, type Status } from "./status.js";
import {
  emptyBuffer,
  isEmptyHardState,
  isEmptySnap,
  isHardStateEqual,
  isLocalMsg,
  isResponseMsg,
  mustSync,
  None,
} from "./util.js";

export type { SoftState };

/**
 * Everything raft asks the application to do, in this order: persist hardState, entries and
 * snapshot; send messages (a leader may send before persisting); apply committedEntries; then
 * call advance().
 */
export interface Ready {
  /** The new leader/role, present only when it changed. */
  softState?: SoftState;
  /** The state to persist, present only when it changed. */
  hardState?: HardState;
  /** Answers to ReadIndex requests. */
  readStates: ReadState[];
  /** Entries to append to stable storage. */
  entries: Entry[];
  /** A snapshot to persist and apply, when one arrived. */
  snapshot?: Snapshot;
  /** Committed entries to apply to the state machine. */
  committedEntries: Entry[];
  /** Messages to send once entries are persisted. A MsgSnap needs a reportSnapshot() later. */
  messages: Message[];
  /** Whether hardState and entries must be fsynced. */
  mustSync: boolean;
}

export enum SnapshotStatus {
  SnapshotFinish = 1,
  SnapshotFailure = 2,
}

/** A member of the initial configuration given to bootstrap(). */
export interface Peer {
  id: bigint;
  context?: Buffer;
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.raftState === b.raftState;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoftSt: SoftState;
  private prevHardSt: HardState;

  constructor(config: Config) {
    this.raft = new Raft(config);
    this.prevSoftSt = this.raft.softState();
    this.prevHardSt = this.raft.hardState();
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Advances only the election clock, for groups that are deliberately quiet: no heartbeat is
   * sent and no election starts.
   */
  tickQuiesced(): void {
    this.raft.electionElapsed++;
  }

  /** Starts an election (a pre-election with pre-vote). */
  campaign(): void {
    this.raft.step(newMessage(MessageType.MsgHup, None));
  }

  /** Proposes data to be appended; throws ProposalDroppedError when it cannot be. */
  propose(data: Buffer): void {
    const m = newMessage(MessageType.MsgProp, None);
    m.from = this.raft.id;
    m.entries = [{ type: EntryType.EntryNormal, term: 0, index: 0, data }];
    this.raft.step(m);
  }

  /**
   * Proposes several entries in one MsgProp: a leader appends them as one run of consecutive indexes
   * and sends each follower one append for them all; a follower forwards them in one message. All
   * or none: when the proposal is dropped (ProposalDroppedError), none of them was appended.
   */
  proposeMany(data: readonly Buffer[]): void {
    if (data.length === 0) return;
    const m = newMessage(MessageType.MsgProp, None);
    m.from = this.raft.id;
    m.entries = data.map((d) => ({ type: EntryType.EntryNormal, term: 0, index: 0, data: d }));
    this.raft.step(m);
  }

  /**
   * Proposes a configuration change. A V1 change is written as an EntryConfChange entry, a V2
   * change as EntryConfChangeV2.
   */
  proposeConfChange(cc: ConfChange | ConfChangeV2): void {
    const m = newMessage(MessageType.MsgProp, None);
    const { type, data } = marshalConfChange(cc);
    m.entries = [{ type, term: 0, index: 0, data }];
    this.raft.step(m);
  }

  /** Applies a configuration change once its entry is applied; returns the new configuration. */
  applyConfChange(cc: ConfChange | ConfChangeV2): ConfState {
    return this.raft.applyConfChange(asV2(cc));
  }

  /** Hands a message from a peer to raft. */
  step(m: Message): void {
    // Local message types never come from the network.
    if (isLocalMsg(m.type)) throw new StepLocalMsgError();
    if (this.raft.prs.progress.has(m.from) || !isResponseMsg(m.type)) {
      this.raft.step(m);
      return;
    }
    throw new StepPeerNotFoundError();
  }

  /** Collects what is outstanding; the caller must handle it and then call advance(rd). */
  ready(): Ready {
    const r = this.raft;
    const unstable = r.raftLog.unstableEntries();
    const rd: Ready = {
      softState: undefined,
      hardState: undefined,
      readStates: r.readStates,
      // A copy: the unstable tail keeps changing after this Ready is handed out.
      entries: unstable.length === 0 ? [] : unstable.slice(),
      snapshot: undefined,
      committedEntries: r.raftLog.nextEnts(),
      messages: r.msgs,
      mustSync: false,
    };
    const ss = r.softState();
    if (!softStateEqual(ss, this.prevSoftSt)) {
      rd.softState = ss;
      this.prevSoftSt = ss;
    }
    const hs = r.hardState();
    if (!isHardStateEqual(hs, this.prevHardSt)) rd.hardState = hs;
    if (r.raftLog.unstable.snapshot !== undefined) rd.snapshot = r.raftLog.unstable.snapshot;
    rd.mustSync = mustSync(hs, this.prevHardSt, rd.entries.length);
    // Messages and read states now belong to the Ready.
    if (r.readStates.length !== 0) r.readStates = [];
    else rd.readStates = [];
    r.msgs = [];
    return rd;
  }

  /** Whether ready() would return anything. */
  hasReady(): boolean {
    const r = this.raft;
    // Compared field by field: this runs on every loop of the application, so allocate nothing.
    if (r.lead !== this.prevSoftSt.lead || r.state !== this.prevSoftSt.raftState) return true;
    const prev = this.prevHardSt;
    const committed = r.raftLog.committed;
    const hsEmpty = r.term === 0 && r.vote === None && committed === 0;
    if (!hsEmpty && (r.term !== prev.term || r.vote !== prev.vote || committed !== prev.commit)) return true;
    const snap = r.raftLog.unstable.snapshot;
    if (snap !== undefined && !isEmptySnap(snap)) return true;
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0 || r.raftLog.hasNextEnts()) return true;
    return r.readStates.length !== 0;
  }

  /** Confirms that the Ready was handled (persisted, sent, applied). */
  advance(rd: Ready): void {
    if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) this.prevHardSt = rd.hardState;
    this.raft.advance(rd);
  }

  status(): Status {
    return getStatus(this.raft);
  }

  /** The highest log index known to be committed (what basicStatus() reports, without its objects). */
  get committedIndex(): number {
    return this.raft.raftLog.committed;
  }

  /** The status without the progress map and configuration (cheaper). */
  basicStatus(): BasicStatus {
    return getBasicStatus(this.raft);
  }

  /** Tells raft that the last message to `id` could not be delivered. */
  reportUnreachable(id: bigint): void {
    const m = newMessage(MessageType.MsgUnreachable, None);
    m.from = id;
    this.stepIgnoringErrors(m);
  }

  /** Reports how sending a snapshot to `id` ended. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    const m = newMessage(MessageType.MsgSnapStatus, None);
    m.from = id;
    m.reject = status === SnapshotStatus.SnapshotFailure;
    this.stepIgnoringErrors(m);
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: bigint): void {
    const m = newMessage(MessageType.MsgTransferLeader, None);
    m.from = transferee;
    this.stepIgnoringErrors(m);
  }

  /**
   * Requests a read index; the answer arrives as a ReadState carrying rctx. rctx must be unique
   * among pending reads.
   */
  readIndex(rctx: Buffer): void {
    const m = newMessage(MessageType.MsgReadIndex, None);
    m.entries = [{ type: EntryType.EntryNormal, term: 0, index: 0, data: rctx }];
    this.stepIgnoringErrors(m);
  }

  private stepIgnoringErrors(m: Message): void {
    try {
      this.raft.step(m);
    } catch (err) {
      // Only proposals report errors; these requests are best effort as in etcd.
      if (!(err instanceof Error) || err.name !== "ProposalDroppedError") throw err;
    }
  }

  /**
   * Initializes an empty storage's node with the given members: one committed ConfChangeAddNode
   * entry per peer at term 1, already applied to the configuration. The application sees them
   * in the first Ready (entries and committed entries) and applies them again, harmlessly.
   */
  bootstrap(peers: readonly Peer[]): void {
    if (peers.length === 0) throw new Error("must provide at least one peer to Bootstrap");
    const r = this.raft;
    if (r.raftLog.storage.lastIndex() !== 0) throw new Error("can't bootstrap a nonempty Storage");
    // Nothing is persisted yet: the first Ready must carry a HardState.
    this.prevHardSt = { term: 0, vote: None, commit: 0 };
    r.becomeFollower(1, None);
    const ents: Entry[] = peers.map((p, k) => ({
      type: EntryType.EntryConfChange,
      term: 1,
      index: k + 1,
      data: Buffer.from(
        ConfChange.encode({
          id: 0n,
          type: ConfChangeType.ConfChangeAddNode,
          nodeId: p.id,
          context: p.context ?? emptyBuffer,
        }).finish(),
      ),
    }));
    r.raftLog.append(ents);
    // The entries stay unstable until persisted, but they are committed by construction.
    r.raftLog.committed = ents.length;
    for (const p of peers) {
      r.applyConfChange(
        asV2({ id: 0n, type: ConfChangeType.ConfChangeAddNode, nodeId: p.id, context: emptyBuffer }),
      );
    }
  }
}
