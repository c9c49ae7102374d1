// `npm run bench:put-cost`: what one member spends per write. Each contender (this checkout and, with
// --against, another rxetcd checkout) gets a fresh one-member deployment per row and repetition, run
// with node's --trace-gc-nvp; the Go load generator of bench:compare drives the row. Per request: CPU
// time of the whole process (user + system, /proc/PID/stat), bytes allocated on the JavaScript heap
// (the `allocated=` of every collection in the window) and the collections' pauses.
//
//   npm run bench:put-cost -- [--rows put-64,put-256] [--reps N] [--members 1|3] [--warmup N] [--against DIR]
//                             [--node-args "..."] [--client-http2 node|own]
//
// --warmup N first runs N requests of the row, untimed, on each fresh deployment (default 0): the
// young generation has then grown and the code is optimized, as in a long-running member.
// --members 3 runs three-member clusters and measures their leader (its CPU, its collections).
// Besides what a request allocates, the table gives what it leaves in the heap: the bytes scavenges
// promoted to the old generation per request, and the scavenges' count and pause per request (their time
// grows with what survives them, as V8 copies every survivor).
//
// --client-http2 node adds this checkout with its client port's HTTP/2 served by Node's
// (RXETCD_CLIENT_HTTP2=node) as the contender "node"; "rxetcd" then runs with its own connection (the
// default). --client-http2 own is the other way round.
// --node-args adds node flags to this checkout's members only (an A/B of a flag such as
// --max-semi-space-size against --against pointing at the same checkout). --keep-logs keeps the
// members' --trace-gc-nvp logs (each collection's phases) and prints where they are.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { findLoadgen, runLoadgen } from "./compare/loadgen.js";
import { buildRxetcd, startDeployment } from "./compare/members.js";
import { WORKLOADS } from "./compare/rows.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const reps = Number(flag("--reps") ?? 2);
const size = Number(flag("--members") ?? 1);
const warmup = Number(flag("--warmup") ?? 0);
const wanted = (flag("--rows") ?? "put-64,put-256").split(",");
const against = flag("--against");
const extraArgs = (flag("--node-args") ?? "").split(" ").filter((a) => a !== "");
const clientHttp2 = flag("--client-http2");
const workloads = WORKLOADS.filter((w) => wanted.includes(w.id));
if (
  !Number.isInteger(reps) ||
  reps < 1 ||
  workloads.length !== wanted.length ||
  (size !== 1 && size !== 3) ||
  !Number.isInteger(warmup) ||
  warmup < 0 ||
  (clientHttp2 !== undefined && clientHttp2 !== "own" && clientHttp2 !== "node")
) {
  console.error(
    `usage: bench:put-cost [--rows ${WORKLOADS.map((w) => w.id).join(",")}] [--reps N] [--members 1|3] [--warmup N] [--against DIR] [--node-args "..."] [--client-http2 node|own]`,
  );
  process.exit(2);
}

const CLOCK_TICKS_PER_SEC = 100;
/** The process's CPU time so far, user + system, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SEC;
}

interface Collections {
  allocated: number;
  pauseMs: number;
  count: number;
  /** Bytes the scavenges moved to the old generation. */
  promoted: number;
  scavenges: number;
  scavengeMs: number;
}

/** The collections logged by --trace-gc-nvp from byte `from` of the log on. */
function collections(log: string, from: number): Collections {
  const text = readFileSync(log, "utf8").slice(from);
  const c: Collections = { allocated: 0, pauseMs: 0, count: 0, promoted: 0, scavenges: 0, scavengeMs: 0 };
  for (const line of text.split("\n")) {
    const a = /\ballocated=(\d+)/.exec(line);
    const p = /\bpause=([\d.]+)/.exec(line);
    if (a === null || p === null) continue;
    c.allocated += Number(a[1]);
    c.pauseMs += Number(p[1]);
    c.count++;
    if (/\bgc=s\b/.test(line)) {
      c.promoted += Number(/\bpromoted=(\d+)/.exec(line)?.[1] ?? 0);
      c.scavenges++;
      c.scavengeMs += Number(p[1]);
    }
  }
  return c;
}
const logSize = (log: string) => readFileSync(log).length;

interface Contender {
  readonly name: string;
  readonly root: string | undefined;
  readonly nodeArgs: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}
const contenders: Contender[] = [
  {
    name: "rxetcd",
    root: undefined,
    nodeArgs: extraArgs,
    ...(clientHttp2 ? { env: { RXETCD_CLIENT_HTTP2: clientHttp2 === "own" ? "node" : "own" } } : {}),
  },
];
if (against) contenders.push({ name: "before", root: resolve(against), nodeArgs: [] });
if (clientHttp2)
  contenders.push({
    name: clientHttp2,
    root: undefined,
    nodeArgs: extraArgs,
    env: { RXETCD_CLIENT_HTTP2: clientHttp2 },
  });

