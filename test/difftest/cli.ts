/**
 * The differential tester from the command line: seeded sequences of calls sent to Debian's etcd 3.4 and to rxetcd
 * in lockstep, each seed on two fresh members.
 *
 * `npm run difftest -- --help` prints the ways to run it.
 */
import { parseArgs } from "node:util";
import { generate, type Op } from "./generator.js";
import { show } from "./normalize.js";
import { type RunResult, report, runOps, VIAS, type Via, withMembers } from "./runner.js";
import { pick, shrink } from "./shrink.js";

/** Operations per seed unless --ops says otherwise. */
export const DEFAULT_OPS = 300;

async function runIndices(
  ops: Op[],
  indices: number[],
  via: Via,
  auth: boolean,
  trace = false,
): Promise<RunResult> {
  const subset = pick(ops, indices);
  const onAnswers = trace
    ? (i: number, etcd: unknown, rxetcd: unknown) =>
        console.log(`${indices[i]}\t${show(subset[i])}\n  etcd:   ${show(etcd)}\n  rxetcd: ${show(rxetcd)}`)
    : undefined;
  return withMembers((endpoints) => runOps(subset, endpoints, { via, auth, onAnswers }));
}

/** A run over a subset reports indices of the subset: map them back to the seed's operation indices. */
function inSeedTerms(r: RunResult, indices: number[]): RunResult {
  if (!r.divergence) return r;
  return { ...r, divergence: { ...r.divergence, index: indices[r.divergence.index] } };
}

/** Printed by --help, and after a mistyped option or value. */
const USAGE = `usage:
  npm run difftest -- --seeds 20 [--from 1] [--ops 300]          many seeds; one report per differing seed
  npm run difftest -- --seed 7 --ops 144                           replays seed 7 up to its operation 143
  npm run difftest -- --seed 7 --only 3,17,143                     replays just these operations of seed 7
  npm run difftest -- --seed 7 --ops 144 --shrink [--budget 40]    minimises a difference
  npm run difftest -- --seed 7 --ops 20 --print                    prints the operations without running them
  npm run difftest -- --seed 7 --ops 20 --trace                    prints every operation and both answers
  npm run difftest -- --seeds 20 --via mixed|gateway|grpc          which API carries the unary calls
  npm run difftest -- --seeds 20 --auth                            with auth enabled`;

/** A mistake in the command line: said in one line with the usage, not as a stack trace. */
class UsageError extends Error {}

function parseOptions() {
  return parseArgs({
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      from: { type: "string" },
      ops: { type: "string" },
      only: { type: "string" },
      shrink: { type: "boolean" },
      budget: { type: "string" },
      print: { type: "boolean" },
      trace: { type: "boolean" },
      via: { type: "string" },
      auth: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parseOptions>["values"];
  try {
    values = parseOptions().values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const via = (values.via ?? "grpc") as Via;
  const auth = values.auth ?? false;
  if (!VIAS.includes(via)) throw new UsageError(`--via must be one of ${VIAS.join(", ")}`);
  const count = Number(values.ops ?? DEFAULT_OPS);
  const first = Number(values.seed ?? values.from ?? 1);
  const seeds = values.seed !== undefined ? 1 : Number(values.seeds ?? 5);
  if (!Number.isInteger(count) || count < 1) throw new UsageError("--ops must be a positive integer");
  if (!Number.isInteger(first) || !Number.isInteger(seeds) || seeds < 1)
    throw new UsageError("--seed/--from and --seeds must be integers");
  const only = values.only?.split(",").map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`--only: ${JSON.stringify(s)} is not an operation index`);
    return n;
  });

  const started = Date.now();
  let differing = 0;
  let totalOps = 0;
  let compared = 0;
  for (let seed = first; seed < first + seeds; seed++) {
    const ops = generate(seed, only ? Math.max(...only) + 1 : count, { auth });
    const indices = only ?? ops.map((_, i) => i);
    if (values.print) {
      for (const i of indices) console.log(`${i}\t${show(ops[i])}`);
      continue;
    }
    const t0 = Date.now();
    const raw = await runIndices(ops, indices, via, auth, values.trace);
    totalOps += raw.ops;
    compared += raw.compared;
    let result = inSeedTerms(raw, indices);
    let shownIndices = only;
    if (raw.divergence && values.shrink) {
      console.log(report(seed, result, only));
      console.log(`seed ${seed}: minimising...`);
      const s = await shrink(
        indices,
        raw,
        (candidate) => runIndices(ops, candidate, via, auth),
        Number(values.budget ?? 40),
        (now) => console.log(`  still differs with ${now.length} operations: --only ${now.join(",")}`),
      );
      result = inSeedTerms(s.result, s.indices);
      shownIndices = s.indices;
      console.log(`seed ${seed}: ${s.trials} trials`);
    }
    if (result.divergence) differing++;
    console.log(`${report(seed, result, shownIndices)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if (!values.print) {
    console.log(
      `${seeds} seeds, ${totalOps} operations, ${compared} answers and watch items compared, ${differing} seeds differ (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
  return differing === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) console.error(`difftest: ${err.message}\n${USAGE}`);
    else console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(2);
  },
);
