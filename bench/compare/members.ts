// Members for bench:compare: rxetcd or Debian's etcd, one member or a cluster on loopback, each with
// fresh data dirs on free ports. Load goes to the leader.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import * as t from "io-ts";

const ROOT = new URL("../..", import.meta.url).pathname;

export type Kind = "rxetcd" | "etcd";

/**
 * Compiles a checkout (incremental) so that its bin/rxetcd.js runs the JavaScript build: in a checkout whose sources
 * are newer than the build it would run them through tsx, which costs start-up time and loader CPU.
 */
export function buildRxetcd(root: string = ROOT): void {
  const script = join(root, "scripts/build.js");
  if (!existsSync(script)) return;
  const r = spawnSync(process.execPath, [script], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  if (r.status !== 0) throw new Error(`the build of ${root} failed`);
}

/**
 * grpc-go's own logger writes a WARNING line for every connection the load generator drops at the end of a run
 * ("failed to write status: ... transport is closing"): expected at every shutdown, and noise between the rows.
 */
const SHUTDOWN_NOISE = /^WARNING: \S+ \S+ \[core\] grpc: .*transport is closing/;

/** A member's stderr goes to ours, line by line, without grpc-go's shutdown noise. */
function passErrors(proc: ChildProcess): void {
  if (!proc.stderr) return;
  createInterface({ input: proc.stderr }).on("line", (line) => {
    if (!SHUTDOWN_NOISE.test(line)) process.stderr.write(`${line}\n`);
  });
}

export interface Deployment {
  readonly kind: Kind;
  readonly size: number;
  /** host:port of the leader's client URL: where the load goes. */
  readonly leader: string;
  /** The leader's process id (bench:feed reads its CPU time). */
  readonly leaderPid: number | undefined;
  /** Every member's process id, the leader's among them (bench:cluster-cpu reads their CPU time). */
  readonly memberPids: readonly number[];
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra node flags for rxetcd (e.g. --cpu-prof --cpu-prof-dir=...). */
  readonly rxetcdNodeArgs?: readonly string[];
  /** Another rxetcd checkout to run instead of this one (bench:compare --against). */
  readonly rxetcdRoot?: string;
  /**
   * Run the TypeScript sources through tsx instead of bin/rxetcd.js's build (bench:alloc: profiles then
   * name source files, not bundle chunks). bin/rxetcd.js's V8 flags are not set.
   */
  readonly rxetcdSources?: boolean;
  /** Environment variables for rxetcd members on top of this process's (e.g. RXETCD_CLIENT_THREAD). */
  readonly rxetcdEnv?: Readonly<Record<string, string>>;
  /**
   * Where an rxetcd member's stdout goes (an open file descriptor), e.g. node's --trace-gc-nvp lines; an
   * array gives each member its own, in the order of memberPids.
   */
  readonly rxetcdStdout?: number | readonly number[];
}

/**
 * Ports handed to members come from here, below the kernel's ephemeral range (32768 and up on Linux):
 * a port the kernel picked for a listener on port 0 and then freed could be taken by one of the load
 * generator's outgoing connections before the member listened on it (EADDRINUSE). Above the tests'
 * range (10000-20000), so that a benchmark and the tests may run at once.
 */
const BENCH_PORTS = { from: 20000, to: 30000 };
const handedOut = new Set<number>();

function bindsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port nothing listens on now, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 500; tries++) {
    const port = BENCH_PORTS.from + Math.floor(Math.random() * (BENCH_PORTS.to - BENCH_PORTS.from));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindsFree(port)) return port;
  }
  throw new Error(`no free port between ${BENCH_PORTS.from} and ${BENCH_PORTS.to}`);
}

export function etcdBinary(): string {
  try {
    return execFileSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("bench:compare compares with Debian's etcd: apt-get install etcd-server");
  }
}

/** How rxetcd is started: the package's own command, or its sources through tsx. */
function rxetcdCommand(nodeArgs: readonly string[], root = ROOT, sources = false): [string, string[]] {
  const entry = sources ? ["--import", "tsx", join(root, "src/cli/main.ts")] : [join(root, "bin/rxetcd.js")];
  return [process.execPath, [...nodeArgs, ...entry]];
}

async function waitHealthy(clientUrl: string, proc: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with code ${proc.exitCode}`);
    try {
      const res = await fetch(`${clientUrl}/health`);
      if (res.ok && ((await res.json()) as { health?: string }).health === "true") return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} did not become healthy at ${clientUrl} within 60 s`);
}

/** The gateway's answer to /v3/maintenance/status: uint64s as decimal strings. */
const StatusReply = t.type({
  header: t.type({ member_id: t.string }),
  leader: t.string,
});

async function isLeader(clientUrl: string): Promise<boolean> {
  const res = await fetch(`${clientUrl}/v3/maintenance/status`, { method: "POST", body: "{}" });
  const decoded = StatusReply.decode(await res.json());
  return decoded._tag === "Right" && decoded.right.header.member_id === decoded.right.leader;
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  const killed = setTimeout(() => proc.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(killed);
}

/**
 * Starts `size` members of `kind` as one new cluster and waits until every member is healthy and
 * one of them leads. One member is the usual row; three are the cluster rows.
 */
export async function startDeployment(
  kind: Kind,
  size: number,
  options: StartOptions = {},
): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), `${kind}-bench-`));
  const token = `bench-${process.pid}-${Date.now()}`;
  const members = [];
  for (let i = 0; i < size; i++) {
    const [cport, pport] = [await freePort(), await freePort()];
    members.push({
      name: `m${i}`,
      client: `http://127.0.0.1:${cport}`,
      peer: `http://127.0.0.1:${pport}`,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
  const procs: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(procs.map(stopProcess));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, m] of members.entries()) {
      const args = [
        ["--name", m.name],
        ["--data-dir", join(dir, m.name)],
        ["--listen-client-urls", m.client],
        ["--advertise-client-urls", m.client],
        ["--listen-peer-urls", m.peer],
        ["--initial-advertise-peer-urls", m.peer],
        ["--initial-cluster", initialCluster],
        ["--initial-cluster-token", token],
        ["--logger", "zap"],
        ["--log-level", "error"],
      ].flat();
      const [command, prefix] =
        kind === "etcd"
          ? [etcdBinary(), []]
          : rxetcdCommand(options.rxetcdNodeArgs ?? [], options.rxetcdRoot, options.rxetcdSources);
      const out = options.rxetcdStdout;
      const stdout = kind === "rxetcd" ? ((typeof out === "object" ? out[i] : out) ?? "ignore") : "ignore";
      const env =
        kind === "rxetcd" && options.rxetcdEnv ? { ...process.env, ...options.rxetcdEnv } : undefined;
      const proc = spawn(command, [...prefix, ...args], {
        stdio: ["ignore", stdout, "pipe"],
        ...(env ? { env } : {}),
      });
      passErrors(proc);
      procs.push(proc);
    }
    await Promise.all(members.map((m, i) => waitHealthy(m.client, procs[i], `${kind} ${m.name}`)));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      for (const [i, m] of members.entries()) {
        if (await isLeader(m.client).catch(() => false)) {
          const memberPids = procs.flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
          return { kind, size, leader: new URL(m.client).host, leaderPid: procs[i].pid, memberPids, stop };
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${kind}: no leader among ${size} members within 30 s`);
  } catch (error) {
    await stop();
    throw error;
  }
}
