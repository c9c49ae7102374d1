import { BehaviorSubject, Subject } from "rxjs";
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type Snapshot,
} from "../gen/raftpb/raft.js";
import type { RawNode, Ready } from "../raft/rawnode.js";
import type { ReadState } from "../raft/read_only.js";
import { StateType } from "../raft/state.js";
import type { MemoryStorage } from "../raft/storage.js";
import { isEmptySnap, None } from "../raft/util.js";
import type { ProposalListener } from "./pending-proposal.js";

/** Where the raft loop makes its state durable (the WAL). */
export interface DurableLog {
  /**
   * Persists a Ready: its snapshot (when given) first, then hard state and entries, in one synced
   * write. With `mustSync` false (only the commit index moved) the write need not be synced.
   */
  save(
    hardState: HardState | undefined,
    entries: Entry[],
    snapshot?: Snapshot,
    mustSync?: boolean,
    soon?: boolean,
  ): Promise<void>;
}

/** Where the raft loop sends messages for other members; a single member sends nothing. */
export interface MessageSender {
  send(messages: Message[]): void;
}

/** Who leads, as this member sees it. */
export interface Leadership {
  readonly lead: bigint;
  readonly isLeader: boolean;
  readonly term: number;
}

/** What one Ready carried, without the payloads. */
export interface ReadySummary {
  readonly term: number;
  readonly commit: number;
  readonly entries: number;
  readonly committedEntries: number;
  readonly messages: number;
  readonly snapshotIndex: number | undefined;
  readonly persistMs: number;
}

/** A batch of committed entries for the apply loop, with a promise that the batch's Ready is on disk. */
export interface ApplyBatch {
  readonly entries: Entry[];
  readonly snapshot: Snapshot | undefined;
  /** Resolves once the Ready that carried this batch was persisted (a snapshot of the state waits for it). */
  readonly persisted: Promise<void>;
  /**
   * The batch's entries were made durable by earlier Readies: they may be applied while this Ready is
   * written. When false (a single member commits what it appends; a snapshot comes with the Ready),
   * nothing of the batch may be applied before `persisted`: an apply is seen by clients (answers,
   * watch events, reads, leases), and what they saw must survive a crash. A follower's batches are
   * never durable here: it applies after it answered the leader.
   */
  readonly durable: boolean;
  /** Resolved by the apply loop after the batch is applied (a follower's conf change waits for it). */
  readonly applied: () => void;
}

/**
 * The raft half of a member: the RawNode, its in-memory log, and the Ready loop that makes
 * each batch durable, hands committed entries to the apply loop and sends messages, in etcd's order.
 * Inputs (ticks, peer messages, proposals) step the node and then `kick()` the loop; the loop
 * itself runs one Ready at a time (the server drives it through `batchWhileBusy`).
 */
export class RaftNode {
  readonly leadership$: BehaviorSubject<Leadership>;
  readonly readStates$ = new Subject<ReadState>();
  readonly applies$ = new Subject<ApplyBatch>();
  /** A summary of every Ready handled, for observers (the feed, dashboards, tests). */
  readonly readyBatches$ = new Subject<ReadySummary>();
  /** Emits whenever the node may have a Ready; the server's pipeline drains it. */
  readonly kicks$ = new Subject<void>();
  confState: ConfState;

  constructor(
    readonly node: RawNode,
    readonly storage: MemoryStorage,
    private readonly log: DurableLog,
    private readonly sender: MessageSender,
    confState: ConfState,
  ) {
    this.confState = confState;
    this.handedIndex = node.raft.raftLog.applied;
    const st = node.basicStatus();
    this.leadership$ = new BehaviorSubject<Leadership>({
      lead: st.softState.lead,
      isLeader: st.softState.raftState === StateType.StateLeader,
      term: st.hardState.term,
    });
  }

  kick(): void {
    this.kicks$.next();
  }

  tick(): void {
    this.node.tick();
    this.kick();
  }

  step(m: Message): void {
    this.node.step(m);
    if (m.type === MessageType.MsgAppResp) this.applyCommittedEarly();
    this.kick();
  }

  /** The last index handed to the apply loop, by a Ready or by `applyCommittedEarly`. */
  private handedIndex: number;

  /**
   * A leader hands what a quorum's acknowledgement just committed to the apply loop at once, when its
   * own log holds it durably (written by an earlier Ready, in the in-memory log): the Ready that
   * carries it comes only after the write under way, and under many clients one always is, so each
   * commit waited for the next batch's sync as well (three members, 64 clients on two busy cores:
   * 1-30 ms after the quorum had it, the most in the slowest rounds). That Ready then hands over only
   * what is left. A conf change waits for its Ready, which applies it before the next.
   */
  private applyCommittedEarly(): void {
    if (!this.leadership$.value.isLeader) return;
    const log = this.node.raft.raftLog;
    // entries below the unstable offset are the stored ones (a pending rewrite of them would not be)
    const hi = Math.min(log.committed, log.unstable.offset - 1, this.storage.lastIndex());
    if (hi <= this.handedIndex || this.handedIndex + 1 < this.storage.firstIndex()) return;
    let entries = this.storage.entries(this.handedIndex + 1, hi + 1, log.maxNextEntsSize);
    let normal = 0;
    while (normal < entries.length && entries[normal].type === EntryType.EntryNormal) normal++;
    if (normal === 0) return;
    if (normal < entries.length) entries = entries.slice(0, normal);
    this.handedIndex = entries[normal - 1].index;
    this.applies$.next({ entries, snapshot: undefined, persisted: DURABLE, durable: true, applied: ignore });
  }

