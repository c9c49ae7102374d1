// `npm run bench:startup`: start-up time and idle memory of rxetcd (compiled) and Debian's etcd, one
// member each, interleaved. For each repetition: a first start on an empty data dir until /health
// answers true, the RSS after some idle seconds, then SIGTERM and a restart on the same data dir
// until healthy again. Prints medians.
//
//   npm run bench:startup -- [--reps N] [--idle-seconds S] [--against DIR]
//
// --against DIR adds another rxetcd checkout (an older commit, say; built here first) as a third
// contender, "before", interleaved with the others, so that a change is measured in one run.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildRxetcd, etcdBinary, freePort } from "./compare/members.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const reps = flag("--reps", 5);
const idleSeconds = flag("--idle-seconds", 5);
const againstAt = process.argv.indexOf("--against");
const against = againstAt >= 0 ? resolve(process.argv[againstAt + 1] ?? ".") : undefined;

const built = spawnSync(process.execPath, [join(ROOT, "scripts/build.js")], { stdio: "inherit" });
if (built.status !== 0) throw new Error("the build failed");
if (against) buildRxetcd(against);

/** This checkout's rxetcd, etcd, and with --against the other checkout's rxetcd. */
type Kind = "rxetcd" | "etcd" | "before";
const kinds: Kind[] = against ? ["rxetcd", "etcd", "before"] : ["rxetcd", "etcd"];

function start(kind: Kind, dir: string, ports: [number, number]): ChildProcess {
  const client = `http://127.0.0.1:${ports[0]}`;
  const peer = `http://127.0.0.1:${ports[1]}`;
  const args = [
    ["--name", "m0"],
    ["--data-dir", dir],
    ["--listen-client-urls", client],
    ["--advertise-client-urls", client],
    ["--listen-peer-urls", peer],
    ["--initial-advertise-peer-urls", peer],
    ["--initial-cluster", `m0=${peer}`],
    ["--logger", "zap"],
    ["--log-level", "error"],
  ].flat();
  const proc =
    kind === "etcd"
      ? spawn(etcdBinary(), args, { stdio: ["ignore", "pipe", "pipe"] })
      : spawn(
          process.execPath,
          [join(kind === "before" ? (against ?? ROOT) : ROOT, "bin/rxetcd.js"), ...args],
          {
            stdio: ["ignore", "pipe", "pipe"],
          },
        );
  // the last lines of its output, to say why when it exits early
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-2000);
  };
  proc.stdout?.on("data", keep);
  proc.stderr?.on("data", keep);
  outputs.set(proc, () => tail);
  return proc;
}

const outputs = new WeakMap<ChildProcess, () => string>();

async function untilHealthy(port: number, proc: ChildProcess, since: number): Promise<number> {
  for (;;) {
    if (proc.exitCode !== null)
      throw new Error(`exited with ${proc.exitCode}; last output:\n${outputs.get(proc)?.() ?? ""}`);
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      async (r) => r.ok && ((await r.json()) as { health?: string }).health === "true",
      () => false,
    );
    if (ok) return performance.now() - since;
    if (performance.now() - since > 60_000) throw new Error("not healthy within 60 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1] ?? Number.NaN) / 1024;
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  await exited;
}

type Figures = { first: number[]; restart: number[]; rss: number[] };
const figures: Record<Kind, Figures> = {
  rxetcd: { first: [], restart: [], rss: [] },
  etcd: { first: [], restart: [], rss: [] },
  before: { first: [], restart: [], rss: [] },
};
const loadavg = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`load average at start: ${loadavg()}`);
for (let rep = 0; rep < reps; rep++) {
  // each contender first in turn
  const order = kinds.map((_, i) => kinds[(i + rep) % kinds.length]);
  for (const kind of order) {
    // a port taken between its pick and the member's listen (another program on the machine) costs
    // the repetition another try, not the run
    for (let attempt = 1; ; attempt++) {
      const base = mkdtempSync(join(tmpdir(), `${kind}-startup-`));
      const dir = join(base, "data");
      const ports: [number, number] = [await freePort(), await freePort()];
      try {
        let t = performance.now();
        let proc = start(kind, dir, ports);
        const first = await untilHealthy(ports[0], proc, t);
        await new Promise((r) => setTimeout(r, idleSeconds * 1000));
        const rss = rssMiB(proc.pid ?? 0);
        await stop(proc);
        t = performance.now();
        proc = start(kind, dir, ports);
        const restart = await untilHealthy(ports[0], proc, t);
        await stop(proc);
        figures[kind].first.push(first);
        figures[kind].restart.push(restart);
        figures[kind].rss.push(rss);
        console.log(
          `${kind.padEnd(6)} first start ${first.toFixed(0)} ms  restart ${restart.toFixed(0)} ms  idle RSS ${rss.toFixed(1)} MiB  load ${loadavg()}`,
        );
        break;
      } catch (error) {
        const inUse = /EADDRINUSE|address already in use/.test((error as Error).message);
        if (!inUse || attempt >= 3) throw error;
        console.log(`${kind.padEnd(6)} a port was taken before the member listened; trying again`);
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log(`\nmedians of ${reps}; load average at end: ${loadavg()}\n`);
console.log(`| | rxetcd | etcd | ratio |${against ? " before | after/before |" : ""}`);
console.log(`|---|---:|---:|---:|${against ? "---:|---:|" : ""}`);
for (const [label, key, unit] of [
  ["first start to healthy", "first", "ms"],
  ["restart to healthy", "restart", "ms"],
  [`idle RSS after ${idleSeconds} s`, "rss", "MiB"],
] as const) {
  const rx = median(figures.rxetcd[key]);
  const et = median(figures.etcd[key]);
  const digits = key === "rss" ? 1 : 0;
  const before = against ? median(figures.before[key]) : Number.NaN;
  console.log(
    `| ${label} | ${rx.toFixed(digits)} ${unit} | ${et.toFixed(digits)} ${unit} | ${(rx / et).toFixed(2)} |` +
      (against ? ` ${before.toFixed(digits)} ${unit} | ${(rx / before).toFixed(2)} |` : ""),
  );
}
