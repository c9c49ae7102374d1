/**
 * Runs a list of simulator seeds one after another and sums what they did. A failure keeps its full message, which ends with the replay command.
 */
import { runSimulation } from "./simulation.js";

/** The cluster size for a seed when none is given: odd seeds run 3 nodes, even seeds 5. */
export function nodesForSeed(seed: number): number {
  return seed % 2 === 1 ? 3 : 5;
}

export interface SeedJob {
  seed: number;
  nodes: number;
  steps: number;
}

export interface BatchSummary {
  runs: number;
  steps: number;
  runsByNodes: Record<string, number>;
  committed: number;
  delivered: number;
  crashes: number;
  confChanges: number;
  snapshotsInstalled: number;
  readsAnswered: number;
  /** Worst ticks from healing to a leader with a fresh entry applied everywhere, with and without pre-vote. */
  maxLivenessTicks: number;
  maxLivenessTicksWithoutPreVote: number;
  /** Quiet periods without pre-vote that had not recovered when the simulator stopped watching. */
  slowRecoveries: number;
  /** Runs over etcd's transport model, their dropped streams and the messages lost while one was down. */
  transportRuns: number;
  streamDrops: number;
  lostInGaps: number;
  failures: string[];
}

export function emptySummary(): BatchSummary {
  return {
    runs: 0,
    steps: 0,
    runsByNodes: {},
    committed: 0,
    delivered: 0,
    crashes: 0,
    confChanges: 0,
    snapshotsInstalled: 0,
    readsAnswered: 0,
    maxLivenessTicks: 0,
    maxLivenessTicksWithoutPreVote: 0,
    slowRecoveries: 0,
    transportRuns: 0,
    streamDrops: 0,
    lostInGaps: 0,
    failures: [],
  };
}

/** Runs the jobs one after another in this thread. */
export function runJobs(jobs: readonly SeedJob[]): BatchSummary {
  const s = emptySummary();
  for (const job of jobs) {
    s.runs++;
    s.runsByNodes[job.nodes] = (s.runsByNodes[job.nodes] ?? 0) + 1;
    try {
      const r = runSimulation(job);
      s.steps += job.steps;
      s.committed += r.committed;
      s.delivered += r.delivered;
      s.crashes += r.crashes;
      s.confChanges += r.confChanges;
      s.snapshotsInstalled += r.snapshotsInstalled;
      s.readsAnswered += r.readsAnswered;
      s.slowRecoveries += r.slowRecoveries;
      if (r.transport) s.transportRuns++;
      s.streamDrops += r.streamDrops;
      s.lostInGaps += r.lostInGaps;
      if (r.preVote) s.maxLivenessTicks = Math.max(s.maxLivenessTicks, r.livenessTicks);
      else s.maxLivenessTicksWithoutPreVote = Math.max(s.maxLivenessTicksWithoutPreVote, r.livenessTicks);
    } catch (err) {
      s.failures.push(err instanceof Error ? err.message : String(err));
    }
  }
  return s;
}
