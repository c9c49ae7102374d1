/**
 * The Raft safety invariants, checked by the simulator after every step. The checker keeps the cluster-wide
 * history it needs (leaders per term, the committed log, what was applied where, votes granted) and throws an
 * InvariantViolation as soon as one property fails; the simulator turns that into a failure naming the seed.
 */
import type { ConfState, Entry, HardState } from "../../../src/gen/raftpb/raft.js";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

/** What identifies an entry's content: term, type and payload bytes. */
export function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${e.data.toString("latin1")}`;
}

/** A 32-bit rolling hash of the applied sequence, carried in snapshots so that a restored state can be checked. */
export function chainHash(prev: number, index: number, key: string): number {
  let h = (prev ^ Math.imul(index, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h = Math.imul(h ^ key.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h;
}

export function confStateKey(cs: ConfState): string {
  const sorted = (ids: bigint[]): string =>
    [...ids]
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map(String)
      .join(",");
  return `voters=${sorted(cs.voters)} learners=${sorted(cs.learners)} outgoing=${sorted(cs.votersOutgoing)} next=${sorted(cs.learnersNext)} auto=${cs.autoLeave}`;
}

interface LogPoint {
  key: string;
  prevTerm: number;
}

/** A read that was issued and not yet answered: its answer must be at least `floor`. */
interface PendingRead {
  floor: number;
  node: bigint;
  answered: boolean;
}

export class InvariantChecker {
  /** term -> the node that was leader in it. */
  private readonly leaders = new Map<number, bigint>();
  /** `${index}:${term}` -> content and predecessor term of every entry ever made durable. */
  private readonly durablePoints = new Map<string, LogPoint>();
  /** committed[i] is the key of the committed entry at index i (index 0 unused). */
  private readonly committed: string[] = [""];
  /** applied[i] is the key applied at index i by the first node that applied it. */
  private readonly applied: string[] = [""];
  /** appliedHash[i]: chain hash of the applied sequence 1..i. */
  private readonly appliedHash: number[] = [0];
  /** conf-change index -> the ConfState the first applier got. */
  private readonly confAt = new Map<number, string>();
  /** `${node}:${term}` -> the candidate that node granted its vote to. */
  private readonly votesGranted = new Map<string, bigint>();
  /** node -> last durable hard state. */
  private readonly durableHard = new Map<bigint, HardState>();
  /** node -> highest in-memory commit index seen in the node's current life. */
  private readonly memoryCommit = new Map<bigint, number>();
  private readonly reads = new Map<string, PendingRead>();
  readsAnswered = 0;

  /** The length of the committed prefix known to the checker (the highest durably committed index). */
  committedIndex(): number {
    return this.committed.length - 1;
  }

  committedKey(index: number): string | undefined {
    return this.committed[index];
  }

  /** The hash of the applied sequence up to `index`, when some node applied that far. */
  appliedHashAt(index: number): number | undefined {
    return index < this.appliedHash.length ? this.appliedHash[index] : undefined;
  }

  /** At most one leader per term. */
  observeRole(node: bigint, term: number, isLeader: boolean): void {
    if (!isLeader) return;
    const known = this.leaders.get(term);
    if (known === undefined) this.leaders.set(term, node);
    else if (known !== node) {
      throw new InvariantViolation("election safety", `term ${term} has two leaders: ${known} and ${node}`);
    }
  }

  /** Commit indexes never go back within one life of a node (its in-memory raft state). */
  observeMemoryCommit(node: bigint, commit: number): void {
    const prev = this.memoryCommit.get(node) ?? 0;
    if (commit < prev) {
      throw new InvariantViolation(
        "commit monotonic",
        `node ${node} commit went back from ${prev} to ${commit}`,
      );
    }
    this.memoryCommit.set(node, commit);
  }

  /** A restarted node starts from its durable commit: that is its new floor. */
  observeRestart(node: bigint, durableCommit: number, memoryCommit: number): void {
    if (memoryCommit < durableCommit) {
      throw new InvariantViolation(
        "commit monotonic",
        `node ${node} restarted with commit ${memoryCommit} below its durable commit ${durableCommit}`,
      );
    }
    this.memoryCommit.set(node, memoryCommit);
  }

  /** A node grants its vote at most once per term, across restarts (checked on the MsgVoteResp it sends). */
  observeVoteGranted(voter: bigint, term: number, candidate: bigint): void {
    const k = `${voter}:${term}`;
    const prev = this.votesGranted.get(k);
    if (prev === undefined) this.votesGranted.set(k, candidate);
    else if (prev !== candidate) {
      throw new InvariantViolation(
        "vote once per term",
        `node ${voter} voted twice in term ${term}: for ${prev} and for ${candidate}`,
      );
    }
  }

  /**
   * A hard state was made durable: term never decreases, a vote never changes within a term, commit never
   * goes back (across restarts, since this is the durable record).
   */
  observeDurableHardState(node: bigint, hs: HardState): void {
    const prev = this.durableHard.get(node);
    if (prev !== undefined) {
      if (hs.term < prev.term) {
        throw new InvariantViolation(
          "durable term",
          `node ${node} term went back from ${prev.term} to ${hs.term}`,
        );
      }
      if (hs.term === prev.term && prev.vote !== 0n && hs.vote !== prev.vote) {
        throw new InvariantViolation(
          "durable vote",
          `node ${node} changed its durable vote in term ${hs.term} from ${prev.vote} to ${hs.vote}`,
        );
      }
      if (hs.commit < prev.commit) {
        throw new InvariantViolation(
          "commit monotonic",
          `node ${node} durable commit went back from ${prev.commit} to ${hs.commit}`,
        );
      }
    }
    this.durableHard.set(node, { ...hs });
  }

  /**
   * An entry became durable on a node with `prevTerm` the term of its predecessor in that node's log.
   * Log matching: the same (index, term) anywhere means the same content and the same predecessor, so by
   * induction the same prefix. (A lagging node may hold a stale entry at an index that is committed elsewhere;
   * what it may not do is drop or replace the committed entry once it holds it: see observeDurableLoss.)
   */
  observeDurableEntry(node: bigint, e: Entry, prevTerm: number): void {
    const k = entryKey(e);
    const pointKey = `${e.index}:${e.term}`;
    const known = this.durablePoints.get(pointKey);
    if (known === undefined) this.durablePoints.set(pointKey, { key: k, prevTerm });
    else if (known.key !== k || known.prevTerm !== prevTerm) {
      throw new InvariantViolation(
        "log matching",
        `node ${node} stored index ${e.index} term ${e.term} with content ${JSON.stringify(k)} after term ${prevTerm}, ` +
          `elsewhere it is ${JSON.stringify(known.key)} after term ${known.prevTerm}`,
      );
    }
  }

  /** A node's durable log dropped or replaced entry `e` (a conflicting tail was cut): it must not be a committed one. */
  observeDurableLoss(node: bigint, e: Entry): void {
    if (this.committed[e.index] === entryKey(e)) {
      throw new InvariantViolation(
        "committed entries are permanent",
        `node ${node} dropped committed entry ${e.index} (term ${e.term}) from its durable log`,
      );
    }
  }

  /**
   * A node made commit index `commit` durable and holds `keyAt(i)` at each index up to it (undefined when
   * compacted). Extends the committed log, or checks it where it is known.
   */
  observeDurableCommit(
    node: bigint,
    from: number,
    commit: number,
    keyAt: (i: number) => string | undefined,
  ): void {
    for (let i = from; i <= commit; i++) {
      const k = keyAt(i);
      if (k === undefined) continue;
      const c = this.committed[i];
      if (c === undefined) {
        if (i !== this.committed.length) {
          throw new InvariantViolation(
            "committed entries are permanent",
            `node ${node} committed index ${i} but the committed log only reaches ${this.committedIndex()}`,
          );
        }
        this.committed.push(k);
      } else if (c !== k) {
        throw new InvariantViolation(
          "committed entries are permanent",
          `node ${node} has ${JSON.stringify(k)} at committed index ${i}, the committed entry is ${JSON.stringify(c)}`,
        );
      }
    }
  }

  /** A durable snapshot must describe a committed point. */
  observeDurableSnapshot(node: bigint, index: number, term: number): void {
    const c = this.committed[index];
    if (c === undefined) {
      throw new InvariantViolation(
        "snapshot of committed state",
        `node ${node} stored a snapshot at ${index} beyond the committed index ${this.committedIndex()}`,
      );
    }
    if (!c.startsWith(`${term}/`)) {
      throw new InvariantViolation(
        "snapshot of committed state",
        `node ${node} stored a snapshot at ${index} term ${term}, committed entry there is ${JSON.stringify(c)}`,
      );
    }
  }

  /** State machine safety: every node applies the same entry at the same index, and only committed ones. */
  observeApply(node: bigint, e: Entry, hashAfter: number): void {
    const k = entryKey(e);
    const c = this.committed[e.index];
    if (c === undefined) {
      throw new InvariantViolation(
        "apply only committed",
        `node ${node} applied index ${e.index} beyond the committed index ${this.committedIndex()}`,
      );
    }
    if (c !== k) {
      throw new InvariantViolation(
        "state machine safety",
        `node ${node} applied ${JSON.stringify(k)} at ${e.index}, committed is ${JSON.stringify(c)}`,
      );
    }
    const a = this.applied[e.index];
    if (a === undefined) {
      this.applied[e.index] = k;
      this.appliedHash[e.index] = hashAfter;
    } else if (a !== k || this.appliedHash[e.index] !== hashAfter) {
      throw new InvariantViolation(
        "state machine safety",
        `node ${node} applied ${JSON.stringify(k)} at ${e.index}, another node applied ${JSON.stringify(a)}`,
      );
    }
  }

  /** A state machine restored from a snapshot must equal the one that applying the log produced. */
  observeSnapshotRestore(node: bigint, index: number, hash: number): void {
    const expected = this.appliedHash[index];
    if (expected !== undefined && expected !== hash) {
      throw new InvariantViolation(
        "state machine safety",
        `node ${node} restored a snapshot at ${index} whose state differs from the applied log`,
      );
    }
  }

  /** Every node that applies a configuration change gets the same configuration. Returns true for the first. */
  observeConfChange(node: bigint, index: number, cs: ConfState): boolean {
    const k = confStateKey(cs);
    const known = this.confAt.get(index);
    if (known === undefined) {
      this.confAt.set(index, k);
      return true;
    }
    if (known !== k) {
      throw new InvariantViolation(
        "configuration agreement",
        `node ${node} got ${k} applying the change at ${index}, another node got ${known}`,
      );
    }
    return false;
  }

  /** A read issued now must not be answered below what is committed now. */
  observeReadIssued(ctx: string, node: bigint): void {
    this.reads.set(ctx, { floor: this.committedIndex(), node, answered: false });
  }

  observeReadAnswered(ctx: string, node: bigint, index: number): void {
    const r = this.reads.get(ctx);
    if (r === undefined) return; // a context the checker did not issue
    if (index < r.floor) {
      throw new InvariantViolation(
        "linearizable ReadIndex",
        `read ${JSON.stringify(ctx)} issued at node ${r.node} after index ${r.floor} was committed was answered at node ${node} with index ${index}`,
      );
    }
    // A duplicated request can be answered twice; count it once.
    if (!r.answered) this.readsAnswered++;
    r.answered = true;
  }

  readAnswered(ctx: string): boolean {
    return this.reads.get(ctx)?.answered ?? false;
  }
}