  /** The committed entries of a Ready that were not handed over early. */
  private unhanded(committed: Entry[]): Entry[] {
    if (committed.length === 0 || committed[0].index > this.handedIndex) return committed;
    let from = 0;
    while (from < committed.length && committed[from].index <= this.handedIndex) from++;
    return committed.slice(from);
  }

  /**
   * Proposes data. Proposals made during one turn of the event loop are stepped into raft together at
   * its end (or when a Ready is taken first), as runs of entries in one MsgProp each: the leader
   * appends a run at once and sends each follower one append for it, where one proposal at a time
   * cost a step, an append and a broadcast each. `dropped` hears why raft refused the proposal
   * (ProposalDroppedError: no leader, a leader transfer, the uncommitted limit): a function, or an object
   * (a pending proposal hears it itself, without a closure per proposal).
   */
  propose(data: Buffer, dropped: ((err: unknown) => void) | ProposalListener): void {
    this.gatheredData.push(data);
    this.gatheredDropped.push(dropped);
    if (this.gatheredData.length === 1) setImmediate(this.stepGatheredSoon);
  }

  /** Proposals of this turn, not yet stepped into raft: their data, and who hears of a refusal. */
  private gatheredData: Buffer[] = [];
  private gatheredDropped: Array<((err: unknown) => void) | ProposalListener> = [];
  private readonly stepGatheredSoon = (): void => {
    if (this.stepGathered()) this.kick();
  };

  /**
   * Steps the gathered proposals, in runs of at most raft's message size (one append carries a run);
   * false when there were none.
   */
  private stepGathered(): boolean {
    const data = this.gatheredData;
    if (data.length === 0) return false;
    const dropped = this.gatheredDropped;
    this.gatheredData = [];
    this.gatheredDropped = [];
    const limit = this.node.raft.maxMsgSize;
    let from = 0;
    while (from < data.length) {
      let to = from + 1;
      let bytes = data[from].length;
      while (to < data.length && bytes + data[to].length <= limit) bytes += data[to++].length;
      try {
        this.node.proposeMany(from === 0 && to === data.length ? data : data.slice(from, to));
      } catch (err) {
        for (let i = from; i < to; i++) {
          const d = dropped[i];
          if (typeof d === "function") d(err);
          else d.dropped(err);
        }
      }
      from = to;
    }
    return true;
  }

  readIndex(ctx: Buffer): void {
    this.node.readIndex(ctx);
    this.kick();
  }

  /** Handles every Ready the node has, one after the other. */
  async drain(): Promise<void> {
    try {
      for (;;) {
        // what was proposed so far in this turn goes with the next Ready
        this.stepGathered();
        if (!this.node.hasReady()) return;
        const rd = this.node.ready();
        await this.handle(rd);
        this.node.advance(rd);
      }
    } finally {
      this.releasePersisted();
    }
  }

  /**
   * A lone member's `persisted` mark of the Ready last written, held until the next Ready's write has
   * started: the batch it lets apply then runs while that write syncs, instead of ahead of it.
   */
  private heldPersisted: (() => void) | undefined;

  private releasePersisted(): void {
    const mark = this.heldPersisted;
    this.heldPersisted = undefined;
    mark?.();
  }

