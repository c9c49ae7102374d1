// Run by generate.sh after `buf generate`: an int64 field read as a JS number (jstype JS_NUMBER:
// revisions, limits, TTLs) takes any value a client sends, as etcd's Go decoder does, instead of
// failing the whole request past 2^53 ("Value is larger than Number.MAX_SAFE_INTEGER" came back as
// code Internal). Past 2^53 the number is the nearest double: still past every revision, limit and
// TTL a member holds, so a request answers as etcd's does (a future revision, no limit, a TTL too
// large).
//   node proto/int64-as-number.js DIR
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const THROWING = /function longToNumber\(int64: \{ toString\(\): string \}\): number \{\n[\s\S]*?\n\}\n/;
const SATURATING = [
  "function longToNumber(int64: { toString(): string }): number {",
  "  // the nearest double past 2^53 (see proto/int64-as-number.js)",
  "  return globalThis.Number(int64.toString());",
  "}",
  "",
].join("\n");

function rewrite(file) {
  const text = readFileSync(file, "utf8");
  if (!THROWING.test(text)) return;
  writeFileSync(file, text.replace(THROWING, SATURATING));
}

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.endsWith(".ts")) rewrite(path);
  }
}

walk(process.argv[2]);
