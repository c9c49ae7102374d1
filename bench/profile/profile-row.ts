// Runs one bench:compare row on a fresh rxetcd deployment with a profiler loaded into each member, and
// profiles the leader and one follower over the timed run only: a preload module starts its profiler on
// the first SIGUSR2 and writes `<pid>.<extension>` into a directory on the second (bench:alloc's heap
// sampler, bench:profile's CPU profiler).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LoadgenSummary, runLoadgen } from "../compare/loadgen.js";
import { startDeployment } from "../compare/members.js";
import type { Workload } from "../compare/rows.js";

export interface ProfileRowOptions {
  readonly loadgen: string;
  /** The rxetcd checkout to run (built already, unless `sources`). */
  readonly root: string;
  readonly sources: boolean;
  readonly size: number;
  readonly row: Workload;
  /** Requests of the untimed warm-up (three generator runs), and of the profiled run. */
  readonly warmup: number;
  readonly requests: number;
  /** The preload module (node --import) and what it reads from the environment besides the directory. */
  readonly preload: string;
  /** The environment variable naming the directory the preload writes into. */
  readonly dirVariable: string;
  readonly env: Readonly<Record<string, string>>;
  readonly nodeArgs: readonly string[];
  /** The file name's ending the preload writes (`heapprofile`, `cpuprofile`). */
  readonly extension: string;
}

export interface ProfiledMember {
  readonly role: "leader" | "follower";
  readonly pid: number;
  /** The profile file, readable until `done` is called. */
  readonly path: string;
}

export interface ProfiledRow {
  readonly summary: LoadgenSummary;
  readonly members: readonly ProfiledMember[];
  /** Stops the deployment and removes the profiles. */
  done(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForFile(path: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`no profile at ${path} within 60 s`);
    await sleep(100);
  }
  await sleep(500); // written in one call; let it finish
}

export async function profileRow(o: ProfileRowOptions): Promise<ProfiledRow> {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-profile-"));
  const d = await startDeployment("rxetcd", o.size, {
    rxetcdRoot: o.root,
    rxetcdSources: o.sources,
    rxetcdNodeArgs: [...o.nodeArgs, "--import", o.preload],
    rxetcdEnv: { ...o.env, [o.dirVariable]: dir },
  });
  const done = async () => {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const p of o.row.prepare) await runLoadgen(o.loadgen, p, [d.leader]);
    for (let i = 0; i < 3 && o.warmup > 0; i++)
      await runLoadgen(o.loadgen, o.row.args(Math.ceil(o.warmup / 3)), [d.leader]);
    const pids = [d.leaderPid, ...d.memberPids.filter((p) => p !== d.leaderPid)]
      .slice(0, 2)
      .filter((p): p is number => p !== undefined);
    for (const pid of pids) process.kill(pid, "SIGUSR2");
    await sleep(300);
    const summary = await runLoadgen(o.loadgen, o.row.args(o.requests), [d.leader]);
    for (const pid of pids) process.kill(pid, "SIGUSR2");
    const members = pids.map(
      (pid, i): ProfiledMember => ({
        role: i === 0 ? "leader" : "follower",
        pid,
        path: join(dir, `${pid}.${o.extension}`),
      }),
    );
    for (const m of members) await waitForFile(m.path);
    return { summary, members, done };
  } catch (err) {
    await done();
    throw err;
  }
}
