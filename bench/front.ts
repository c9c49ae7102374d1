// `npm run bench:front`: a client port served from the HTTP/2 thread (RXETCD_FRONT_URL, one more
// listener, src/api/front/) against the normal client port of the same member, driven by the
// Go load generator of bench:compare. Each row gets a fresh one-member deployment serving both ports;
// repetitions alternate which port goes first. Besides the rates, the member's CPU per request: its
// main thread's (/proc/<pid>/task/<pid>/stat) and the whole process's.
//
//   npm run bench:front -- [--rows put-64,range-s-64,...] [--reps N] [--quick] [--etcd]
//                          [--ports normal,thread] [--cpu-prof DIR]
//
// --etcd adds Debian's etcd (its own deployment per row) for the ratio the issue asks about. --ports
// picks the ports measured (one alone, with --cpu-prof, gives a profile of that port's load only).
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findLoadgen, type LoadgenSummary, runLoadgen } from "./compare/loadgen.js";
import { buildRxetcd, type Deployment, freePort, startDeployment } from "./compare/members.js";
import { WORKLOADS } from "./compare/rows.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const quick = process.argv.includes("--quick");
const reps = Number(flag("--reps") ?? (quick ? 1 : 3));
const withEtcd = process.argv.includes("--etcd");
const portNames = (flag("--ports") ?? "normal,thread").split(",");
const profileDir = flag("--cpu-prof");
const wanted = (flag("--rows") ?? "put-64,range-s-64,put-256,put-1").split(",");
const workloads = wanted.map((id) => {
  const w = WORKLOADS.find((x) => x.id === id);
  if (
    w === undefined ||
    !Number.isInteger(reps) ||
    reps < 1 ||
    portNames.some((p) => p !== "normal" && p !== "thread")
  ) {
    console.error(
      `usage: bench:front [--rows ${WORKLOADS.map((x) => x.id).join(",")}] [--reps N] [--quick] [--etcd] [--ports normal,thread] [--cpu-prof DIR]`,
    );
    process.exit(2);
  }
  return w;
});

