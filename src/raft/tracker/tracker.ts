// The active configuration and what the leader knows about every member of it.
import type { ConfState } from "../../gen/raftpb/raft.js";
import { JointConfig } from "../quorum/joint.js";
import { MajorityConfig } from "../quorum/majority.js";
import { type AckedIndexer, compareIds, VoteResult } from "../quorum/types.js";
import type { Progress, ProgressMap } from "./progress.js";

export interface TrackerConfig {
  voters: JointConfig;
  /** While joint: leave the joint configuration automatically once it is committed. */
  autoLeave: boolean;
  /** Learners of the configuration. Never overlaps either half of `voters`. */
  learners: Set<bigint>;
  /**
   * Outgoing voters to become learners when the joint configuration is left (a demotion cannot make them
   * learners while they still vote in the outgoing half).
   */
  learnersNext: Set<bigint>;
}

export function emptyConfig(): TrackerConfig {
  return { voters: new JointConfig(), autoLeave: false, learners: new Set(), learnersNext: new Set() };
}

/** etcd's form: "voters=(1 2 3)&&(1) learners=(4) learners_next=(5) autoleave" (empty sets left out). */
export function configToString(c: TrackerConfig): string {
  let s = `voters=${c.voters.toString()}`;
  if (c.learners.size > 0) s += ` learners=${new MajorityConfig(c.learners).toString()}`;
  if (c.learnersNext.size > 0) s += ` learners_next=${new MajorityConfig(c.learnersNext).toString()}`;
  if (c.autoLeave) s += " autoleave";
  return s;
}

export function cloneConfig(c: TrackerConfig): TrackerConfig {
  return {
    voters: c.voters.clone(),
    autoLeave: c.autoLeave,
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
  };
}

function sortedIds(s: Iterable<bigint>): bigint[] {
  return [...s].sort(compareIds);
}

export class ProgressTracker {
  config: TrackerConfig = emptyConfig();
  progress: ProgressMap = new Map();
  votes: Map<bigint, boolean> = new Map();
  /** Size of the inflight window of every new Progress. */
  maxInflight: number;
  // Reads match indexes straight from `progress` (whichever map it currently is), allocated once.
  private readonly matchIndexer: AckedIndexer = { ackedIndex: (id) => this.progress.get(id)?.match };

  constructor(maxInflight: number) {
    this.maxInflight = maxInflight;
  }

  /** The active configuration as a ConfState (every list ascending). */
  confState(): ConfState {
    return {
      voters: this.config.voters.incoming.slice(),
      votersOutgoing: this.config.voters.outgoing.slice(),
      learners: sortedIds(this.config.learners),
      learnersNext: sortedIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /** Exactly one voter and not joint. */
  isSingleton(): boolean {
    return this.config.voters.incoming.ids.size === 1 && this.config.voters.outgoing.ids.size === 0;
  }

  /** The largest index acknowledged by a quorum of the voters (by their match indexes). */
  committed(): number {
    return this.config.voters.committedIndex(this.matchIndexer);
  }

  /** Calls `f` for every tracked member, ascending by id. */
  visit(f: (id: bigint, pr: Progress) => void): void {
    const ids = sortedIds(this.progress.keys());
    for (const id of ids) f(id, this.progress.get(id)!);
  }

  /** Whether the voters that were recently active form a quorum. */
  quorumActive(): boolean {
    const votes = new Map<bigint, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    });
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  /** Voters of either half, ascending. */
  voterNodes(): bigint[] {
    return sortedIds(this.config.voters.ids());
  }

  /** Learners, ascending. */
  learnerNodes(): bigint[] {
    return sortedIds(this.config.learners);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records the vote of `id` (yes when `v`); only the first vote of each member counts. */
  recordVote(id: bigint, v: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, v);
  }

  /** Counts the votes of tracked voters and decides the election under the current configuration. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
