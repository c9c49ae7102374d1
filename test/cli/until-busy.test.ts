// Flags held until the process has work: TurboFan stays off while scavenges come far apart, and is on
// once two come close together (a burst of allocation); hold() holds it again. Each check runs in a
// process of its own with V8's natives syntax, which tells whether TurboFan may optimize a function.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const module = fileURLToPath(new URL("../../src/cli/until-busy.ts", import.meta.url));

// V8's OptimizationStatus bits (src/runtime/runtime.h)
const NEVER_OPTIMIZE = 1 << 1;
const TURBOFANNED = 1 << 6;

/** Script text: a new function made hot and asked to be optimized; its status. */
const probe = `
  let probes = 0;
  globalThis.__status = () => {
    const f = new Function("a", \`// probe \${probes++}\nlet s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s;\`);
    %PrepareFunctionForOptimization(f);
    f([1, 2]);
    f([3]);
    %OptimizeFunctionOnNextCall(f);
    f([4]);
    return %GetOptimizationStatus(f);
  };
  // allocation that fills the young generation many times over within a few ms
  globalThis.__burst = async () => {
    let keep = [];
    for (let i = 0; i < 3e6; i++) {
      keep.push({ i });
      if (keep.length > 1000) keep = [];
    }
    // the scavenges' reports arrive in a later task
    await new Promise((resolve) => setTimeout(resolve, 200));
  };
`;

function run(busyGapMs: number): { idle: number; busy: number; heldAgain: number } {
  const script = `${probe}
    const { holdUntilBusy } = await import(${JSON.stringify(module)});
    const untilBusy = holdUntilBusy([["--no-turbofan", "--turbofan"]], ${busyGapMs});
    const idle = globalThis.__status();
    await globalThis.__burst();
    const busy = globalThis.__status();
    untilBusy.hold([["--no-turbofan", "--turbofan"]]);
    const heldAgain = globalThis.__status();
    untilBusy.stop();
    console.log(JSON.stringify({ idle, busy, heldAgain }));`;
  const r = spawnSync(
    process.execPath,
    ["--allow-natives-syntax", "--import", "tsx", "--input-type=module", "-e", script],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}");
}

describe("flags held until busy", { timeout: 120_000 }, () => {
  test("TurboFan is off until a burst of allocation, and off again once held again", () => {
    const seen = run(1000);
    assert.ok(seen.idle & NEVER_OPTIMIZE, `idle: TurboFan may not optimize (status ${seen.idle})`);
    assert.equal(seen.idle & TURBOFANNED, 0, "idle: nothing optimized by TurboFan");
    assert.ok(seen.busy & TURBOFANNED, `busy: TurboFan optimizes (status ${seen.busy})`);
    assert.ok(seen.heldAgain & NEVER_OPTIMIZE, `held again: TurboFan may not (status ${seen.heldAgain})`);
  });

  test("scavenges further apart than the gap are no work", () => {
    // a gap of 0 ms: no two scavenges are close enough
    const seen = run(0);
    assert.ok(seen.busy & NEVER_OPTIMIZE, `still held after the burst (status ${seen.busy})`);
  });
});
