// The package tests build the checkout before they pack it. Two of them may run at once (test files run
// in parallel), and two builds writing one dist/ at the same time read each other's half-written files:
// the builds take turns through a lock directory beside the checkout's dist/.
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const WAIT_MS = 600_000;

/** Runs scripts/build.js of `repo`, after any build another test process is running there. */
export function buildCheckout(repo: string): SpawnSyncReturns<string> {
  const lock = join(repo, ".build-lock");
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      if (Date.now() > deadline) throw new Error(`another build held ${lock} for ${WAIT_MS} ms`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return spawnSync(process.execPath, [join(repo, "scripts/build.js")], { cwd: repo, encoding: "utf8" });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