  private async handle(rd: Ready): Promise<void> {
    // 1. leadership and read states first: waiters react before the batch lands
    if (rd.softState) {
      const term = rd.hardState?.term ?? this.leadership$.value.term;
      this.leadership$.next({
        lead: rd.softState.lead,
        isLeader: rd.softState.raftState === StateType.StateLeader,
        term,
      });
    } else if (rd.hardState && rd.hardState.term !== this.leadership$.value.term) {
      this.leadership$.next({ ...this.leadership$.value, term: rd.hardState.term });
    }
    for (const rs of rd.readStates) this.readStates$.next(rs);

    // 2. committed entries go to the apply loop now. Entries an earlier Ready made durable are applied
    //    while this one is written (as etcd does); entries this Ready writes itself, and a snapshot,
    //    wait for `persisted`
    let markPersisted!: () => void;
    const persisted = new Promise<void>((resolve) => (markPersisted = resolve));
    const hasSnapshot = !isEmptySnap(rd.snapshot);
    const committed = this.unhanded(rd.committedEntries);
    if (rd.committedEntries.length > 0)
      this.handedIndex = Math.max(
        this.handedIndex,
        rd.committedEntries[rd.committedEntries.length - 1].index,
      );
    if (hasSnapshot) this.handedIndex = Math.max(this.handedIndex, rd.snapshot?.metadata?.index ?? 0);
    const hasWork = committed.length > 0 || hasSnapshot;
    // only a conf change waits for its batch's apply (one promise fewer for every other Ready)
    const confChange = hasWork && hasConfChange(committed);
    let markApplied = ignore;
    const appliedPromise = confChange ? new Promise<void>((resolve) => (markApplied = resolve)) : undefined;
    if (hasWork) {
      this.applies$.next({
        entries: committed,
        snapshot: rd.snapshot,
        persisted,
        // a follower applies once its answer is out: on one thread an apply running when the write
        // ends holds back the acknowledgement the leader's commit waits for
        durable: this.leadership$.value.isLeader && !hasSnapshot && !writesCommitted(rd),
        applied: markApplied,
      });
    }

    // 3. the leader sends before its own disk write, so replication overlaps it. The transport writes at
    //    the end of this turn, after the apply queued above has answered its clients: written first, the
    //    appends woke the followers onto the CPU the leader's apply needed (put with 256 clients, three
    //    members on two cores: 0.59 of the throughput, twice the p99)
    const isLeader = this.leadership$.value.isLeader;
    if (isLeader && rd.messages.length > 0) this.sender.send(rd.messages);

    // 4. durable: hard state + entries (+ snapshot) in one write, synced before going on
    const snapshot = rd.snapshot && !isEmptySnap(rd.snapshot) ? rd.snapshot : undefined;
    const persistStarted = this.readyBatches$.observed ? performance.now() : 0;
    const saved =
      snapshot || rd.hardState || rd.entries.length > 0
        ? this.log.save(
            rd.hardState,
            rd.entries,
            snapshot,
            this.mustSync(rd, snapshot),
            // a member of a cluster writes at once (a leader after its appends); a lone member's
            // saves gather until the check phase
            !isLeader || rd.messages.length > 0,
          )
        : undefined;
    // the write has started (a big one syncs on the thread pool): the Ready before it is applied now
    this.releasePersisted();
    await saved;
    const persistMs = this.readyBatches$.observed ? performance.now() - persistStarted : 0;
    if (snapshot) this.storage.applySnapshot(snapshot);
    if (rd.hardState) this.storage.setHardState(rd.hardState);

    // 5. the in-memory log follows the durable one
    if (rd.entries.length > 0) this.storage.append(rd.entries);

    // 6. a follower answers only once durable, and before a batch that waited for this write is
    //    applied: that apply goes on in a promise continuation queued by markPersisted, which must not
    //    run ahead of the transport's write of the answer (queued by send). A conf change is applied
    //    before the next Ready.
    //    A lone member (a leader with nothing to send) holds the mark until the next Ready's write has
    //    started, or the loop found no Ready: the apply then overlaps that write's sync, where it held
    //    the next write back by its whole length (etcd applies in a goroutine of its own)
    try {
      if (!isLeader && rd.messages.length > 0) this.sender.send(rd.messages);
    } finally {
      if (isLeader && rd.messages.length === 0 && hasWork && !hasSnapshot && !confChange)
        this.heldPersisted = markPersisted;
      else markPersisted();
    }
    if (appliedPromise !== undefined) await appliedPromise;
    if (this.readyBatches$.observed) {
      this.readyBatches$.next({
        term: this.leadership$.value.term,
        commit: rd.hardState?.commit ?? this.storage.initialState().hardState.commit,
        entries: rd.entries.length,
        committedEntries: rd.committedEntries.length,
        messages: rd.messages.length,
        snapshotIndex: snapshot?.metadata?.index,
        persistMs,
      });
    }
  }

  /** etcd's MustSync: new entries, a snapshot, or a new term or vote must be durable before going on. */
  private mustSync(rd: Ready, snapshot: Snapshot | undefined): boolean {
    if (snapshot || rd.entries.length > 0 || !rd.hardState) return true;
    const prev = this.storage.initialState().hardState;
    return rd.hardState.term !== prev.term || rd.hardState.vote !== prev.vote;
  }

  get lead(): bigint {
    return this.leadership$.value.lead;
  }

  get hasLeader(): boolean {
    return this.leadership$.value.lead !== None;
  }
}

/** An apply's `applied` when nobody waits for it. */
function ignore(): void {}

/** The `persisted` of a batch its member held durably already. */
const DURABLE: Promise<void> = Promise.resolve();

/** Whether some entry is a conf change (anything but a normal entry). */
function hasConfChange(entries: readonly Entry[]): boolean {
  for (const e of entries) if (e.type !== EntryType.EntryNormal) return true;
  return false;
}

/**
 * Whether some committed entry of the Ready is among the entries it writes (etcd's shouldWaitWALSync):
 * a single member commits an entry as it appends it, before any disk has it. Both runs are in index
 * order with terms that never go down, so comparing the last committed entry with the first written
 * one is enough.
 */
export function writesCommitted(rd: Pick<Ready, "committedEntries" | "entries">): boolean {
  const committed = rd.committedEntries;
  if (committed.length === 0 || rd.entries.length === 0) return false;
  const last = committed[committed.length - 1];
  const first = rd.entries[0];
  return last.term > first.term || (last.term === first.term && last.index >= first.index);
}
