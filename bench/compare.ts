// `npm run bench:compare`: the same workloads, driven by a Go clientv3 load generator, against rxetcd
// and Debian's etcd in one run. Every row gets fresh deployments of both (fresh data dirs, free
// loopback ports); repetitions rotate which server goes first, and the table gives medians.
//
//   npm run bench:compare -- [--rows put-1,range-s-64,...] [--members 1,3] [--reps N] [--quick]
//                            [--warmup F] [--warmup-runs N] [--cpu-prof DIR] [--against DIR]
//                            [--client-thread] [--client-http2 node|own] [--node-args "FLAGS"]
//
// --members picks the deployments: by default every row runs against one member and then against
// 3-member clusters of each (three local processes, the load on the leader); where a deployment does
// not start, the row says why.
// --warmup F runs each contender once, untimed, on F x the row's requests, and at least 5,000, before the
// timed runs (default 0.25; 0 measures cold processes): a long-running server is compared, not the first
// seconds of a fresh one, and rxetcd's JIT (unlike etcd's compiled Go) makes those seconds slower. A
// quarter of put-1 (750 puts) was too short: three members still spent 237 us of V8's compiler threads
// per put after 1,000 puts, 47 after 12,000. The warm-up lines are printed and left out of the medians.
// The warm-up is split over WARMUP_RUNS runs of the load generator, each on new connections: a member
// that had seen one client connection still deoptimized 18-22 optimized functions when the next one
// came (V8 had no feedback of the first connection's first steps; since a member keeps feedback from a
// function's first call, see src/cli/start-up-flags.ts, it deoptimizes 0-8 of them, mostly none),
// and the first timed run after a one-connection warm-up had p99 1.7-2.2 ms against 0.3-0.5 for the
// third and fourth (put-1, one member, --unsafe-no-fsync; etcd 0.23-0.40 in every run). Warmed over
// three connections, the first timed run had no deoptimization and p99 0.58-0.89 ms. A long-running
// server has seen many connections; the timed runs should find it so. --warmup-runs N splits it over N
// runs instead (1 shows what a member's first connections cost it).
// --against DIR adds another rxetcd checkout (an older commit, say) as a third contender, so a change
// is measured before/after in the same run.
// --client-thread adds this checkout's rxetcd with its client port served from the HTTP/2 thread
// (RXETCD_CLIENT_THREAD=1) as one more contender, "thread", against the same build without it.
// --client-http2 node adds this checkout's rxetcd serving its client port's HTTP/2 with Node's
// (RXETCD_CLIENT_HTTP2=node) as one more contender, "node"; the "rxetcd" contender then runs with its own
// connection (the default), whatever the environment says. --client-http2 own is the other way round.
// --node-args "FLAGS" adds this checkout's rxetcd started with those node flags (space-separated, e.g.
// V8 options that cannot be set once the heap exists) as one more contender, "flags", beside the same build
// without them.
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findLoadgen, type LoadgenSummary, runLoadgen } from "./compare/loadgen.js";
import {
  buildRxetcd,
  type Deployment,
  type Kind,
  type StartOptions,
  startDeployment,
} from "./compare/members.js";
import { WORKLOADS } from "./compare/rows.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes("--quick");
const reps = Number(flag("--reps") ?? (quick ? 1 : 3));
const sizes = (flag("--members") ?? "1,3").split(",").map(Number);
const wanted = flag("--rows")?.split(",");
const profileDir = flag("--cpu-prof");
const against = flag("--against");
const clientThread = process.argv.includes("--client-thread");
const clientHttp2 = flag("--client-http2");
const nodeArgs = flag("--node-args")
  ?.split(" ")
  .filter((a) => a !== "");
