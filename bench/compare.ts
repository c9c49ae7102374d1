// `npm run bench:compare`: the same workloads against rxetcd and Debian's etcd, side by side.
// Both run as separate processes on free loopback ports with fresh data dirs; the table gives
// rxetcd's figure over etcd's for every row.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchOptions } from "./client/options.js";
import { runBench } from "./client/run.js";
import type { BenchSummary } from "./client/stats.js";

const ROOT = new URL("..", import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function ensureEtcd(): string {
  try {
    return execFileSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).trim();
  } catch {
    console.log("etcd not found: installing Debian's etcd-server ...");
    execFileSync(
      "sh",
      ["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server"],
      {
        stdio: "inherit",
      },
    );
    return execFileSync("sh", ["-c", "command -v etcd"], { encoding: "utf8" }).trim();
  }
}

async function waitHealthy(clientUrl: string, proc: ChildProcess, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with code ${proc.exitCode}`);
    try {
      const res = await fetch(`${clientUrl}/health`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not become healthy at ${clientUrl} within 30 s`);
}

interface Member {
  name: string;
  endpoint: string;
  stop: () => Promise<void>;
}

async function startMember(kind: "rxetcd" | "etcd"): Promise<Member> {
  const [cport, pport] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), `${kind}-bench-`));
  const client = `http://127.0.0.1:${cport}`;
  const peer = `http://127.0.0.1:${pport}`;
  const args = [
    "--name",
    "bench",
    "--data-dir",
    join(dir, "data"),
    "--listen-client-urls",
    client,
    "--advertise-client-urls",
    client,
    "--listen-peer-urls",
    peer,
    "--initial-advertise-peer-urls",
    peer,
    "--initial-cluster",
    `bench=${peer}`,
    "--logger",
    "zap",
    "--log-level",
    "error",
  ];
  const proc =
    kind === "etcd"
      ? spawn(ensureEtcd(), args, { stdio: ["ignore", "ignore", "inherit"] })
      : spawn(process.execPath, [join(ROOT, "bin/rxetcd.js"), ...args], {
          stdio: ["ignore", "ignore", "inherit"],
        });
  await waitHealthy(client, proc, kind);
  return {
    name: kind,
    endpoint: `127.0.0.1:${cport}`,
    stop: async () => {
      proc.kill("SIGTERM");
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface Row {
  label: string;
  opts: Omit<BenchOptions, "endpoints" | "progress">;
}

const base = {
  conns: 1,
  keySize: 8,
  valSize: 256,
  keySpaceSize: 100_000,
  sequentialKeys: false,
  consistency: "l" as const,
};
const quick = process.argv.includes("--quick");
const scale = quick ? 0.2 : 1;
const ROWS: Row[] = [
  { label: "put, 1 client", opts: { ...base, workload: "put", clients: 1, total: Math.round(2000 * scale) } },
  {
    label: "put, 64 clients",
    opts: { ...base, workload: "put", clients: 64, conns: 8, total: Math.round(20000 * scale) },
  },
  {
    label: "txn-put, 64 clients",
    opts: { ...base, workload: "txn-put", clients: 64, conns: 8, total: Math.round(10000 * scale) },
  },
  {
    label: "range (linearizable), 64 clients",
    opts: { ...base, workload: "range", clients: 64, conns: 8, total: Math.round(20000 * scale) },
  },
  {
    label: "range (serializable), 64 clients",
    opts: {
      ...base,
      workload: "range",
      clients: 64,
      conns: 8,
      total: Math.round(20000 * scale),
      consistency: "s",
    },
  },
  {
    label: "watch latency, 1 client",
    opts: { ...base, workload: "watch-latency", clients: 1, total: Math.round(1000 * scale) },
  },
];

const results = new Map<string, { rx?: BenchSummary; etcd?: BenchSummary }>();
for (const kind of ["rxetcd", "etcd"] as const) {
  const m = await startMember(kind);
  try {
    for (const row of ROWS) {
      const s = await runBench({ ...row.opts, endpoints: [m.endpoint], progress: false });
      const r = results.get(row.label) ?? {};
      if (kind === "rxetcd") r.rx = s;
      else r.etcd = s;
      results.set(row.label, r);
      console.log(
        `${kind.padEnd(7)} ${row.label.padEnd(34)} ${s.rps.toFixed(0).padStart(8)} req/s  p99 ${s.p99Ms.toFixed(2)} ms  errors ${s.errors}`,
      );
    }
  } finally {
    await m.stop();
  }
}

console.log("\n| workload | rxetcd req/s | etcd req/s | ratio | rxetcd p99 ms | etcd p99 ms |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const row of ROWS) {
  const r = results.get(row.label)!;
  const ratio = r.rx && r.etcd && r.etcd.rps > 0 ? (r.rx.rps / r.etcd.rps).toFixed(2) : "n/a";
  console.log(
    `| ${row.label} | ${r.rx?.rps.toFixed(0)} | ${r.etcd?.rps.toFixed(0)} | ${ratio} | ${r.rx?.p99Ms.toFixed(2)} | ${r.etcd?.p99Ms.toFixed(2)} |`,
  );
}
