/**
 * The simulator's checker must be able to fail. Each test switches on one deliberate fault in the harness (not in
 * src/raft) and searches a few seeds for a run where the checker reports the invariant that fault breaks; the same
 * seed must pass with the fault switched off, so the failure is the fault's doing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Entry, EntryType } from "../../../src/gen/raftpb/raft.js";
import { entryKey, InvariantChecker } from "./invariants.js";
import { type HarnessFaults, runSimulation, SimulationFailure } from "./simulation.js";

const SEARCH_SEEDS = 40;
const STEPS = 3000;
/** A crash-heavy profile: both faults act on restart. */
const CRASH_RATE_FACTOR = 5;

function findCaught(
  faults: HarnessFaults,
  invariants: readonly string[],
): { seed: number; nodes: number; failure: SimulationFailure } | undefined {
  for (let seed = 1; seed <= SEARCH_SEEDS; seed++) {
    const nodes = seed % 2 === 1 ? 3 : 5;
    try {
      runSimulation({ seed, nodes, steps: STEPS, faults, crashRateFactor: CRASH_RATE_FACTOR });
    } catch (err) {
      if (
        err instanceof SimulationFailure &&
        err.invariant !== undefined &&
        invariants.includes(err.invariant)
      ) {
        return { seed, nodes, failure: err };
      }
    }
  }
  return undefined;
}

function assertCaught(
  t: { diagnostic(s: string): void },
  faults: HarnessFaults,
  invariants: readonly string[],
): void {
  const caught = findCaught(faults, invariants);
  assert.ok(caught, `no seed in 1..${SEARCH_SEEDS} made the checker report ${invariants.join(" or ")}`);
  t.diagnostic(`seed ${caught.seed}: ${caught.failure.message.split("\n")[0]}`);
  t.diagnostic(caught.failure.replayCommand);
  assert.match(caught.failure.replayCommand, new RegExp(`--seed ${caught.seed} `));
  // Without the fault the same run is clean.
  const clean = runSimulation({
    seed: caught.seed,
    nodes: caught.nodes,
    steps: STEPS,
    crashRateFactor: CRASH_RATE_FACTOR,
  });
  assert.equal(clean.seed, caught.seed);
}

test("mutation check: a node that forgets its vote on restart is caught (double vote or changed durable vote)", (t) => {
  assertCaught(t, { forgetVoteOnRestart: true }, ["vote once per term", "durable vote", "election safety"]);
});

test("mutation check: a node that loses an acknowledged entry on restart is caught losing a committed entry", (t) => {
  assertCaught(t, { loseLastEntryOnRestart: true }, [
    "committed entries are permanent",
    "state machine safety",
    "log matching",
  ]);
});

test("invariant checker: each rule rejects the history it forbids", () => {
  const c = new InvariantChecker();
  c.observeVoteGranted(1n, 5, 2n);
  c.observeVoteGranted(1n, 5, 2n); // a repeated grant to the same candidate is fine
  assert.throws(() => c.observeVoteGranted(1n, 5, 3n), /vote once per term/);

  c.observeRole(1n, 7, true);
  assert.throws(() => c.observeRole(2n, 7, true), /election safety/);

  c.observeMemoryCommit(1n, 4);
  assert.throws(() => c.observeMemoryCommit(1n, 3), /commit monotonic/);

  const e = (index: number, term: number, data: string): Entry => ({
    type: EntryType.EntryNormal,
    index,
    term,
    data: Buffer.from(data),
  });
  c.observeDurableEntry(1n, e(1, 1, "a"), 0);
  assert.throws(() => c.observeDurableEntry(2n, e(1, 1, "b"), 0), /log matching/);
  c.observeDurableCommit(1n, 1, 1, () => entryKey(e(1, 1, "a")));
  assert.throws(() => c.observeDurableLoss(1n, e(1, 1, "a")), /committed entries are permanent/);
  assert.throws(() => c.observeApply(2n, e(1, 1, "b"), 0), /state machine safety/);
  assert.throws(() => c.observeApply(2n, e(2, 1, "c"), 0), /apply only committed/);

  c.observeReadIssued("r1", 1n);
  assert.throws(() => c.observeReadAnswered("r1", 1n, 0), /linearizable ReadIndex/);
  c.observeReadAnswered("r1", 1n, 1);
  assert.equal(c.readsAnswered, 1);
});
