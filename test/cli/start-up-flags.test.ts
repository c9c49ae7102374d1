// The command's start-up flags: bin/rxetcd.js sets them before anything else runs, and while they are
// held TurboFan is off and the young generation keeps its initial size; releaseStartUpFlags() gives
// V8's defaults back. Each check runs in a process of its own with V8's natives syntax, which tells
// whether TurboFan may optimize a function and whether it did.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/rxetcd.js", import.meta.url));
const module = fileURLToPath(new URL("../../src/cli/start-up-flags.ts", import.meta.url));

// V8's OptimizationStatus bits (src/runtime/runtime.h)
const NEVER_OPTIMIZE = 1 << 1;
const TURBOFANNED = 1 << 6;

/**
 * Script text: __probe(v8) runs a function hot and keeps 2 million objects alive meanwhile, and tells
 * whether a function's first call is seen by TurboFan: called once with one shape of object, then
 * optimized on another, it keeps its optimized code on the first shape only when V8 kept feedback of
 * that first call (a function of its own each time: feedback is shared by a source's closures).
 */
const probe = `
  let probes = 0;
  const remembersFirstCall = () => {
    const field = new Function("o", \`// probe \${probes++}\nreturn o.x;\`);
    field({ a: 1, x: 1 });
    %PrepareFunctionForOptimization(field);
    for (let i = 0; i < 100; i++) field({ x: i });
    %OptimizeFunctionOnNextCall(field);
    field({ x: 1 });
    field({ a: 1, x: 2 });
    return (%GetOptimizationStatus(field) & ${1 << 6}) !== 0;
  };
  globalThis.__probe = (v8) => {
    const youngMiB = () =>
      v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size / 1048576;
    const before = youngMiB();
    function hot(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * 2; return s; }
    const a = Array.from({ length: 100 }, (_, i) => i);
    for (let k = 0; k < 200000; k++) hot(a);
    const kept = [];
    for (let i = 0; i < 2e6; i++) kept.push({ i });
    return {
      status: %GetOptimizationStatus(hot),
      youngBeforeMiB: before,
      youngMiB: youngMiB(),
      kept: kept.length,
      remembersFirstCall: remembersFirstCall(),
    };
  };
`;

function run(args: string[]): string {
  const r = spawnSync(process.execPath, ["--allow-natives-syntax", ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split("\n").pop() ?? "";
}

interface Probe {
  status: number;
  /** The young generation's size before and after the objects were allocated. */
  youngBeforeMiB: number;
  youngMiB: number;
  /** A function optimized after calls on one shape keeps its code on the shape of its first call. */
  remembersFirstCall: boolean;
}

describe("start-up flags", { timeout: 120_000 }, () => {
  let pairs: [string, string][] = [];

  test("bin/rxetcd.js sets them from its first lines and leaves them for the command to give back", () => {
    // an --import module runs before bin/rxetcd.js; its exit handler after the command
    const hook = `${probe}
      const v8 = await import("node:v8");
      process.on("exit", () => {
        const p = globalThis.__probe(v8);
        process.stdout.write("\\n" + JSON.stringify({ pairs: globalThis[Symbol.for("rxetcd.startUpFlags")], ...p }));
      });`;
    const seen = JSON.parse(
      run(["--import", `data:text/javascript,${encodeURIComponent(hook)}`, bin, "--version"]),
    ) as Probe & { pairs: [string, string][] };
    assert.ok(Array.isArray(seen.pairs) && seen.pairs.length > 0, "bin/rxetcd.js leaves its flags");
    pairs = seen.pairs;
    assert.ok(seen.status & NEVER_OPTIMIZE, `held: TurboFan may not optimize (status ${seen.status})`);
    assert.equal(seen.status & TURBOFANNED, 0, "held: nothing is optimized by TurboFan");
  });

  test("held, no TurboFan and no growth of the young generation; released, V8's defaults", () => {
    assert.ok(pairs.length > 0, "needs the flags of the first test");
    const script = `${probe}
      const v8 = await import("node:v8");
      const { releaseStartUpFlags } = await import(${JSON.stringify(module)});
      const pairs = ${JSON.stringify(pairs)};
      for (const [held] of pairs) v8.setFlagsFromString(held);
      globalThis[Symbol.for("rxetcd.startUpFlags")] = pairs;
      const held = globalThis.__probe(v8);
      releaseStartUpFlags();
      const left = globalThis[Symbol.for("rxetcd.startUpFlags")];
      releaseStartUpFlags(); // a second call does nothing
      const released = globalThis.__probe(v8);
      console.log(JSON.stringify({ held, released, left: left === undefined ? null : left }));`;
    const seen = JSON.parse(run(["--import", "tsx", "--input-type=module", "-e", script])) as {
      held: Probe;
      released: Probe;
      left: unknown;
    };
    assert.ok(seen.held.status & NEVER_OPTIMIZE, `held: TurboFan may not optimize (${seen.held.status})`);
    assert.equal(seen.held.youngMiB, seen.held.youngBeforeMiB, "held: the young generation keeps its size");
    assert.equal(seen.left, null, "the flags are marked as given back");
    assert.ok(seen.released.status & TURBOFANNED, `released: TurboFan optimizes (${seen.released.status})`);
    assert.ok(
      seen.released.youngMiB > seen.released.youngBeforeMiB,
      `released: the young generation grows (${seen.released.youngBeforeMiB} -> ${seen.released.youngMiB} MiB)`,
    );
    assert.equal(seen.released.remembersFirstCall, true, "released: a function's first call is remembered");
  });
});