buildRxetcd(fileURLToPath(new URL("..", import.meta.url)));
if (against) buildRxetcd(resolve(against));
const loadgen = findLoadgen((line) => console.log(line));
const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
console.log(`reps: ${reps}; load average at start: ${loadavg()}`);

interface Figures {
  rps: number;
  p99: number;
  cpuUs: number;
  allocBytes: number;
  gcUs: number;
  gcs: number;
  promotedBytes: number;
  scavengeUs: number;
  scavenges: number;
}
const results = new Map<string, Figures[]>();
const logDir = mkdtempSync(join(tmpdir(), "put-cost-"));

for (const w of workloads) {
  for (let rep = 0; rep < reps; rep++) {
    const order = contenders.map((_, i) => contenders[(i + rep) % contenders.length]);
    for (const c of order) {
      const logs = Array.from({ length: size }, (_, i) => join(logDir, `${c.name}-${w.id}-${rep}-m${i}.log`));
      const fds = logs.map((log) => openSync(log, "w"));
      const d = await startDeployment("rxetcd", size, {
        rxetcdNodeArgs: ["--trace-gc-nvp", ...c.nodeArgs],
        rxetcdRoot: c.root,
        rxetcdStdout: fds,
        ...(c.env ? { rxetcdEnv: c.env } : {}),
      });
      try {
        const pid = d.leaderPid;
        if (pid === undefined || d.memberPids.length !== size) throw new Error(`${c.name}: no member pid`);
        const log = logs[d.memberPids.indexOf(pid)];
        for (const p of w.prepare) await runLoadgen(loadgen, p, [d.leader]);
        if (warmup > 0) await runLoadgen(loadgen, w.args(warmup), [d.leader]);
        const [cpu0, log0] = [cpuMs(pid), logSize(log)];
        const s = await runLoadgen(loadgen, w.args(w.total), [d.leader]);
        const cpu1 = cpuMs(pid);
        const gc = collections(log, log0);
        const f: Figures = {
          rps: s.rps,
          p99: s.p99_ms,
          cpuUs: ((cpu1 - cpu0) * 1000) / s.ok,
          allocBytes: gc.allocated / s.ok,
          gcUs: (gc.pauseMs * 1000) / s.ok,
          gcs: gc.count,
          promotedBytes: gc.promoted / s.ok,
          scavengeUs: (gc.scavengeMs * 1000) / s.ok,
          scavenges: gc.scavenges,
        };
        const key = `${w.id} ${c.name}`;
        results.set(key, [...(results.get(key) ?? []), f]);
        console.log(
          `${w.id.padEnd(10)} ${c.name.padEnd(6)} ${f.rps.toFixed(0).padStart(6)} req/s  p99 ${f.p99.toFixed(2)} ms  ` +
            `CPU ${f.cpuUs.toFixed(0)} us/req  alloc ${(f.allocBytes / 1024).toFixed(1)} KiB/req  ` +
            `GC pause ${f.gcUs.toFixed(1)} us/req (${f.gcs} collections)  promoted ${f.promotedBytes.toFixed(0)} B/req  ` +
            `scavenges ${f.scavenges}, ${f.scavengeUs.toFixed(1)} us/req  load ${loadavg()}`,
        );
      } finally {
        await d.stop();
        for (const fd of fds) closeSync(fd);
      }
    }
  }
}
if (process.argv.includes("--keep-logs")) console.log(`GC logs: ${logDir}`);
else rmSync(logDir, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
console.log(
  `\nload average at end: ${loadavg()}; ${size === 1 ? "one member" : "the leader of three"}; medians of ${reps} run(s) each\n`,
);
console.log(
  "| workload | contender | req/s | p99 ms | CPU us/req | KiB allocated/req | GC pause us/req | promoted B/req | scavenges | scavenge us/req |",
);
console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const [key, fs] of results) {
  const [id, name] = key.split(" ");
  const m = (pick: (f: Figures) => number) => median(fs.map(pick));
  console.log(
    `| ${id} | ${name} | ${m((f) => f.rps).toFixed(0)} | ${m((f) => f.p99).toFixed(2)} | ${m((f) => f.cpuUs).toFixed(0)} | ${(m((f) => f.allocBytes) / 1024).toFixed(1)} | ${m((f) => f.gcUs).toFixed(1)} | ${m((f) => f.promotedBytes).toFixed(0)} | ${m((f) => f.scavenges)} | ${m((f) => f.scavengeUs).toFixed(1)} |`,
  );
}
