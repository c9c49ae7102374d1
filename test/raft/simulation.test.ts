/**
 * The deterministic cluster simulation over a fixed set of seeds: 250 runs of a 3-node cluster and 250 of a
 * 5-node cluster, 10,000 chaos steps each, every safety invariant checked after every step and liveness checked
 * after the faults heal. About half the runs use etcd's transport model (per-peer ordered streams that reorder
 * only within a small window, drop, lose what was on them and what is sent until dialed again), the others a
 * network that loses, duplicates, delays and reorders freely. A failure prints its seed and the command that
 * replays it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { nodesForSeed, runJobs, type SeedJob } from "./sim/batch.js";
import {
  LIVENESS_BOUND_TICKS,
  RECOVERY_WATCH_TICKS_WITHOUT_PREVOTE,
  runSimulation,
} from "./sim/simulation.js";

const RUNS = 500;
const STEPS = 10_000;
const FIRST_SEED = 1;

test(`raft simulation: ${RUNS} seeded runs x ${STEPS} steps, 3 and 5 nodes, invariants after every step`, (t) => {
  const jobs: SeedJob[] = [];
  for (let seed = FIRST_SEED; seed < FIRST_SEED + RUNS; seed++)
    jobs.push({ seed, nodes: nodesForSeed(seed), steps: STEPS });
  const started = performance.now();
  const s = runJobs(jobs);
  const wall = (performance.now() - started) / 1000;
  t.diagnostic(
    `runs ${s.runs} (3 nodes: ${s.runsByNodes[3] ?? 0}, 5 nodes: ${s.runsByNodes[5] ?? 0}), steps ${s.steps}, ` +
      `wall time ${wall.toFixed(1)}s`,
  );
  t.diagnostic(
    `committed ${s.committed} entries, delivered ${s.delivered} messages, ${s.crashes} crashes, ` +
      `${s.confChanges} conf changes applied, ${s.snapshotsInstalled} snapshots installed, ${s.readsAnswered} reads answered, ` +
      `worst ticks from healing until a leader exists, two fresh entries are applied everywhere and a read is answered: ${s.maxLivenessTicks} with pre-vote ` +
      `(bound ${LIVENESS_BOUND_TICKS}), ${s.maxLivenessTicksWithoutPreVote} without; ${s.slowRecoveries} quiet periods ` +
      `without pre-vote still recovering after ${RECOVERY_WATCH_TICKS_WITHOUT_PREVOTE} ticks (etcd 3.4 behaviour)`,
  );
  t.diagnostic(
    `${s.transportRuns} runs over etcd's transport model (ordered streams, a bounded reorder window): ` +
      `${s.streamDrops} streams dropped and dialed again, ${s.lostInGaps} messages lost while one was down`,
  );
  for (const f of s.failures) t.diagnostic(`FAIL ${f}`);
  assert.equal(s.runs, RUNS);
  assert.deepEqual(s.failures, [], `${s.failures.length} simulation runs failed`);
  assert.equal(s.steps, RUNS * STEPS);
  // The runs must actually exercise the cluster, not idle through it.
  assert.ok(s.committed > RUNS * 10, `only ${s.committed} entries committed over ${RUNS} runs`);
  assert.ok(
    s.crashes > RUNS && s.confChanges > RUNS && s.readsAnswered > RUNS,
    "faults, membership changes and reads all happened",
  );
  assert.ok(
    s.transportRuns > RUNS / 4 && s.transportRuns < (3 * RUNS) / 4,
    `${s.transportRuns} transport runs`,
  );
  assert.ok(
    s.streamDrops > s.transportRuns && s.lostInGaps > s.transportRuns,
    "streams dropped and lost messages",
  );
});

test("raft simulation: a seed replays exactly (same choices, same outcome), another seed differs", () => {
  const a = runSimulation({ seed: 7, nodes: 5, steps: 3000 });
  const b = runSimulation({ seed: 7, nodes: 5, steps: 3000 });
  const c = runSimulation({ seed: 8, nodes: 5, steps: 3000 });
  assert.deepEqual(a, b);
  assert.notDeepEqual({ ...a, seed: 0 }, { ...c, seed: 0 });
});
