// Three rxetcd members on this machine, as three processes talking etcd's peer protocol.
// Run: npm run demo:cluster          (Ctrl-C stops all three; data in ./demo-cluster)
//      then open a printed dashboard URL: every member, the leader, follower progress; kill the
//      leader's pid and watch the leader move on the page within a second of the new election.
//      npm run demo:cluster -- --once  (start, show the cluster working, stop: what the test runs)
// Member i listens for clients on 127.0.0.1:<i>2379 and for peers on 127.0.0.1:<i>2380 (i = 1..3), as
// etcd's own Procfile lays out a local cluster; --base-port P uses P, P+1 ... instead.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const args = process.argv.slice(2);
const once = args.includes("--once");
const baseArg = args.indexOf("--base-port");
const basePort = baseArg >= 0 ? Number(args[baseArg + 1]) : undefined;

interface DemoMember {
  name: string;
  client: string;
  peer: string;
  proc?: ChildProcess;
}

const members: DemoMember[] = [1, 2, 3].map((i) => {
  const client = basePort ? basePort + 2 * (i - 1) : Number(`${i}2379`);
  const peer = basePort ? basePort + 2 * (i - 1) + 1 : Number(`${i}2380`);
  return { name: `infra${i}`, client: `http://127.0.0.1:${client}`, peer: `http://127.0.0.1:${peer}` };
});
const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",");
const endpoints = members.map((m) => m.client.replace("http://", "")).join(",");
const dataRoot = once
  ? mkdtempSync(join(tmpdir(), "rxetcd-demo-cluster-"))
  : join(process.cwd(), "demo-cluster");
mkdirSync(dataRoot, { recursive: true });

function start(m: DemoMember): void {
  const argv = [
    join(root, "bin", "rxetcd.js"),
    ["--name", m.name],
    ["--data-dir", join(dataRoot, `${m.name}.etcd`)],
    ["--listen-client-urls", m.client],
    ["--advertise-client-urls", m.client],
    ["--listen-peer-urls", m.peer],
    ["--initial-advertise-peer-urls", m.peer],
    ["--initial-cluster", initialCluster],
    ["--initial-cluster-token", "demo-cluster"],
    ["--initial-cluster-state", "new"],
    ["--logger", "zap", "--log-level", "warn"],
  ].flat();
  const proc = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [proc.stdout, proc.stderr]) {
    stream?.setEncoding("utf8").on("data", (text: string) => {
      for (const line of text.split("\n")) if (line.trim()) console.log(`${m.name.padEnd(7)}| ${line}`);
    });
  }
  proc.on("exit", (code, signal) => console.log(`${m.name.padEnd(7)}| exited (${signal ?? code})`));
  m.proc = proc;
}

async function healthy(m: DemoMember, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${m.client}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { health: string }).health === "true") return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  const ended = m.proc?.exitCode ?? m.proc?.signalCode;
  throw new Error(
    `${m.name} is not healthy after ${timeoutMs} ms${ended === null || ended === undefined ? "" : ` (its process ended: ${ended})`}`,
  );
}

function etcdctl(...ctlArgs: string[]): string {
  return execFileSync("etcdctl", [`--endpoints=${endpoints}`, ...ctlArgs], {
    env: { ...process.env, ETCDCTL_API: "3" },
    encoding: "utf8",
  });
}

function stopAll(): void {
  for (const m of members) if (m.proc && m.proc.exitCode === null) m.proc.kill("SIGTERM");
}

process.on("SIGINT", () => {
  stopAll();
  setTimeout(() => process.exit(0), 2000).unref();
});

for (const m of members) start(m);
await Promise.all(members.map((m) => healthy(m, 60_000)));
console.log(`\nthree members are up (data in ${dataRoot}). Try, in another terminal:\n`);
const tryThese = [
  `export ETCDCTL_API=3 ENDPOINTS=${endpoints}`,
  "etcdctl --endpoints=$ENDPOINTS member list -w table",
  "etcdctl --endpoints=$ENDPOINTS endpoint status -w table      # who leads, raft term and index",
  "etcdctl --endpoints=$ENDPOINTS put greeting hello           # through any member",
  `etcdctl --endpoints=${members[2].client.replace("http://", "")} get greeting      # read on another`,
  "etcdctl --endpoints=$ENDPOINTS move-leader <member id in hex>  # hand leadership over (ask the leader)",
  "kill <pid of the leader>; etcdctl --endpoints=$ENDPOINTS endpoint status -w table  # a new leader",
];
for (const line of tryThese) console.log(`  ${line}`);
console.log("\ndashboards (each member serves one; kill the leader and watch the leader move on the page):");
for (const m of members) console.log(`  ${m.name.padEnd(7)} ${m.client}/dashboard`);
console.log(`\npids: ${members.map((m) => `${m.name}=${m.proc?.pid}`).join(" ")}\n`);

if (once) {
  try {
    console.log(etcdctl("put", "greeting", "hello from three members").trim());
    console.log(`get greeting -> ${etcdctl("get", "greeting", "--print-value-only").trim()}`);
    console.log(etcdctl("member", "list").trim());
    console.log(etcdctl("endpoint", "status", "-w", "table").trim());
    for (const m of members) {
      const page = await fetch(`${m.client}/dashboard`);
      console.log(`dashboard of ${m.name}: HTTP ${page.status} ${page.headers.get("content-type")}`);
    }
  } finally {
    stopAll();
    await Promise.all(
      members.map((m) => new Promise((r) => (m.proc?.exitCode !== null ? r(0) : m.proc?.on("exit", r)))),
    );
    rmSync(dataRoot, { recursive: true, force: true });
  }
}
