#!/usr/bin/env node
// The `rxetcd` command: runs the compiled JavaScript in dist/ (`npm run build`; a checkout's
// `npm install` builds it). In a source checkout whose sources changed after the last build, it runs
// the TypeScript sources through tsx instead, so that a checkout never runs stale code.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";

// Node's own modules a member loads, loaded before the start-up flags are set: a flag set at run time
// changes V8's flag hash, and node's modules then no longer match the code cache built into node, so
// each one loaded afterwards is parsed and compiled again (about twice the CPU). Commands that start
// no member skip this.
const args = process.argv.slice(2);
const startsMember =
  args[0] !== "feed" && args[0] !== "snapshot" && !args.some((a) => /^--?(help|h|version)$/.test(a));
if (startsMember) {
  const require = createRequire(import.meta.url);
  for (const name of [
    "net",
    "tls",
    "http",
    "https",
    "http2",
    "zlib",
    "crypto",
    "dns",
    "dns/promises",
    "dgram",
    "stream",
    "stream/promises",
    "string_decoder",
    "worker_threads",
    "perf_hooks",
    "child_process",
    "cluster",
    "assert",
    "diagnostics_channel",
    "timers/promises",
    "fs/promises",
    "os",
    "vm",
    "process",
  ])
    require(`node:${name}`);
}

// Young-generation collections run on the main thread alone, for the process's life: a member shares its
// cores with busy processes (its peers, its clients), and a parallel scavenge waits for helper threads that
// the kernel may not run for a while. Three members under 64 clients on two busy cores: the longest scavenge
// of a run 20-183 ms with helpers, 10-93 ms without (medians 4-6 and 6-10 ms: the main thread scavenges
// alone, but is not left waiting). (--single-threaded-gc and --no-parallel-marking, which would keep the
// full collections' pauses off the helpers too, cannot be set once the heap exists: V8 fails a check.)
v8.setFlagsFromString("--no-parallel-scavenge");

// Start-up flags, [held, released]: set before the command's own code runs, given back by the command
// once the member serves. Why: src/cli/start-up-flags.ts.
const startUpFlags = [
  ["--semi-space-growth-factor=1", "--semi-space-growth-factor=16"],
  ["--no-turbofan", "--turbofan"],
  // the same both ways: kept for good (see start-up-flags.ts)
  ["--no-lazy-feedback-allocation", "--no-lazy-feedback-allocation"],
];
for (const [held] of startUpFlags) v8.setFlagsFromString(held);
globalThis[Symbol.for("rxetcd.startUpFlags")] = startUpFlags;

const root = new URL("../", import.meta.url);
const compiled = new URL("dist/bundle/cli/main.js", root);
const sources = new URL("src/cli/main.ts", root);

/** When the last build started (ms), or -1 without one. */
function builtAt() {
  try {
    return Number(readFileSync(new URL("dist/build-stamp", root), "utf8"));
  } catch {
    return -1;
  }
}

/**
 * True when a file under one of `dirs` was modified after `since`. Paths are strings, not URLs: a URL
 * made and parsed for each of the few hundred files took about as long as the stats themselves.
 */
function modifiedAfter(since, dirs) {
  const pending = dirs.map((d) => fileURLToPath(new URL(d, root)).replace(/\/$/, ""));
  while (pending.length > 0) {
    const dir = pending.pop();
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) pending.push(path);
      else if (statSync(path).mtimeMs > since) return true;
    }
  }
  return false;
}

const stale =
  existsSync(sources) && (!existsSync(compiled) || modifiedAfter(builtAt(), ["src/", "streams/"]));
if (stale) {
  let register;
  try {
    ({ register } = await import("tsx/esm/api"));
  } catch {
    console.error("rxetcd: the sources changed since the last build: run `npm run build`");
    process.exit(1);
  }
  register();
  await import(sources.href);
} else {
  await import(compiled.href);
}
