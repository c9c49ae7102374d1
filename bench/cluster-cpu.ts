// `npm run bench:cluster-cpu`: where a three-member cluster's CPU goes, member by member. Each contender
// (this checkout, Debian's etcd, and with --against another rxetcd checkout) gets a fresh three-member
// cluster on loopback; the table gives, for the leader and the mean of its followers, the CPU time per
// second while idle and the CPU time and read/write system calls per put under the Go load generator
// (load on the leader, as in bench:compare). The figures come from /proc/PID/stat and /proc/PID/io.
//
//   npm run bench:cluster-cpu -- [--puts N] [--clients C] [--idle-s S] [--reps N] [--against DIR]
//                                [--no-etcd] [--cpu-prof DIR] [--warmup N]
//
// --warmup N runs N puts (16 clients) before the idle window, so that the figures are of a process
// whose code V8 has compiled (a fresh member spends several hundred us of compiler threads per put
// over its first thousands of puts).
//
// --cpu-prof DIR writes every rxetcd member's CPU profile there (node --cpu-prof); with one rep and one
// rxetcd contender the three profiles are the leader's and its followers' (the leader's pid is printed).
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findLoadgen, runLoadgen } from "./compare/loadgen.js";
import { buildRxetcd, type Kind, type StartOptions, startDeployment } from "./compare/members.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const puts = Number(flag("--puts") ?? 10_000);
const clients = Number(flag("--clients") ?? 64);
const idleSeconds = Number(flag("--idle-s") ?? 10);
const reps = Number(flag("--reps") ?? 1);
const warmup = Number(flag("--warmup") ?? 0);
const against = flag("--against");
const profileDir = flag("--cpu-prof");
const withEtcd = !process.argv.includes("--no-etcd");
if (
  [puts, clients, idleSeconds, reps].some((n) => !Number.isInteger(n) || n < 1) ||
  !Number.isInteger(warmup) ||
  warmup < 0
) {
  console.error(
    "usage: bench:cluster-cpu [--puts N] [--clients C] [--idle-s S] [--reps N] [--against DIR] [--no-etcd] [--cpu-prof DIR] [--warmup N]",
  );
  process.exit(2);
}
if (profileDir) mkdirSync(resolve(profileDir), { recursive: true });

const CLOCK_TICKS_PER_SEC = 100;

/** A process's CPU time (user + system, ms) and its read/write system calls so far. */
interface Usage {
  readonly cpuMs: number;
  readonly sysMs: number;
  readonly reads: number;
  readonly writes: number;
}

function usage(pid: number): Usage {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ms = (ticks: string) => (Number(ticks) * 1000) / CLOCK_TICKS_PER_SEC;
  const io = new Map(
    readFileSync(`/proc/${pid}/io`, "utf8")
      .trim()
      .split("\n")
      .map((line) => {
        const [k, v] = line.split(":");
        return [k.trim(), Number(v)] as const;
      }),
  );
  return {
    cpuMs: ms(fields[11]) + ms(fields[12]),
    sysMs: ms(fields[12]),
    reads: io.get("syscr") ?? Number.NaN,
    writes: io.get("syscw") ?? Number.NaN,
  };
}

function minus(a: Usage, b: Usage): Usage {
  return {
    cpuMs: a.cpuMs - b.cpuMs,
    sysMs: a.sysMs - b.sysMs,
    reads: a.reads - b.reads,
    writes: a.writes - b.writes,
  };
}

