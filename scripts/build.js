#!/usr/bin/env node
// `npm run build`: compiles src/ and streams/ to JavaScript with declarations in dist/ (tsc, incremental),
// copies the dashboard's static files beside their module, and records when the build started, so
// that bin/rxetcd.js can tell a build from sources edited after it.
//   node scripts/build.js [--lenient]
// --lenient (npm's prepare, on every `npm install` of a checkout): a type error is reported but does
// not fail the install; the build is then not stamped, so bin/rxetcd.js keeps running the sources.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const startedAt = Date.now();
const lenient = process.argv.includes("--lenient");

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  console.error("rxetcd build: TypeScript is not installed (npm install, with dev dependencies)");
  process.exit(lenient ? 0 : 1);
}
const compiled = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
if (compiled.status !== 0) {
  console.error("rxetcd build: tsc failed; dist/ is not stamped as current");
  process.exit(lenient ? 0 : (compiled.status ?? 1));
}

cpSync(`${root}/src/feed/dashboard/assets`, `${root}/dist/src/feed/dashboard/assets`, { recursive: true });
mkdirSync(`${root}/dist`, { recursive: true });
writeFileSync(`${root}/dist/build-stamp`, `${startedAt}\n`);
