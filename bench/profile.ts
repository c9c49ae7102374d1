// `npm run bench:profile`: where a member's CPU time goes under one bench:compare row. Members run as they
// ship (bin/rxetcd.js and its bundle) with bench/profile/cpu-profiler.mjs loaded; after an untimed warm-up
// (three load generator runs of N/3 requests) the leader and one follower run V8's CPU profiler while
// the Go load generator runs the row once more. Per member it prints the profile's wall time split into
// idle, garbage collection, V8 and native code outside JavaScript ("program"), and the code running:
// by area (the project's source directories, Node's HTTP/2, streams and file system modules, native
// bindings), by the area of the innermost project function on the stack (what the project's code costs
// with what it calls), and the functions with the most time of their own.
//
//   npm run bench:profile -- [--row put-64] [--members 1|3] [--warmup N] [--requests N]
//                            [--interval US] [--top K] [--against DIR] [--save DIR] [--callers NAME,...]
//
// --interval US is the sampling period: at the default, one sample per millisecond, one member's put-64 ran at
// about 0.94 of its unprofiled rate; at 200 us, about 0.65 (the profile then describes a slower member).
// --against DIR profiles another checkout too, one after the other; --save DIR keeps the .cpuprofile files
// (open them in Chrome's DevTools) named <checkout>-<role>-<row>.cpuprofile. --callers NAME,... breaks down
// the time of those functions (native ones such as writeBuffer or fdatasync, say) by the innermost project
// function calling them.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import { findLoadgen } from "./compare/loadgen.js";
import { buildRxetcd } from "./compare/members.js";
import { type CallFrame, frameName, projectModule } from "./profile/frames.js";
import { profileRow } from "./profile/profile-row.js";
import { flag, rowOptions } from "./profile/row-options.js";

const { row, size, warmup, requests, interval, top, against, callersOf } = rowOptions(
  "bench:profile",
  { interval: 1000, intervalUnit: "US", top: 20 },
  "[--save DIR]",
);
const saveDir = flag("--save");

const CpuProfile = t.type({
  nodes: t.array(
    t.type({
      id: t.number,
      callFrame: t.type({
        functionName: t.string,
        url: t.string,
        lineNumber: t.number,
        columnNumber: t.number,
      }),
      children: t.union([t.array(t.number), t.undefined]),
    }),
  ),
  startTime: t.number,
  endTime: t.number,
  samples: t.array(t.number),
  timeDeltas: t.array(t.number),
});
type CpuProfile = t.TypeOf<typeof CpuProfile>;

function readProfile(path: string): CpuProfile {
  const decoded = CpuProfile.decode(JSON.parse(readFileSync(path, "utf8")));
  if (decoded._tag === "Left") throw new Error(`${path}: ${PathReporter.report(decoded).join("; ")}`);
  return decoded.right;
}

/** V8's pseudo-frames: the profile's time outside JavaScript. */
const PSEUDO: Record<string, string> = {
  "(idle)": "idle (waiting for I/O or timers)",
  "(garbage collector)": "garbage collection",
  "(program)": "program (V8 and native code with no JavaScript frame: compiling, libuv, ...)",
  "(root)": "program (V8 and native code with no JavaScript frame: compiling, libuv, ...)",
};

/** The project area a module is in: its directory, at most three levels deep (src/api/grpc, src/raft). */
function projectArea(module: string): string {
  return module.split("/").slice(0, -1).slice(0, 3).join("/") || module;
}

/** The area of code running in a frame: a pseudo-frame, a project directory, a Node module group, native. */
function area(frame: CallFrame, root: string): string {
  const pseudo = PSEUDO[frame.functionName];
  if (pseudo !== undefined && frame.url === "") return pseudo;
  const module = projectModule(frame, root);
  if (module !== undefined) return projectArea(module);
  const url = frame.url;
  if (url === "") return "native bindings (syscalls, copies, crypto)";
  if (url.startsWith("node:internal/http2")) return "node: http2";
  if (/^node:(net|internal\/(stream_base_commons|streams|net|js_stream_socket))/.test(url))
    return "node: net and streams";
  if (/^node:(fs|internal\/fs)/.test(url)) return "node: fs";
  if (/^node:(internal\/)?(timers|process\/task_queues)/.test(url)) return "node: timers and task queues";
  if (url.startsWith("node:")) return "node: other";
  const dependency = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (dependency) return `dependency: ${dependency[1]}`;
  if (url.includes("/dist/bundle/")) return "dependency (bundled)";
  return `other: ${basename(url)}`;
}

interface Summary {
  /** Microseconds of the profile. */
  total: number;
  byArea: Map<string, number>;
  /** Non-pseudo time by the area of the innermost project frame on the stack. */
  byProjectCaller: Map<string, number>;
  bySelf: Map<string, number>;
  /** Per --callers name: its own time by the innermost project function calling it. */
  byCaller: Map<string, Map<string, number>>;
}

