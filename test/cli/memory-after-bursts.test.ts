// Memory given back after a burst: a workload that keeps much of what it allocates alive across
// scavenges makes V8 grow the young generation to its maximum and fills old space; once the process
// is idle, the give-back shrinks the young generation back and empties old space, which V8 alone does
// not do in the same time. Pauses shorter than the quiet stretch between bursts give nothing back.
// Each run is a process of its own (V8's flags are per process).
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

/** Runs `script` as an ES module in a new process and parses the last line it prints as JSON. */
function runScript(script: string): Promise<unknown> {
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
      resolve(JSON.parse(out.trim().split("\n").pop() ?? "{}"));
    });
  });
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
    let last = grown;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      // a timer late on a loaded machine must not look past the window
      const now = performance.now() - end;
      if (now >= ${idleMs}) break;
      last = heapSizes();
      if (last.young < 4 * ${MiB}) {
        shrankAfterMs = Math.round(now);
        break;
      }
    }
    process.stdout.write(JSON.stringify({ grown, last, shrankAfterMs }));
  `;
  return runScript(script) as Promise<Seen>;
}

interface Paused {
  /** Give-backs during the bursts and their short pauses. */
  duringPauses: number;
  /** Give-backs once idle for good (the run ends at the first). */
  afterwards: number;
  /** Milliseconds from the last burst's end to the first give-back after it. */
  firstAfterMs: number | undefined;
  /** The longest pause the process saw (timers run late on a loaded machine). */
  longestPauseMs: number;
}

/**
 * Bursts separated by `pauses` pauses of `pauseMs`, then up to 30 s of idleness (ending at the first
 * give-back), counting give-backs, in a new process.
 */
function burstsWithPauses(pauses: number, pauseMs: number, quietLooks?: number): Promise<Paused> {
  const script = `
    const { giveMemoryBackAfterBursts } = await import(${JSON.stringify(module)});
    let giveBacks = 0;
    giveMemoryBackAfterBursts({ quietLooks: ${quietLooks}, onGiveBack: () => giveBacks++ });
    const kept = [];
    const burst = async () => {
      for (let round = 0; round < 150; round++) {
        const batch = [];
        for (let i = 0; i < 4000; i++) batch.push({ round, i, text: "x".repeat(i % 64) + round });
        kept.push(batch);
        if (kept.length > 40) kept.shift();
        if (round % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    };
    let longestPauseMs = 0;
    for (let p = 0; p < ${pauses}; p++) {
      await burst();
      const start = performance.now();
      await new Promise((resolve) => setTimeout(resolve, ${pauseMs}));
      longestPauseMs = Math.max(longestPauseMs, performance.now() - start);
    }
    await burst();
    kept.length = 0;
    const duringPauses = giveBacks;
    const end = performance.now();
    let firstAfterMs;
    while (performance.now() - end < 30000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (giveBacks > duringPauses) {
        firstAfterMs = Math.round(performance.now() - end);
        break;
      }
    }
    process.stdout.write(JSON.stringify({
      duringPauses,
      afterwards: giveBacks - duringPauses,
      firstAfterMs,
      longestPauseMs: Math.round(longestPauseMs),
    }));
  `;
  return runScript(script) as Promise<Paused>;
}

describe("memory given back after a burst", { timeout: 120_000 }, () => {
  test("pauses shorter than the quiet stretch give nothing back; idleness after them does", async () => {
    const seen = await burstsWithPauses(6, 1500);
    assert.equal(
      seen.duringPauses,
      0,
      `gave memory back ${seen.duringPauses} time(s) in pauses of 1.5 s (longest seen ${seen.longestPauseMs} ms)`,
    );
    assert.ok(seen.afterwards >= 1, "gave nothing back within 30 s of the last burst");
    assert.ok(
      seen.firstAfterMs !== undefined && seen.firstAfterMs >= 2000,
      `gave memory back ${seen.firstAfterMs} ms after the last burst, before three quiet seconds`,
    );
  });

  test("the young generation shrinks back and old space empties once idle; without it, neither", async () => {
    const [withIt, without] = await Promise.all([burstThenIdle(true, 40_000), burstThenIdle(false, 6_000)]);
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
    // the control: V8 by itself keeps the young generation grown for a while (in most runs for
    // minutes; now and then its own memory reducer shrinks it about 12 s after such a burst)
    assert.equal(
      without.shrankAfterMs,
      undefined,
      `without the give-back the young generation shrank too (after ${without.shrankAfterMs} ms)`,
    );
    assert.ok(
      without.last.young > 8 * MiB,
      `without it: young generation ${mb(without.last.young)} 6 s later`,
    );
  });
});