/** utime + stime of a /proc stat line, in clock ticks (fields 14 and 15, counted after the name). */
function ticksOf(statFile: string): number {
  try {
    const text = readFileSync(statFile, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}
/** Linux's USER_HZ, which /proc reports CPU times in. */
const TICK_US = 10_000;

/** CPU ticks of every thread of a process, by thread id. */
function threadTicks(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (pid === undefined) return out;
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) out.set(tid, ticksOf(`/proc/${pid}/task/${tid}/stat`));
  return out;
}

interface Run {
  summary: LoadgenSummary;
  /** The main thread's CPU per request. */
  mainUsPerReq: number;
  /** The busiest other thread's (with the HTTP/2 thread on, that thread). */
  nextUsPerReq: number;
  processUsPerReq: number;
}

if (profileDir) mkdirSync(resolve(profileDir), { recursive: true });
const rxetcdNodeArgs = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(profileDir)}`] : [];

const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
buildRxetcd(fileURLToPath(new URL("..", import.meta.url)));
const loadgen = findLoadgen((line) => console.log(line));
console.log(`loadgen: ${loadgen}; reps: ${reps}; load average at start: ${loadavg()}`);

async function measure(args: string[], endpoint: string, pid: number | undefined): Promise<Run> {
  const whole = `/proc/${pid}/stat`;
  const [t0, p0] = [threadTicks(pid), ticksOf(whole)];
  const summary = await runLoadgen(loadgen, args, [endpoint]);
  const [t1, p1] = [threadTicks(pid), ticksOf(whole)];
  const n = Math.max(1, summary.ok);
  const perReq = (ticks: number) => (ticks * TICK_US) / n;
  const deltas = [...t1].map(([tid, ticks]): [string, number] => [tid, ticks - (t0.get(tid) ?? 0)]);
  const others = deltas.filter(([tid]) => tid !== String(pid)).map(([, d]) => d);
  return {
    summary,
    mainUsPerReq: perReq(deltas.find(([tid]) => tid === String(pid))?.[1] ?? Number.NaN),
    nextUsPerReq: perReq(Math.max(0, ...others)),
    processUsPerReq: perReq(p1 - p0),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const table: string[] = [];
for (const w of workloads) {
  const total = Math.max(1, Math.round(w.total * (quick ? 0.2 : 1)));
  const runs = new Map<string, Run[]>([
    ["normal", []],
    ["thread", []],
    ["etcd", []],
  ]);
  const frontPort = await freePort();
  process.env.RXETCD_FRONT_URL = `http://127.0.0.1:${frontPort}`;
  const deployments: Deployment[] = [];
  try {
    const rx = await startDeployment("rxetcd", 1, { rxetcdNodeArgs });
    deployments.push(rx);
    const etcd = withEtcd ? await startDeployment("etcd", 1) : undefined;
    if (etcd) deployments.push(etcd);
    for (const p of w.prepare) await runLoadgen(loadgen, p, [rx.leader]);
    if (etcd) for (const p of w.prepare) await runLoadgen(loadgen, p, [etcd.leader]);
    const every: [string, string, number | undefined][] = [
      ["normal", rx.leader, rx.leaderPid],
      ["thread", `127.0.0.1:${frontPort}`, rx.leaderPid],
      ["etcd", etcd?.leader ?? "", etcd?.leaderPid],
    ];
    const ports = every.filter(([name]) => (name === "etcd" ? etcd !== undefined : portNames.includes(name)));
    for (let rep = 0; rep < reps; rep++) {
      const order = ports.map((_, i) => ports[(i + rep) % ports.length]);
      for (const [name, endpoint, pid] of order) {
        const r = await measure(w.args(total), endpoint, pid);
        runs.get(name)!.push(r);
        const s = r.summary;
        console.log(
          `${w.id.padEnd(11)} ${name.padEnd(6)} ${s.rps.toFixed(0).padStart(7)} req/s  p50 ${s.p50_ms.toFixed(2)} ms  ` +
            `p99 ${s.p99_ms.toFixed(2)} ms  errors ${s.errors}  main ${r.mainUsPerReq.toFixed(1)} us/req  ` +
            `next thread ${r.nextUsPerReq.toFixed(1)} us/req  ` +
            `process ${r.processUsPerReq.toFixed(1)} us/req  load ${loadavg()}`,
        );
      }
    }
  } finally {
    await Promise.all(deployments.map((d) => d.stop()));
  }
  const rps = (name: string) => median(runs.get(name)!.map((r) => r.summary.rps));
  const cpu = (name: string, f: (r: Run) => number) => median(runs.get(name)!.map(f)).toFixed(1);
  if (portNames.length < 2) continue;
  const etcdCells = withEtcd
    ? ` ${rps("etcd").toFixed(0)} | ${(rps("thread") / rps("etcd")).toFixed(2)} |`
    : "";
  table.push(
    `| ${w.id} | ${rps("normal").toFixed(0)} | ${rps("thread").toFixed(0)} | ${(rps("thread") / rps("normal")).toFixed(2)} | ` +
      `${cpu("normal", (r) => r.mainUsPerReq)} | ${cpu("thread", (r) => r.mainUsPerReq)} | ` +
      `${cpu("thread", (r) => r.nextUsPerReq)} | ` +
      `${cpu("normal", (r) => r.processUsPerReq)} | ${cpu("thread", (r) => r.processUsPerReq)} |${etcdCells}`,
  );
}
delete process.env.RXETCD_FRONT_URL;

console.log(`\nload average at end: ${loadavg()}; medians of ${reps} run(s) each\n`);
console.log(
  "| row | normal req/s | thread req/s | thread/normal | main us/req normal | main us/req thread | " +
    "HTTP/2 thread us/req | " +
    `process us/req normal | process us/req thread |${withEtcd ? " etcd req/s | thread/etcd |" : ""}`,
);
console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|${withEtcd ? "---:|---:|" : ""}`);
for (const line of table) console.log(line);
