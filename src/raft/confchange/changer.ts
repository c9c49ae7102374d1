// Validated configuration changes: simple (one voter at a time) and joint consensus (enter, then leave).
// The Changer computes a new configuration and progress map from copies and never touches the tracker it
// was given; a refused change throws ConfChangeError carrying etcd's reason.
import { type ConfChangeSingle, ConfChangeType } from "../../gen/raftpb/raft.js";
import { MajorityConfig } from "../quorum/majority.js";
import { Progress, type ProgressMap } from "../tracker/progress.js";
import { cloneConfig, type ProgressTracker, type TrackerConfig } from "../tracker/tracker.js";

/** A refused configuration change; the message is etcd's text. */
export class ConfChangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfChangeError";
  }
}

export class Changer {
  /** The current configuration (read, never modified). */
  tracker: ProgressTracker;
  /** New members start with next = lastIndex, so the first probe is at the leader's last index. */
  lastIndex: number;

  constructor(tracker: ProgressTracker, lastIndex: number) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
  }

  /**
   * Enters a joint configuration: the current voters become the outgoing half, and `ccs` are applied to
   * the incoming half. `autoLeave` asks Raft to leave the joint state by itself once possible.
   */
  enterJoint(autoLeave: boolean, ccs: ConfChangeSingle[]): [TrackerConfig, ProgressMap] {
    const [cfg, prs] = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError("config is already joint");
    // An empty config may be built up for bootstrap and tests, but not made joint.
    if (cfg.voters.incoming.ids.size === 0) throw new ConfChangeError("can't make a zero-voter config joint");
    cfg.voters.outgoing = new MajorityConfig(cfg.voters.incoming.ids);
    this.apply(cfg, prs, ccs);
    cfg.autoLeave = autoLeave;
    return checkAndReturn(cfg, prs);
  }

  /**
   * Leaves the joint configuration: the outgoing half is dropped, staged learners become learners, and
   * members that are now in neither the voters nor the learners lose their progress.
   */
  leaveJoint(): [TrackerConfig, ProgressMap] {
    const [cfg, prs] = this.checkAndCopy();
    if (!isJoint(cfg)) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of cfg.learnersNext) {
      cfg.learners.add(id);
      prs.get(id)!.isLearner = true;
    }
    cfg.learnersNext = new Set();
    for (const id of cfg.voters.outgoing.ids) {
      if (!cfg.voters.incoming.ids.has(id) && !cfg.learners.has(id)) prs.delete(id);
    }
    cfg.voters.outgoing = new MajorityConfig();
    cfg.autoLeave = false;
    return checkAndReturn(cfg, prs);
  }

  /** Applies `ccs` without joint consensus; together they may change the voters by at most one. */
  simple(ccs: ConfChangeSingle[]): [TrackerConfig, ProgressMap] {
    const [cfg, prs] = this.checkAndCopy();
    if (isJoint(cfg)) throw new ConfChangeError("can't apply simple config change in joint config");
    this.apply(cfg, prs, ccs);
    if (symmetricDifference(this.tracker.config.voters.incoming.ids, cfg.voters.incoming.ids) > 1) {
      throw new ConfChangeError("more than one voter changed without entering joint config");
    }
    return checkAndReturn(cfg, prs);
  }

  // Voter changes always go to the incoming half; the outgoing half only keeps the old voters while joint.
  private apply(cfg: TrackerConfig, prs: ProgressMap, ccs: ConfChangeSingle[]): void {
    for (const cc of ccs) {
      // A zero node id marks a change the application chose not to apply.
      if (cc.nodeId === 0n) continue;
      switch (cc.type) {
        case ConfChangeType.ConfChangeAddNode:
          this.makeVoter(cfg, prs, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeAddLearnerNode:
          this.makeLearner(cfg, prs, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeRemoveNode:
          this.remove(cfg, prs, cc.nodeId);
          break;
        case ConfChangeType.ConfChangeUpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${cc.type as number}`);
      }
    }
    if (cfg.voters.incoming.ids.size === 0) throw new ConfChangeError("removed all voters");
  }

  private makeVoter(cfg: TrackerConfig, prs: ProgressMap, id: bigint): void {
    const pr = prs.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, prs, id, false);
      return;
    }
    pr.isLearner = false;
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    cfg.voters.incoming.ids.add(id);
  }

  // A voter still in the outgoing half cannot be a learner yet: it is staged in learnersNext until the
  // joint configuration is left. Otherwise it becomes a learner at once.
  private makeLearner(cfg: TrackerConfig, prs: ProgressMap, id: bigint): void {
    const pr = prs.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, prs, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Drop it as an incoming voter but keep its progress.
    this.remove(cfg, prs, id);
    prs.set(id, pr);
    if (cfg.voters.outgoing.ids.has(id)) {
      cfg.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      cfg.learners.add(id);
    }
  }

  // Removes the member from the incoming half and the learners; its progress stays while it still votes
  // in the outgoing half.
  private remove(cfg: TrackerConfig, prs: ProgressMap, id: bigint): void {
    if (!prs.has(id)) return;
    cfg.voters.incoming.ids.delete(id);
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    if (!cfg.voters.outgoing.ids.has(id)) prs.delete(id);
  }

  private initProgress(cfg: TrackerConfig, prs: ProgressMap, id: bigint, isLearner: boolean): void {
    if (isLearner) cfg.learners.add(id);
    else cfg.voters.incoming.ids.add(id);
    prs.set(
      id,
      new Progress({
        match: 0,
        next: this.lastIndex,
        maxInflight: this.tracker.maxInflight,
        isLearner,
        // Counted as active so that check-quorum does not depose the leader before the member has spoken.
        recentActive: true,
      }),
    );
  }

  // Copies the tracker's configuration and progress (each Progress copied, its inflight window shared:
  // only isLearner is changed here) and checks the invariants of the starting point.
  private checkAndCopy(): [TrackerConfig, ProgressMap] {
    const cfg = cloneConfig(this.tracker.config);
    const prs: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) prs.set(id, pr.shallowCopy());
    return checkAndReturn(cfg, prs);
  }
}

/** Checks that a configuration and progress map fit together; throws ConfChangeError otherwise. */
export function checkInvariants(cfg: TrackerConfig, prs: ProgressMap): void {
  for (const ids of [cfg.voters.ids(), cfg.learners, cfg.learnersNext]) {
    for (const id of ids) {
      if (!prs.has(id)) throw new ConfChangeError(`no progress for ${id}`);
    }
  }
  // Staged learners are exactly demoted voters of the outgoing half.
  for (const id of cfg.learnersNext) {
    if (!cfg.voters.outgoing.ids.has(id))
      throw new ConfChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    if (prs.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in LearnersNext, but is already marked as learner`);
    }
  }
  // Learners and voters never overlap.
  for (const id of cfg.learners) {
    if (cfg.voters.outgoing.ids.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[1]`);
    if (cfg.voters.incoming.ids.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[0]`);
    if (!prs.get(id)!.isLearner)
      throw new ConfChangeError(`${id} is in Learners, but is not marked as learner`);
  }
  if (!isJoint(cfg)) {
    if (cfg.learnersNext.size > 0) throw new ConfChangeError("LearnersNext must be nil when not joint");
    if (cfg.autoLeave) throw new ConfChangeError("AutoLeave must be false when not joint");
  }
}

function checkAndReturn(cfg: TrackerConfig, prs: ProgressMap): [TrackerConfig, ProgressMap] {
  checkInvariants(cfg, prs);
  return [cfg, prs];
}

function isJoint(cfg: TrackerConfig): boolean {
  return cfg.voters.outgoing.ids.size > 0;
}

function symmetricDifference(l: ReadonlySet<bigint>, r: ReadonlySet<bigint>): number {
  let n = 0;
  for (const id of l) if (!r.has(id)) n++;
  for (const id of r) if (!l.has(id)) n++;
  return n;
}

/** etcd's Describe of changes: "ConfChangeAddNode(2) ConfChangeRemoveNode(3)". */
export function describeConfChanges(ccs: readonly ConfChangeSingle[]): string {
  return ccs.map((cc) => `${confChangeTypeName(cc.type)}(${cc.nodeId})`).join(" ");
}

function confChangeTypeName(t: ConfChangeType): string {
  switch (t) {
    case ConfChangeType.ConfChangeAddNode:
      return "ConfChangeAddNode";
    case ConfChangeType.ConfChangeRemoveNode:
      return "ConfChangeRemoveNode";
    case ConfChangeType.ConfChangeUpdateNode:
      return "ConfChangeUpdateNode";
    case ConfChangeType.ConfChangeAddLearnerNode:
      return "ConfChangeAddLearnerNode";
    default:
      return String(t as number);
  }
}