const warmup = Number(flag("--warmup") ?? (quick ? 0 : 0.25));
/** Load generator runs (each on new connections) a warm-up is split over. */
const WARMUP_RUNS = Number(flag("--warmup-runs") ?? 3);
/** The fewest requests of a warm-up (when there is one), whatever the row's size. */
const WARMUP_AT_LEAST = 5000;
const unknown = wanted?.filter((id) => !WORKLOADS.some((w) => w.id === id)) ?? [];
if (
  unknown.length > 0 ||
  !Number.isInteger(reps) ||
  reps < 1 ||
  !(warmup >= 0 && warmup <= 1) ||
  !Number.isInteger(WARMUP_RUNS) ||
  WARMUP_RUNS < 1 ||
  sizes.some((n) => n !== 1 && n !== 3) ||
  (clientHttp2 !== undefined && clientHttp2 !== "own" && clientHttp2 !== "node")
) {
  console.error(
    `usage: bench:compare [--rows ${WORKLOADS.map((w) => w.id).join(",")}] [--members 1,3] [--reps N] [--quick] [--warmup F] [--warmup-runs N] [--cpu-prof DIR] [--against DIR] [--client-thread] [--client-http2 node|own] [--node-args "FLAGS"]`,
  );
  process.exit(2);
}
const workloads = WORKLOADS.filter((w) => wanted === undefined || wanted.includes(w.id));
if (profileDir) mkdirSync(resolve(profileDir), { recursive: true });
const rxetcdNodeArgs = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(profileDir)}`] : [];

interface Contender {
  readonly name: string;
  readonly kind: Kind;
  readonly options: StartOptions;
}
const contenders: Contender[] = [
  {
    name: "rxetcd",
    kind: "rxetcd",
    options: {
      rxetcdNodeArgs,
      ...(clientHttp2 ? { rxetcdEnv: { RXETCD_CLIENT_HTTP2: clientHttp2 === "own" ? "node" : "own" } } : {}),
    },
  },
  { name: "etcd", kind: "etcd", options: {} },
];
if (against) contenders.push({ name: "before", kind: "rxetcd", options: { rxetcdRoot: resolve(against) } });
if (clientThread)
  contenders.push({
    name: "thread",
    kind: "rxetcd",
    options: { rxetcdNodeArgs, rxetcdEnv: { RXETCD_CLIENT_THREAD: "1" } },
  });

if (clientHttp2)
  contenders.push({
    name: clientHttp2,
    kind: "rxetcd",
    options: { rxetcdNodeArgs, rxetcdEnv: { RXETCD_CLIENT_HTTP2: clientHttp2 } },
  });
if (nodeArgs)
  contenders.push({
    name: "flags",
    kind: "rxetcd",
    options: { rxetcdNodeArgs: [...nodeArgs, ...rxetcdNodeArgs] },
  });

buildRxetcd(fileURLToPath(new URL("..", import.meta.url)));
if (against) buildRxetcd(resolve(against));

const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
const loadgen = findLoadgen((line) => console.log(line));
console.log(
  `loadgen: ${loadgen}; reps: ${reps}; warm-up: ${warmup} x each row (at least ${WARMUP_AT_LEAST} requests) over ${WARMUP_RUNS} run(s), untimed; load average at start: ${loadavg()}`,
);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

interface Result {
  size: number;
  label: string;
  runs: Map<string, LoadgenSummary[]>;
  failure?: string;
}
const results: Result[] = [];

for (const size of sizes) {
  for (const w of workloads) {
    const result: Result = { size, label: w.label, runs: new Map(contenders.map((c) => [c.name, []])) };
    results.push(result);
    const deployments = new Map<string, Deployment>();
    try {
      for (const c of contenders) {
        try {
          deployments.set(c.name, await startDeployment(c.kind, size, c.options));
        } catch (error) {
          throw new Error(`${c.name}, ${size} member(s), did not start: ${(error as Error).message}`);
        }
        for (const p of w.prepare) await runLoadgen(loadgen, p, [deployments.get(c.name)!.leader]);
      }
      const total = Math.max(1, Math.round(w.total * (quick ? 0.2 : 1)));
      const warmupTotal = warmup > 0 ? Math.max(Math.round(total * warmup), WARMUP_AT_LEAST) : 0;
      for (const c of warmupTotal > 0 ? contenders : []) {
        const endpoints = [deployments.get(c.name)!.leader];
        let s = await runLoadgen(loadgen, w.args(Math.ceil(warmupTotal / WARMUP_RUNS)), endpoints);
        for (let run = 1; run < WARMUP_RUNS; run++)
          s = await runLoadgen(loadgen, w.args(Math.ceil(warmupTotal / WARMUP_RUNS)), endpoints);
        console.log(
          `${size}m ${w.label.padEnd(40)} ${c.name.padEnd(6)} ${s.rps.toFixed(0).padStart(7)} req/s  ` +
            `(warm-up, not counted)  load ${loadavg()}`,
        );
      }
      for (let rep = 0; rep < reps; rep++) {
        const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]);
        for (const c of order) {
          // one retry: on a loaded machine a dial can time out before the server is at fault
          const endpoints = [deployments.get(c.name)!.leader];
          const s = await runLoadgen(loadgen, w.args(total), endpoints).catch((error: Error) => {
            console.log(
              `${size}m ${w.label} ${c.name}: run failed, once more: ${error.message.split("\n")[0]}`,
            );
            return runLoadgen(loadgen, w.args(total), endpoints);
          });
          result.runs.get(c.name)!.push(s);
          console.log(
            `${size}m ${w.label.padEnd(40)} ${c.name.padEnd(6)} ${s.rps.toFixed(0).padStart(7)} req/s  ` +
              `p50 ${s.p50_ms.toFixed(2)} ms  p99 ${s.p99_ms.toFixed(2)} ms  errors ${s.errors}  load ${loadavg()}`,
          );
        }
      }
    } catch (error) {
      result.failure = (error as Error).message.split("\n")[0];
      console.log(`${size}m ${w.label}: ${result.failure}`);
    } finally {
      await Promise.all([...deployments.values()].map((d) => d.stop()));
    }
  }
}

console.log(
  `\nload average at end: ${loadavg()}; medians of ${reps} run(s) each` +
    (warmup > 0
      ? `, after an untimed warm-up of ${warmup} x each row (at least ${WARMUP_AT_LEAST} requests)\n`
      : ", cold processes\n"),
);
const extra =
  (against ? " before req/s | after/before | before p99 ms |" : "") +
  (clientThread ? " thread req/s | thread/rxetcd | thread p99 ms |" : "") +
  (clientHttp2
    ? ` ${clientHttp2} req/s | ${clientHttp2}/rxetcd | ${clientHttp2}/etcd | ${clientHttp2} p99 ms |`
    : "") +
  (nodeArgs ? " flags req/s | flags/rxetcd | flags p99 ms |" : "");
const extraColumns = (against ? 3 : 0) + (clientThread ? 3 : 0) + (clientHttp2 ? 4 : 0) + (nodeArgs ? 3 : 0);
console.log(
  `| members | workload | rxetcd req/s | etcd req/s | ratio | rxetcd p99 ms | etcd p99 ms |${extra}`,
);
console.log(`|---:|---|---:|---:|---:|---:|---:|${"---:|".repeat(extraColumns)}`);
for (const r of results) {
  const runs = (name: string) => r.runs.get(name) ?? [];
  if (r.failure !== undefined || contenders.some((c) => runs(c.name).length === 0)) {
    console.log(
      `| ${r.size} | ${r.label} | – | – | – | – | – |${" – |".repeat(extraColumns)}  ${r.failure ?? ""}`,
    );
    continue;
  }
  const rps = (name: string) => median(runs(name).map((s) => s.rps));
  const p99 = (name: string) => median(runs(name).map((s) => s.p99_ms));
  const [rx, et] = [rps("rxetcd"), rps("etcd")];
  const tail =
    (against
      ? ` ${rps("before").toFixed(0)} | ${(rx / rps("before")).toFixed(2)} | ${p99("before").toFixed(2)} |`
      : "") +
    (clientThread
      ? ` ${rps("thread").toFixed(0)} | ${(rps("thread") / rx).toFixed(2)} | ${p99("thread").toFixed(2)} |`
      : "") +
    (clientHttp2
      ? ` ${rps(clientHttp2).toFixed(0)} | ${(rps(clientHttp2) / rx).toFixed(2)} | ${(rps(clientHttp2) / et).toFixed(2)} | ${p99(clientHttp2).toFixed(2)} |`
      : "") +
    (nodeArgs
      ? ` ${rps("flags").toFixed(0)} | ${(rps("flags") / rx).toFixed(2)} | ${p99("flags").toFixed(2)} |`
      : "");
  console.log(
    `| ${r.size} | ${r.label} | ${rx.toFixed(0)} | ${et.toFixed(0)} | ${(rx / et).toFixed(2)} | ${p99("rxetcd").toFixed(2)} | ${p99("etcd").toFixed(2)} |${tail}`,
  );
}
