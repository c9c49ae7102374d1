// A snapshot of a node's state for monitoring and tests.
import type { HardState } from "../gen/raftpb/raft.js";
import type { SoftState } from "./describe.js";
import type { Raft } from "./raft.js";
import { StateType, stateTypeName } from "./state.js";
import type { Progress } from "./tracker/progress.js";
import { cloneConfig, type TrackerConfig } from "./tracker/tracker.js";

export interface BasicStatus {
  id: bigint;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  leadTransferee: bigint;
}

export interface Status extends BasicStatus {
  /** Copies of the followers' progress; only filled in on the leader (empty otherwise). */
  progress: Map<bigint, Progress>;
  config: TrackerConfig;
}

export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

export function getStatus(r: Raft): Status {
  const progress = new Map<bigint, Progress>();
  if (r.state === StateType.StateLeader) {
    r.prs.visit((id, pr) => {
      progress.set(id, pr.clone());
    });
  }
  return { ...getBasicStatus(r), progress, config: cloneConfig(r.prs.config) };
}

/** etcd's JSON form of a status (ids in hex; progress only on the leader). */
export function statusToJSON(s: Status): string {
  const parts: string[] = [];
  const ids = [...s.progress.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of ids) {
    const pr = s.progress.get(id)!;
    const state = ["StateProbe", "StateReplicate", "StateSnapshot"][pr.state] ?? String(pr.state);
    parts.push(`"${id.toString(16)}":{"match":${pr.match},"next":${pr.next},"state":"${state}"}`);
  }
  return (
    `{"id":"${s.id.toString(16)}","term":${s.hardState.term},"vote":"${s.hardState.vote.toString(16)}",` +
    `"commit":${s.hardState.commit},"lead":"${s.softState.lead.toString(16)}",` +
    `"raftState":"${stateTypeName(s.softState.raftState)}","applied":${s.applied},` +
    `"progress":{${parts.join(",")}},"leadtransferee":"${s.leadTransferee.toString(16)}"}`
  );
}
