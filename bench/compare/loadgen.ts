// The Go load generator that bench:compare drives: found or built on demand, never kept in the
// repository. A generator written in Node shares the event loop's limits with the server it measures
// (on 2 cores it tops out near the server's own speed), so the comparison uses a Go clientv3 one.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";

const ROOT = new URL("../..", import.meta.url).pathname;

/** Where the generator's sources may be: RXETCD_LOADGEN_SRC, or the shared tools next to the checkout. */
function sourceDirs(): string[] {
  const dirs = [process.env.RXETCD_LOADGEN_SRC, join(ROOT, "..", "shared", "tools", "loadgen")];
  return dirs.filter((d): d is string => d !== undefined && existsSync(join(d, "build.sh")));
}

function onPath(name: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "rxetcd", "loadgen");
}

/**
 * The loadgen binary: RXETCD_LOADGEN when set, a cached build of the sources (keyed by their hash),
 * a fresh build into the cache, or `loadgen` on PATH. Fails with what to install when nothing fits.
 */
export function findLoadgen(log: (line: string) => void): string {
  const given = process.env.RXETCD_LOADGEN;
  if (given) {
    if (!existsSync(given)) throw new Error(`RXETCD_LOADGEN=${given}: no such file`);
    return resolve(given);
  }
  const src = sourceDirs()[0];
  if (src === undefined) {
    const found = onPath("loadgen");
    if (found) return found;
    throw new Error(
      "bench:compare needs the Go load generator (etcd 3.4 clientv3): set RXETCD_LOADGEN to a built " +
        "loadgen binary, or RXETCD_LOADGEN_SRC to its source directory (the one holding build.sh and main.go)",
    );
  }
  const hash = createHash("sha256")
    .update(readFileSync(join(src, "main.go")))
    .update(readFileSync(join(src, "build.sh")))
    .digest("hex")
    .slice(0, 16);
  const dir = join(cacheRoot(), hash);
  const binary = join(dir, "loadgen");
  if (existsSync(binary)) return binary;
  if (!onPath("go")) {
    throw new Error(
      "bench:compare builds its Go load generator, but Go is not installed: " +
        "apt-get install golang-go golang-etcd-server-dev (or set RXETCD_LOADGEN to a built loadgen binary)",
    );
  }
  log(`building the Go load generator into ${dir} (once; about a minute) ...`);
  const staging = `${dir}.building-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    buildWithRetries(join(src, "build.sh"), staging);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`building the Go load generator failed: ${(error as Error).message}`);
  }
  return binary;
}

/**
 * Runs build.sh, up to three times: its look-up of the Go sources (`dpkg -L ... | grep -m1` under
 * `pipefail`) fails now and then with status 141 when grep's early exit cuts dpkg off with SIGPIPE.
 */
function buildWithRetries(script: string, out: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync("bash", [script, out], { stdio: ["ignore", "ignore", "inherit"] });
      return;
    } catch (error) {
      if (attempt >= 3 || (error as { status?: number }).status !== 141) throw error;
    }
  }
}

/** The JSON summary loadgen prints as its last line (the fields bench:compare reads). */
const LoadgenSummary = t.type({
  rps: t.number,
  ok: t.number,
  errors: t.number,
  p50_ms: t.number,
  p99_ms: t.number,
});
export type LoadgenSummary = t.TypeOf<typeof LoadgenSummary>;

/** Runs one loadgen command against `endpoints` and returns its summary; errors carry its output. */
export function runLoadgen(
  binary: string,
  args: readonly string[],
  endpoints: string[],
): Promise<LoadgenSummary> {
  const argv = [...args, "--endpoints", endpoints.map((e) => `http://${e}`).join(",")];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const last = out.trim().split("\n").pop() ?? "";
      let parsed: unknown;
      try {
        parsed = JSON.parse(last);
      } catch {
        parsed = undefined;
      }
      const decoded = LoadgenSummary.decode(parsed);
      if (decoded._tag === "Left" || (code !== 0 && code !== 3)) {
        const why = decoded._tag === "Left" ? PathReporter.report(decoded).join("; ") : `exit code ${code}`;
        const tail = `${out}${err}`.trim().split("\n").slice(-3).join(" | ");
        reject(new Error(`loadgen ${argv.join(" ")}: ${why}: ${tail}`));
        return;
      }
      resolvePromise(decoded.right);
    });
  });
}