interface Contender {
  readonly name: string;
  readonly kind: Kind;
  readonly options: StartOptions;
}
const contenders: Contender[] = [
  {
    name: "rxetcd",
    kind: "rxetcd",
    options: { rxetcdNodeArgs: profileDir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(profileDir)}`] : [] },
  },
];
if (against) contenders.push({ name: "before", kind: "rxetcd", options: { rxetcdRoot: resolve(against) } });
if (withEtcd) contenders.push({ name: "etcd", kind: "etcd", options: {} });

buildRxetcd(fileURLToPath(new URL("..", import.meta.url)));
if (against) buildRxetcd(resolve(against));
const loadgen = findLoadgen((line) => console.log(line));
const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
console.log(
  `puts: ${puts}, ${clients} clients; warm-up ${warmup} puts; idle window ${idleSeconds} s; load average at start: ${loadavg()}`,
);

interface Row {
  readonly name: string;
  readonly rps: number;
  readonly p99: number;
  /** Idle CPU ms per second: leader, mean follower. */
  readonly idle: readonly [number, number];
  /** Per put: leader, mean follower. */
  readonly perPut: readonly [Usage, Usage];
}
const rows: Row[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mean = (us: Usage[]): Usage => ({
  cpuMs: us.reduce((s, u) => s + u.cpuMs, 0) / us.length,
  sysMs: us.reduce((s, u) => s + u.sysMs, 0) / us.length,
  reads: us.reduce((s, u) => s + u.reads, 0) / us.length,
  writes: us.reduce((s, u) => s + u.writes, 0) / us.length,
});
const perOp = (u: Usage, n: number): Usage => ({
  cpuMs: u.cpuMs / n,
  sysMs: u.sysMs / n,
  reads: u.reads / n,
  writes: u.writes / n,
});

for (let rep = 0; rep < reps; rep++) {
  for (const c of contenders) {
    const d = await startDeployment(c.kind, 3, c.options);
    try {
      const followers = d.memberPids.filter((p) => p !== d.leaderPid);
      const leader = d.leaderPid;
      if (leader === undefined || followers.length !== 2) throw new Error(`${c.name}: members not known`);
      console.log(`${c.name}: leader pid ${leader}, followers ${followers.join(", ")}`);
      if (warmup > 0) {
        await runLoadgen(
          loadgen,
          [
            "put",
            ...["--key-size", "8", "--val-size", "256", "--key-space-size", "100000"],
            ...["--clients", "16", "--conns", "8", "--total", String(warmup)],
          ],
          [d.leader],
        );
      }
      await sleep(2000); // start-up work settles
      const idle0 = [leader, ...followers].map(usage);
      await sleep(idleSeconds * 1000);
      const idle1 = [leader, ...followers].map(usage);
      const idle = idle1.map((u, i) => minus(u, idle0[i]).cpuMs / idleSeconds);
      const put0 = [leader, ...followers].map(usage);
      const s = await runLoadgen(
        loadgen,
        [
          "put",
          ...["--key-size", "8", "--val-size", "256", "--key-space-size", "100000"],
          ...["--clients", String(clients), "--conns", String(Math.min(8, clients)), "--total", String(puts)],
        ],
        [d.leader],
      );
      const put1 = [leader, ...followers].map(usage);
      const per = put1.map((u, i) => perOp(minus(u, put0[i]), s.ok));
      const row: Row = {
        name: c.name,
        rps: s.rps,
        p99: s.p99_ms,
        idle: [idle[0], (idle[1] + idle[2]) / 2],
        perPut: [per[0], mean(per.slice(1))],
      };
      rows.push(row);
      console.log(
        `${c.name.padEnd(6)} ${s.rps.toFixed(0).padStart(6)} puts/s  p99 ${s.p99_ms.toFixed(2)} ms  ` +
          `CPU/put leader ${(per[0].cpuMs * 1000).toFixed(0)} us, followers ${(per[1].cpuMs * 1000).toFixed(0)}/${(per[2].cpuMs * 1000).toFixed(0)} us  ` +
          `idle ${idle.map((x) => x.toFixed(1)).join("/")} ms/s  load ${loadavg()}`,
      );
    } finally {
      await d.stop();
    }
  }
}

const fmt = (u: Usage) =>
  `${(u.cpuMs * 1000).toFixed(0)} (${(u.sysMs * 1000).toFixed(0)} sys) | ${u.reads.toFixed(2)} / ${u.writes.toFixed(2)}`;
console.log(`\nload average at end: ${loadavg()}; ${reps} rep(s), each row one run\n`);
console.log(
  "| contender | puts/s | p99 ms | idle ms/s leader / follower | leader us/put | leader reads / writes per put | follower us/put | follower reads / writes per put |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} | ${r.idle[0].toFixed(1)} / ${r.idle[1].toFixed(1)} | ${fmt(r.perPut[0])} | ${fmt(r.perPut[1])} |`,
  );
}