function summarize(profile: CpuProfile, root: string): Summary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** Per node: the area of the innermost project frame at or above it. */
  const callerArea = new Map<number, string>();
  const callerOf = (id: number): string => {
    const known = callerArea.get(id);
    if (known !== undefined) return known;
    const node = nodes.get(id);
    const module = node === undefined ? undefined : projectModule(node.callFrame, root);
    const up = parent.get(id);
    const found =
      module !== undefined ? projectArea(module) : up === undefined ? "(no project frame)" : callerOf(up);
    callerArea.set(id, found);
    return found;
  };
  /** Per node: the name of the innermost project function at or above it. */
  const callerName = new Map<number, string>();
  const callerNameOf = (id: number): string => {
    const known = callerName.get(id);
    if (known !== undefined) return known;
    const node = nodes.get(id);
    const up = parent.get(id);
    const found =
      node !== undefined && projectModule(node.callFrame, root) !== undefined
        ? frameName(node.callFrame, root)
        : up === undefined
          ? "(no project frame)"
          : callerNameOf(up);
    callerName.set(id, found);
    return found;
  };
  const summary: Summary = {
    total: 0,
    byArea: new Map(),
    byProjectCaller: new Map(),
    bySelf: new Map(),
    byCaller: new Map(callersOf.map((name) => [name, new Map()])),
  };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  // sample i lasts until sample i + 1 (the last one until the profile's end)
  let at = profile.startTime;
  const times = profile.timeDeltas.map((d) => (at += d));
  for (let i = 0; i < profile.samples.length; i++) {
    const end = i + 1 < times.length ? times[i + 1] : profile.endTime;
    const us = Math.max(0, end - times[i]);
    const node = nodes.get(profile.samples[i]);
    if (node === undefined) continue;
    summary.total += us;
    const a = area(node.callFrame, root);
    add(summary.byArea, a, us);
    if (PSEUDO[node.callFrame.functionName] === undefined || node.callFrame.url !== "") {
      add(summary.byProjectCaller, callerOf(node.id), us);
      add(summary.bySelf, frameName(node.callFrame, root), us);
      const callers = summary.byCaller.get(node.callFrame.functionName);
      if (callers !== undefined) add(callers, callerNameOf(node.id), us);
    }
  }
  return summary;
}

function printTop(title: string, m: Map<string, number>, total: number, perRequest: number, limit: number) {
  console.log(`  ${title}`);
  const sorted = [...m].sort((a, b) => b[1] - a[1]).slice(0, limit);
  for (const [name, us] of sorted)
    console.log(
      `    ${((100 * us) / total).toFixed(1).padStart(5)} %  ${(us / perRequest).toFixed(1).padStart(6)} us/req  ${name}`,
    );
}

const loadgen = findLoadgen((line) => console.log(line));
const profiler = fileURLToPath(new URL("profile/cpu-profiler.mjs", import.meta.url));
const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
const roots = [fileURLToPath(new URL("..", import.meta.url)), ...(against ? [resolve(against)] : [])];
console.log(
  `row ${row.id} (${row.label}), ${size} member(s); warm-up ${warmup}, profiled ${requests} requests; one sample per ${interval} us; load ${loadavg()}`,
);
for (const root of roots) buildRxetcd(root);
if (saveDir) mkdirSync(resolve(saveDir), { recursive: true });

for (const [r, root] of roots.entries()) {
  const rootDir = root.endsWith("/") ? root : `${root}/`;
  const run = await profileRow({
    loadgen,
    root,
    sources: false,
    size,
    row,
    warmup,
    requests,
    preload: profiler,
    dirVariable: "RXETCD_CPU_PROFILE_DIR",
    env: { RXETCD_CPU_PROFILE_INTERVAL: String(interval) },
    nodeArgs: [],
    extension: "cpuprofile",
  });
  try {
    const s = run.summary;
    console.log(
      `\n${rootDir}: ${s.rps.toFixed(0)} req/s, p99 ${s.p99_ms.toFixed(2)} ms, ${s.ok} answered; load ${loadavg()}`,
    );
    for (const m of run.members) {
      if (saveDir)
        copyFileSync(
          m.path,
          join(resolve(saveDir), `${r === 0 ? "this" : "against"}-${m.role}-${row.id}.cpuprofile`),
        );
      const summary = summarize(readProfile(m.path), rootDir);
      const idle = summary.byArea.get(PSEUDO["(idle)"]) ?? 0;
      console.log(
        `\n${m.role} (pid ${m.pid}): ${(summary.total / 1000).toFixed(0)} ms profiled, ${((100 * (summary.total - idle)) / summary.total).toFixed(1)} % busy, ${((summary.total - idle) / s.ok).toFixed(1)} us of the main thread per request`,
      );
      printTop("by the code running:", summary.byArea, summary.total, s.ok, top);
      printTop(
        "JavaScript and native code by the innermost project directory on the stack:",
        summary.byProjectCaller,
        summary.total,
        s.ok,
        top,
      );
      printTop("by function (time of its own):", summary.bySelf, summary.total, s.ok, top);
      for (const [name, callers] of summary.byCaller)
        printTop(
          `${name}'s own time, by the innermost project function calling it:`,
          callers,
          summary.total,
          s.ok,
          top,
        );
    }
  } finally {
    await run.done();
  }
}
