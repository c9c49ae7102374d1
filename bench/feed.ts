// `npm run bench:feed`: what the event feed costs a member's writes. One rxetcd member (its own
// process), put load from the Go load generator, and runs without and with N feed clients subscribed to
// every topic and every key (in another process, see bench/feed/clients.ts). Runs alternate
// (without, with, with, without, ...) on the same member so that drift hits both sides alike; the
// table gives medians, the member's CPU time per 1000 puts, and the load average along the way.
//
//   npm run bench:feed -- [--reps N] [--clients N] [--total PUTS] [--put-clients C] [--val-size B]
//                         [--rate R] [--quick] [--cpu-prof DIR] [--only with|without]
//                         [--encoding deflate|json] [--member-cpus LIST] [--clients-cpus LIST]
//
// --encoding is what the feed clients ask for (deflate, as FeedClient does by default, or json).
// --member-cpus / --clients-cpus pin the member (all its threads) and the clients' process to CPUs
// (taskset lists, e.g. 0 and 1), so that the clients' own work competes less with the member's.
//
// --rate R caps the put load at R puts/s (0: as fast as the member takes them). At a fixed rate both sides
// batch alike (a member slowed by the clients' process batches more puts per Ready), so the member's CPU per
// put then measures what the feed itself costs; unlimited, puts/s shows what it costs the throughput.
//
// --cpu-prof DIR writes the member's CPU profile there (node --cpu-prof), for finding where the cost is;
// --only with|without then runs one side only, so that the profile is of that side.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import { findLoadgen, type LoadgenSummary, runLoadgen } from "./compare/loadgen.js";
import { buildRxetcd, startDeployment } from "./compare/members.js";

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const quick = process.argv.includes("--quick");
const profIndex = process.argv.indexOf("--cpu-prof");
const profileDir = profIndex >= 0 ? resolve(process.argv[profIndex + 1] ?? ".") : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const onlyIndex = process.argv.indexOf("--only");
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
if (only !== undefined && only !== "with" && only !== "without") {
  console.error("bench:feed: --only takes with or without");
  process.exit(2);
}
const reps = flag("--reps", quick ? 2 : 5);
const feedClients = flag("--clients", 100);
const total = flag("--total", quick ? 6000 : 30000);
const putClients = flag("--put-clients", 64);
const valueSize = flag("--val-size", 256);
const rate = flag("--rate", 0);
function text(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const encoding = text("--encoding") ?? "deflate";
const memberCpus = text("--member-cpus");
const clientsCpus = text("--clients-cpus");
if (encoding !== "deflate" && encoding !== "json") {
  console.error("bench:feed: --encoding takes deflate or json");
  process.exit(2);
}
if (
  [reps, feedClients, total, putClients, valueSize].some((n) => !Number.isInteger(n) || n < 1) ||
  !(rate >= 0)
) {
  console.error(
    "usage: bench:feed [--reps N] [--clients N] [--total PUTS] [--put-clients C] [--val-size B] [--rate R] [--quick] [--cpu-prof DIR] [--only with|without]",
  );
  process.exit(2);
}
const putArgs = [
  "put",
  "--key-size",
  "8",
  "--val-size",
  String(valueSize),
  "--key-space-size",
  "100000",
  "--clients",
  String(putClients),
  "--conns",
  String(Math.min(8, putClients)),
  ...(rate > 0 ? ["--rate", String(rate)] : []),
];

const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
const CLOCK_TICKS_PER_SEC = 100;
/** User and system CPU time of a process in ms (from /proc/PID/stat). */
function cpuTimes(pid: number | undefined): { user: number; sys: number } {
  if (pid === undefined) return { user: Number.NaN, sys: Number.NaN };
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ms = (ticks: string) => (Number(ticks) * 1000) / CLOCK_TICKS_PER_SEC;
  return { user: ms(fields[11]), sys: ms(fields[12]) };
}
const cpuMs = (pid: number | undefined) => {
  const t = cpuTimes(pid);
  return t.user + t.sys;
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The clients process's last line. */
const ClientTotals = t.type({
  batches: t.number,
  events: t.number,
  bytes: t.number,
  dropped: t.number,
  disconnects: t.number,
  errors: t.number,
});
type ClientTotals = t.TypeOf<typeof ClientTotals>;

function clientTotals(line: string): ClientTotals {
  const decoded = ClientTotals.decode(JSON.parse(line));
  if (decoded._tag === "Left")
    throw new Error(`feed clients: unexpected summary ${line}: ${PathReporter.report(decoded).join("; ")}`);
  return decoded.right;
}

/** Starts the feed clients and resolves once each has its initial state. */
async function startClients(endpoint: string): Promise<{ proc: ChildProcess; stop(): Promise<string> }> {
  const node = [
    process.execPath,
    "--import",
    "tsx",
    new URL("./feed/clients.ts", import.meta.url).pathname,
    "--endpoint",
    `http://${endpoint}`,
    "--clients",
    String(feedClients),
    "--encoding",
    encoding,
  ];
  // taskset runs node in its own process (same pid), so the CPU times read below are the clients'
  const [command, ...args] = clientsCpus === undefined ? node : ["taskset", "-c", clientsCpus, ...node];
  const proc = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });
  let out = "";
  proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`feed clients not ready in 180 s: ${out}`)), 180_000);
    const check = () => {
      if (out.includes(`ready ${feedClients}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on("data", check);
    proc.once("exit", (code) => reject(new Error(`feed clients exited (${code}): ${out}`)));
  });
  return {
    proc,
    stop: async () => {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.stdin?.end();
      await exited;
      return out.trim().split("\n").pop() ?? "";
    },
  };
}

interface Run {
  mode: "without" | "with";
  summary: LoadgenSummary;
  memberCpuMs: number;
  /** The member's system (kernel) share of memberCpuMs. */
  memberSysMs: number;
  clientsCpuMs: number;
  clients?: ClientTotals;
  load: string;
}

const loadgen = findLoadgen((line) => console.log(line));
console.log(
  `loadgen: ${loadgen}; ${reps} rep(s) of ${total} puts (${putClients} clients, ${valueSize}-byte values) ${rate > 0 ? ` at ${rate} puts/s` : ""} without and with ${feedClients} feed clients (${encoding})` +
    `${memberCpus === undefined ? "" : `, member on CPUs ${memberCpus}`}${clientsCpus === undefined ? "" : `, clients on CPUs ${clientsCpus}`}; load average at start: ${loadavg()}`,
);
buildRxetcd();
const member = await startDeployment(
  "rxetcd",
  1,
  profileDir ? { rxetcdNodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {},
);
const runs: Run[] = [];
if (memberCpus !== undefined && member.leaderPid !== undefined)
  execFileSync("taskset", ["-a", "-p", "-c", memberCpus, String(member.leaderPid)], { stdio: "ignore" });
try {
  await runLoadgen(loadgen, [...putArgs, "--total", String(Math.round(total / 4))], [member.leader]);
  for (let rep = 0; rep < reps; rep++) {
    const order: Array<Run["mode"]> = rep % 2 === 0 ? ["without", "with"] : ["with", "without"];
    for (const mode of order.filter((m) => only === undefined || m === only)) {
      const clients = mode === "with" ? await startClients(member.leader) : undefined;
      const cpu0 = cpuTimes(member.leaderPid);
      const ccpu0 = cpuMs(clients?.proc.pid);
      const summary = await runLoadgen(loadgen, [...putArgs, "--total", String(total)], [member.leader]);
      const cpu1 = cpuTimes(member.leaderPid);
      const memberCpuMs = cpu1.user + cpu1.sys - cpu0.user - cpu0.sys;
      const memberSysMs = cpu1.sys - cpu0.sys;
      const clientsCpuMs = cpuMs(clients?.proc.pid) - ccpu0;
      const run: Run = { mode, summary, memberCpuMs, memberSysMs, clientsCpuMs, load: loadavg() };
      if (clients) run.clients = clientTotals(await clients.stop());
      runs.push(run);
      const c = run.clients;
      console.log(
        `${mode.padEnd(7)} ${summary.rps.toFixed(0).padStart(6)} puts/s  p99 ${summary.p99_ms.toFixed(2)} ms  ` +
          `member CPU ${((memberCpuMs / summary.ok) * 1000).toFixed(0)} ms/1000 puts (${((memberSysMs / summary.ok) * 1000).toFixed(0)} system)` +
          (c
            ? `  clients: ${c.events} events and ${(c.bytes / 1024).toFixed(0)} KiB each (${(c.bytes / Math.max(1, c.events)).toFixed(0)} B/event), ${c.batches} batches in all, dropped ${c.dropped}, CPU ${(clientsCpuMs / 1000).toFixed(1)} s`
            : "") +
          `  errors ${summary.errors}  load ${run.load}`,
      );
    }
  }
} finally {
  await member.stop();
}

const of = (mode: Run["mode"]) => runs.filter((r) => r.mode === mode);
const rps = (mode: Run["mode"]) => median(of(mode).map((r) => r.summary.rps));
const p99 = (mode: Run["mode"]) => median(of(mode).map((r) => r.summary.p99_ms));
const cpuPer1000 = (mode: Run["mode"]) => median(of(mode).map((r) => (r.memberCpuMs / r.summary.ok) * 1000));
const sysPer1000 = (mode: Run["mode"]) => median(of(mode).map((r) => (r.memberSysMs / r.summary.ok) * 1000));
// each rep's pair ran back to back: the median of the per-pair ratios is the least drift-prone figure
const pairRatios = Array.from({ length: reps }, (_, i) => {
  const pair = runs.slice(2 * i, 2 * i + 2);
  const w = pair.find((r) => r.mode === "with");
  const wo = pair.find((r) => r.mode === "without");
  return w && wo ? w.summary.rps / wo.summary.rps : Number.NaN;
});
const dropped = of("with").reduce((n, r) => n + (r.clients?.dropped ?? 0), 0);
const [without, withFeed] = [rps("without"), rps("with")];

console.log(`\nload average at end: ${loadavg()}; medians of ${reps} run(s) each\n`);
console.log("| feed clients | puts/s | p99 ms | member CPU ms / 1000 puts | of which system |");
console.log("|---:|---:|---:|---:|---:|");
for (const [mode, clients] of [
  ["without", 0],
  ["with", feedClients],
] as const) {
  if (of(mode).length === 0) continue;
  console.log(
    `| ${clients} | ${rps(mode).toFixed(0)} | ${p99(mode).toFixed(2)} | ${cpuPer1000(mode).toFixed(0)} | ${sysPer1000(mode).toFixed(0)} |`,
  );
}
if (only !== undefined) process.exit(0);
console.log(
  `\noverhead: ${((1 - withFeed / without) * 100).toFixed(1)} % of put throughput (medians), ` +
    `${((cpuPer1000("with") / cpuPer1000("without") - 1) * 100).toFixed(1)} % more member CPU per put; ` +
    `per back-to-back pair: ${pairRatios.map((r) => `${((1 - r) * 100).toFixed(1)} %`).join(", ")} ` +
    `(median ${((1 - median(pairRatios)) * 100).toFixed(1)} %); feed clients dropped: ${dropped}`,
);
