#!/usr/bin/env node
// The `rxetcd` command: runs the compiled JavaScript in dist/ (`npm run build`; a checkout's
// `npm install` builds it). In a source checkout whose sources changed after the last build, it runs
// the TypeScript sources through tsx instead, so that a checkout never runs stale code.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import v8 from "node:v8";

// Start-up flags, [held, released]: set before anything else runs (even the checks below get code
// optimized), given back by the command once the member serves. Why: src/cli/start-up-flags.ts.
const startUpFlags = [
  ["--semi-space-growth-factor=1", "--semi-space-growth-factor=2"],
  ["--no-turbofan", "--turbofan"],
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

/** True when a file under one of `dirs` was modified after `since`. */
function modifiedAfter(since, dirs) {
  const pending = dirs.map((d) => new URL(d, root));
  while (pending.length > 0) {
    const dir = pending.pop();
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) pending.push(new URL(`${entry.name}/`, dir));
      else if (statSync(new URL(entry.name, dir)).mtimeMs > since) return true;
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
