// `npm run bench:alloc`: what a request allocates on each member, function by function. Every byte a
// member allocates brings its next scavenge nearer, and each scavenge stops the member's one main thread
// (every client of a leader waits meanwhile), so bytes allocated per request is a figure to cut — and,
// unlike latency, one that other work on the machine does not change.
//
//   npm run bench:alloc -- [--row put-64] [--members 1|3] [--warmup N] [--requests N] [--interval B]
//                          [--top K] [--against DIR] [--node-args "FLAGS"] [--sources]
//                          [--callers NAME,...] [--survivors]
//
// Members run as they ship (bin/rxetcd.js and its bundle), with bench/profile/heap-sampler.mjs loaded: after an untimed warm-up (three load generator runs of N/3 requests)
// each member samples with V8's heap profiler (one sample every B bytes on average, freed objects
// included) while the Go load generator runs the row once more. Per member (the leader, then one
// follower) it prints bytes sampled per request and the functions that allocated most: by their own
// allocations, and by the innermost rxetcd source function on the stack (what the project can change).
// --against DIR does the same for another checkout, one after the other. --node-args passes node flags to
// the members: "--no-turbo-inlining" charges each allocation to the function that makes it (optimized code
// otherwise charges an inlined callee's allocations to its caller), at the cost of measuring code that
// allocates a little more than the real one. A frame in the bundle is named by its function, the
// module marker esbuild left nearest before it (`dist/src/...`: a class's own module for its methods, but
// for a plain function the module before its own, as esbuild puts those ahead of their module's marker)
// and, for an anonymous function, its first characters of code.
// --sources runs the TypeScript sources through tsx instead, naming source files (but tsx wraps every
// named function in a helper that allocates as it names it, so the figures are not the bundle's).
// --callers NAME,... breaks down what the functions of those names allocate (Node's FastBuffer, say) by
// the innermost rxetcd function calling them. --survivors leaves out what scavenges freed: what is left
// outlived the young generation (V8 copied it twice, and promoted it), which is what makes scavenges long.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import { findLoadgen } from "./compare/loadgen.js";
import { buildRxetcd } from "./compare/members.js";
import { frameName, isProjectFrame } from "./profile/frames.js";
import { profileRow } from "./profile/profile-row.js";
import { flag, rowOptions } from "./profile/row-options.js";

const { row, size, warmup, requests, interval, top, against, callersOf } = rowOptions(
  "bench:alloc",
  { interval: 1024, intervalUnit: "B", top: 25 },
  '[--node-args "FLAGS"] [--sources] [--survivors]',
);
const nodeArgs = (flag("--node-args") ?? "").split(" ").filter((a) => a !== "");
const sources = process.argv.includes("--sources");
const survivors = process.argv.includes("--survivors");

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
const ProfileNode: t.Type<ProfileNode> = t.recursion("ProfileNode", () =>
  t.type({
    callFrame: t.type({
      functionName: t.string,
      url: t.string,
      lineNumber: t.number,
      columnNumber: t.number,
    }),
    selfSize: t.number,
    children: t.array(ProfileNode),
  }),
);
const Profile = t.type({ head: ProfileNode });

function readProfile(path: string): ProfileNode {
  const decoded = Profile.decode(JSON.parse(readFileSync(path, "utf8")));
  if (decoded._tag === "Left") throw new Error(`${path}: ${PathReporter.report(decoded).join("; ")}`);
  return decoded.right.head;
}

interface Summary {
  total: number;
  bySelf: Map<string, number>;
  byProject: Map<string, number>;
  /** Per --callers name: its own allocations by the innermost rxetcd function calling it. */
  byCaller: Map<string, Map<string, number>>;
}

function summarize(head: ProfileNode, root: string): Summary {
  const summary: Summary = {
    total: 0,
    bySelf: new Map(),
    byProject: new Map(),
    byCaller: new Map(callersOf.map((name) => [name, new Map()])),
  };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  const walk = (node: ProfileNode, project: string) => {
    const here = isProjectFrame(node.callFrame, root) ? frameName(node.callFrame, root) : project;
    if (node.selfSize > 0) {
      summary.total += node.selfSize;
      add(summary.bySelf, frameName(node.callFrame, root), node.selfSize);
      add(summary.byProject, here, node.selfSize);
      const callers = summary.byCaller.get(node.callFrame.functionName);
      if (callers !== undefined) add(callers, project, node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  walk(head, "(no rxetcd frame)");
  return summary;
}

function printTop(title: string, m: Map<string, number>, perRequest: number) {
  console.log(`  ${title}`);
  const sorted = [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, bytes] of sorted)
    console.log(`    ${(bytes / perRequest).toFixed(0).padStart(7)} B/req  ${name}`);
}

const loadgen = findLoadgen((line) => console.log(line));
const sampler = fileURLToPath(new URL("profile/heap-sampler.mjs", import.meta.url));
const loadavg = () => readFileSync("/proc/loadavg", "utf8").trim().split(" ").slice(0, 3).join(" ");
const roots = [fileURLToPath(new URL("..", import.meta.url)), ...(against ? [resolve(against)] : [])];
console.log(
  `row ${row.id} (${row.label}), ${size} member(s); warm-up ${warmup}, sampled ${requests} requests; one sample per ${interval} B; load ${loadavg()}`,
);

// each checkout runs its build (bin/rxetcd.js would run stale sources through tsx otherwise)
if (!sources) for (const root of roots) buildRxetcd(root);

for (const root of roots) {
  const rootDir = root.endsWith("/") ? root : `${root}/`;
  const run = await profileRow({
    loadgen,
    root,
    sources,
    size,
    row,
    warmup,
    requests,
    preload: sampler,
    dirVariable: "RXETCD_ALLOC_PROFILE_DIR",
    env: { RXETCD_ALLOC_INTERVAL: String(interval), RXETCD_ALLOC_SURVIVORS: survivors ? "1" : "0" },
    nodeArgs,
    extension: "heapprofile",
  });
  try {
    const s = run.summary;
    console.log(`\n${rootDir}: ${s.rps.toFixed(0)} req/s, ${s.ok} answered; load ${loadavg()}`);
    for (const m of run.members) {
      const summary = summarize(readProfile(m.path), rootDir);
      console.log(
        `\n${m.role} (pid ${m.pid}): ${(summary.total / s.ok).toFixed(0)} B ${survivors ? "outliving scavenges" : "sampled"} per request`,
      );
      printTop("by the allocating function:", summary.bySelf, s.ok);
      printTop("by the innermost rxetcd function on the stack:", summary.byProject, s.ok);
      for (const [name, callers] of summary.byCaller)
        printTop(`${name}'s own, by the innermost rxetcd function calling it:`, callers, s.ok);
    }
  } finally {
    await run.done();
  }
}
