/**
 * Runs the raft cluster simulator from the command line.
 *
 *   npm run sim -- --seeds 1000 --from 1 [--nodes 3|5] [--steps 2000]   many seeds, progress and failures
 *   npm run sim -- --seed 42 --nodes 5 --steps 2000 [--trace]           replays one run exactly
 *
 * Without --nodes, seeds alternate between 3 and 5 nodes (odd seeds 3, even seeds 5), as the CI test does.
 * `--fault forget-vote|lose-last-entry` switches on a deliberate harness fault (the checker must then fail).
 * `--crash-factor F` multiplies the crash rate (the mutation check uses 5).
 * `--open-snapshot-window` lets a node tick between receiving a snapshot and advancing past it (etcd 3.4 panics).
 */
import { parseArgs } from "node:util";
import { nodesForSeed } from "./batch.js";
import { type HarnessFaults, runSimulation, Simulation, SimulationFailure } from "./simulation.js";

function parseFaults(names: string[] | undefined): HarnessFaults {
  const faults: HarnessFaults = {};
  for (const n of names ?? []) {
    if (n === "forget-vote") faults.forgetVoteOnRestart = true;
    else if (n === "lose-last-entry") faults.loseLastEntryOnRestart = true;
    else throw new Error(`unknown fault ${JSON.stringify(n)} (forget-vote, lose-last-entry)`);
  }
  return faults;
}

function main(): number {
  const { values } = parseArgs({
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      from: { type: "string" },
      nodes: { type: "string" },
      steps: { type: "string" },
      fault: { type: "string", multiple: true },
      trace: { type: "boolean" },
      "open-snapshot-window": { type: "boolean" },
      "crash-factor": { type: "string" },
      "keep-going": { type: "boolean" },
    },
  });
  const steps = Number(values.steps ?? 2000);
  const fixedNodes = values.nodes === undefined ? undefined : Number(values.nodes);
  if (fixedNodes !== undefined && fixedNodes !== 3 && fixedNodes !== 5)
    throw new Error("--nodes must be 3 or 5");
  const faults = parseFaults(values.fault);
  const first = Number(values.seed ?? values.from ?? 1);
  const count = values.seed !== undefined ? 1 : Number(values.seeds ?? 100);
  const started = Date.now();
  let failures = 0;
  let totalSteps = 0;
  for (let seed = first; seed < first + count; seed++) {
    const nodes = fixedNodes ?? nodesForSeed(seed);
    if (values.trace) console.log(`profile: ${new Simulation({ seed, nodes, steps }).describeProfile()}`);
    try {
      const r = runSimulation({
        seed,
        nodes,
        steps,
        faults,
        openSnapshotWindow: values["open-snapshot-window"],
        crashRateFactor: Number(values["crash-factor"] ?? 1),
        trace: values.trace ? (line) => console.log(line) : undefined,
      });
      totalSteps += steps;
      if (count === 1 || seed % 50 === 0 || seed === first + count - 1) {
        console.log(
          `seed ${seed} nodes ${nodes}: ok (committed ${r.committed}, delivered ${r.delivered}, ticks ${r.ticks}, ` +
            `crashes ${r.crashes}, conf changes ${r.confChanges}, snapshots ${r.snapshotsInstalled}, ` +
            `reads ${r.readsAnswered}, recovered after ${r.livenessTicks} ticks` +
            `${r.slowRecoveries > 0 ? `, ${r.slowRecoveries} slow recoveries without pre-vote` : ""})` +
            (count > 1
              ? ` [${seed - first + 1}/${count}, ${((Date.now() - started) / 1000).toFixed(1)}s]`
              : ""),
        );
      }
    } catch (err) {
      failures++;
      if (err instanceof SimulationFailure) {
        console.log(`FAIL ${err.message}`);
      } else {
        console.log(`FAIL seed ${seed}: ${err instanceof Error ? err.stack : String(err)}`);
      }
      if (!values["keep-going"] && count > 1 && failures >= 10) break;
    }
  }
  const secs = (Date.now() - started) / 1000;
  console.log(
    `${count} runs, ${totalSteps} steps passed, ${failures} failed, ${secs.toFixed(1)}s (${Math.round(totalSteps / secs)} steps/s)`,
  );
  return failures === 0 ? 0 : 1;
}

process.exitCode = main();
