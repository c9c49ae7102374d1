// Memory given back after a burst: a workload that keeps much of what it allocates alive across
// scavenges makes V8 grow the young generation to its maximum and fills old space; once the process
// is idle, the give-back shrinks the young generation back and empties old space, which V8 alone does
// not do in the same time. Each run is a process of its own (V8's flags are per process).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const module = fileURLToPath(new URL("../../src/cli/memory-after-bursts.ts", import.meta.url));
const MiB = 1024 * 1024;

interface Seen {
  /** Young generation and old space right after the burst. */
  grown: { young: number; old: number };
  /** The same when the run ended. */
  last: { young: number; old: number };
  /** Milliseconds from the end of the burst to the young generation's shrinking, when it shrank. */
  shrankAfterMs: number | undefined;
}

/**
 * Runs the burst and then `idleMs` of idleness (ending early once the young generation is back under
 * 4 MiB) in a new process, with the give-back or without it.
 */
function burstThenIdle(giveBack: boolean, idleMs: number): Promise<Seen> {
  const script = `
    const { giveMemoryBackAfterBursts, heapSizes } = await import(${JSON.stringify(module)});
    if (${giveBack}) giveMemoryBackAfterBursts();
    // rounds of objects kept for a while (requests holding their data), yielding between rounds as
    // a server does between reads
    const kept = [];
    for (let round = 0; round < 300; round++) {
      const batch = [];
      for (let i = 0; i < 4000; i++) batch.push({ round, i, text: "x".repeat(i % 64) + round });
      kept.push(batch);
      if (kept.length > 40) kept.shift();
      if (round % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    kept.length = 0;
    const grown = heapSizes();
    const end = performance.now();
    let shrankAfterMs;
    while (performance.now() - end < ${idleMs}) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (heapSizes().young < 4 * ${MiB}) {
        shrankAfterMs = Math.round(performance.now() - end);
        break;
      }
    }
    process.stdout.write(JSON.stringify({ grown, last: heapSizes(), shrankAfterMs }));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`the workload exited with ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split("\n").pop() ?? "{}") as Seen);
    });
  });
}

describe("memory given back after a burst", { timeout: 120_000 }, () => {
  test("the young generation shrinks back and old space empties once idle; without it, neither", async () => {
    const [withIt, without] = await Promise.all([burstThenIdle(true, 40_000), burstThenIdle(false, 12_000)]);
    const mb = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
    for (const run of [withIt, without])
      assert.ok(
        run.grown.young > 8 * MiB,
        `the burst must grow the young generation (${mb(run.grown.young)})`,
      );
    assert.ok(
      withIt.shrankAfterMs !== undefined,
      `the young generation stayed at ${mb(withIt.last.young)} for 40 s after the burst`,
    );
    assert.ok(
      withIt.last.old < withIt.grown.old / 2,
      `old space ${mb(withIt.grown.old)} after the burst, ${mb(withIt.last.old)} when the young generation shrank`,
    );
    // the control: V8 by itself keeps both for at least as long as the give-back took, and longer
    assert.equal(
      without.shrankAfterMs,
      undefined,
      `without the give-back the young generation shrank too (after ${without.shrankAfterMs} ms)`,
    );
    assert.ok(
      without.last.young > 8 * MiB,
      `without it: young generation ${mb(without.last.young)} 12 s later`,
    );
  });
});
