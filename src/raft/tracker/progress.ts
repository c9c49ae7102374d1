// The leader's view of one follower: what it has (match), what to send next (next), and how to send it.
import { Inflights } from "./inflights.js";
import { ProgressState, progressStateName } from "./state.js";

export interface ProgressInit {
  match?: number;
  next?: number;
  state?: ProgressState;
  pendingSnapshot?: number;
  recentActive?: boolean;
  probeSent?: boolean;
  /** The inflight window; a fresh one of `maxInflight` slots when absent. */
  inflights?: Inflights;
  maxInflight?: number;
  isLearner?: boolean;
}

export class Progress {
  /** Highest index known to be replicated on the follower. */
  match: number;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState;
  /** In StateSnapshot, the index of the snapshot being sent; 0 otherwise. */
  pendingSnapshot: number;
  /** Set when the follower was heard from recently (reset by check-quorum every election timeout). */
  recentActive: boolean;
  /** In StateProbe, an append is outstanding: pause until it is answered or a heartbeat goes out. */
  probeSent: boolean;
  inflights: Inflights;
  isLearner: boolean;

  constructor(init: ProgressInit = {}) {
    this.match = init.match ?? 0;
    this.next = init.next ?? 0;
    this.state = init.state ?? ProgressState.StateProbe;
    this.pendingSnapshot = init.pendingSnapshot ?? 0;
    this.recentActive = init.recentActive ?? false;
    this.probeSent = init.probeSent ?? false;
    this.inflights = init.inflights ?? new Inflights(init.maxInflight ?? 0);
    this.isLearner = init.isLearner ?? false;
  }

  /** Enters `state`, clearing probeSent, pendingSnapshot and the inflight window. */
  resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** The follower accepted an append: appends may flow again without waiting for a heartbeat. */
  probeAcked(): void {
    this.probeSent = false;
  }

  /** Back to probing from match+1 (or after the snapshot just sent, if that is further). */
  becomeProbe(): void {
    if (this.state === ProgressState.StateSnapshot) {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState(ProgressState.StateProbe);
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState(ProgressState.StateProbe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.StateReplicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshoti: number): void {
    this.resetState(ProgressState.StateSnapshot);
    this.pendingSnapshot = snapshoti;
  }

  /**
   * Records an acknowledgement of index `n` (from MsgAppResp). Returns false when it is older than what is
   * already known; next never falls below n+1 either way.
   */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeAcked();
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /** Entries up to `n` are on their way: send from n+1 next. */
  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /**
   * Handles a rejected append at index `rejected`, the follower's last index being `matchHint`.
   * Returns false (changing nothing) when the rejection is stale: out-of-order or duplicated messages.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.StateReplicate) {
      // Already acknowledged: a late rejection.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Probes go one at a time, so a genuine rejection is for next-1.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  /** Whether sending appends is throttled right now. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.StateProbe:
        return this.probeSent;
      case ProgressState.StateReplicate:
        return this.inflights.full();
      case ProgressState.StateSnapshot:
        return true;
      default:
        throw new Error("unexpected state");
    }
  }

  /** etcd's form, e.g. "StateReplicate match=5 next=6 paused inflight=2[full]". */
  toString(): string {
    let s = `${progressStateName(this.state)} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += " learner";
    if (this.isPaused()) s += " paused";
    if (this.pendingSnapshot > 0) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += " inactive";
    const n = this.inflights.count();
    if (n > 0) {
      s += ` inflight=${n}`;
      if (this.inflights.full()) s += "[full]";
    }
    return s;
  }

  /** A copy sharing nothing with this one (the inflight window is copied too). */
  clone(): Progress {
    return this.shallowCopy(this.inflights.clone());
  }

  /** A copy of the fields that keeps `inflights` (the same window object unless one is given). */
  shallowCopy(inflights: Inflights = this.inflights): Progress {
    return new Progress({
      match: this.match,
      next: this.next,
      state: this.state,
      pendingSnapshot: this.pendingSnapshot,
      recentActive: this.recentActive,
      probeSent: this.probeSent,
      inflights,
      isLearner: this.isLearner,
    });
  }
}

export type ProgressMap = Map<bigint, Progress>;

/** One "id: progress" line per entry, ascending by id (etcd's ProgressMap String). */
export function describeProgressMap(m: ProgressMap): string {
  const ids = [...m.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let out = "";
  for (const id of ids) out += `${id}: ${m.get(id)!.toString()}\n`;
  return out;
}
