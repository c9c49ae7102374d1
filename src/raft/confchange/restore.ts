// Rebuilds a configuration from a ConfState (after a snapshot or at start-up) by replaying changes.
import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../../gen/raftpb/raft.js";
import type { ProgressMap } from "../tracker/progress.js";
import { ProgressTracker, type TrackerConfig } from "../tracker/tracker.js";
import { Changer } from "./changer.js";

/**
 * The changes that rebuild `cs` from an empty configuration: `outgoing` makes the outgoing voters the
 * (temporary) sole config one by one; `incoming`, applied when entering the joint state, removes them again
 * and adds the incoming voters, the learners and the staged learners.
 */
function toConfChangeSingles(cs: ConfState): { outgoing: ConfChangeSingle[]; incoming: ConfChangeSingle[] } {
  const change = (type: ConfChangeType, nodeId: bigint): ConfChangeSingle => ({ type, nodeId });
  const outgoing = cs.votersOutgoing.map((id) => change(ConfChangeType.ConfChangeAddNode, id));
  const incoming = [
    ...cs.votersOutgoing.map((id) => change(ConfChangeType.ConfChangeRemoveNode, id)),
    ...cs.voters.map((id) => change(ConfChangeType.ConfChangeAddNode, id)),
    ...cs.learners.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
    ...cs.learnersNext.map((id) => change(ConfChangeType.ConfChangeAddLearnerNode, id)),
  ];
  return { outgoing, incoming };
}

/**
 * Applies the configuration described by `cs` on top of the changer's (empty) configuration and returns
 * the result. The changer's tracker is left as it was. Throws ConfChangeError if a step is refused.
 */
export function restore(chg: Changer, cs: ConfState): [TrackerConfig, ProgressMap] {
  const { outgoing, incoming } = toConfChangeSingles(cs);
  // Work on a tracker of our own so that each step sees the previous one's result.
  const tracker = new ProgressTracker(chg.tracker.maxInflight);
  tracker.config = chg.tracker.config;
  tracker.progress = chg.tracker.progress;
  const work = new Changer(tracker, chg.lastIndex);
  const step = (result: [TrackerConfig, ProgressMap]): void => {
    [tracker.config, tracker.progress] = result;
  };
  if (outgoing.length === 0) {
    for (const cc of incoming) step(work.simple([cc]));
  } else {
    for (const cc of outgoing) step(work.simple([cc]));
    step(work.enterJoint(cs.autoLeave, incoming));
  }
  return [tracker.config, tracker.progress];
}
