// Crash test: a child process replays a deterministic log into the store and is killed with
// SIGKILL at many points. After each kill the store must reopen at a consistent index whose
// state equals the reference model after exactly that many entries; the next run replays the
// log from the start and must skip every entry already applied. A kill while a batch's writes are
// staged but not committed loses that batch from the file (the replay brings it back); a kill after
// its commit landed keeps it. Finally the crashed store and a store that never crashed agree on
// HashKV.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { RangeRequest } from "../../src/gen/etcdserverpb/rpc.js";
import { KVApplier } from "../../src/mvcc/apply.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { applyToModel, applyToStore, LOG_LENGTH } from "./crash-log.js";
import { tempDir } from "./helpers.js";
import { KVModel } from "./model.js";

const CHILD = fileURLToPath(new URL("./crash-child.ts", import.meta.url));
const KILL_POINTS = Number(process.env.MVCC_KILL_POINTS ?? 21);
const ALL = RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) });

/** How a child run ended. */
interface ChildRun {
  readyAt: number;
  exitedBy: "signal" | "exit";
}

const PHASES = ["in-batch", "before-commit", "after-commit", "in-compaction"] as const;

function runChild(
  file: string,
  durability: string,
  seed: number,
  kill?: [number, string],
): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const args = [CHILD, file, durability, String(seed), ...(kill ? [String(kill[0]), kill[1]] : [])];
    const child = spawn(process.execPath, ["--import", "tsx", ...args], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let readyAt = -1;
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const m = /ready (\d+)/.exec(out);
      if (m && readyAt === -1) readyAt = Number(m[1]);
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (signal === "SIGKILL") resolve({ readyAt, exitedBy: "signal" });
      else if (code === 0 && out.includes("done")) resolve({ readyAt, exitedBy: "exit" });
      else reject(new Error(`crash child failed: code ${code} signal ${signal}\n${out}`));
    });
  });
}

/** Opens the crashed store and checks it against the model after its consistent index. */
async function verify(file: string): Promise<number> {
  const store = KVStore.open(file, { compactionBatchLimit: 20 });
  try {
    const ci = store.consistentIndex();
    const model = new KVModel(new Set());
    for (let i = 1; i <= ci; i++) applyToModel(model, i);
    assert.equal(store.currentRev(), model.rev, `revision at consistent index ${ci}`);
    assert.equal(store.compactRev(), model.compactRev, `compact revision at consistent index ${ci}`);
    const applier = new KVApplier(store);
    assert.deepEqual(applier.range(ALL), model.range(ALL), `data at consistent index ${ci}`);
    if (model.rev - 1 >= Math.max(1, model.compactRev)) {
      const prev = RangeRequest.fromPartial({ ...ALL, revision: model.rev - 1 });
      assert.deepEqual(applier.range(prev), model.range(prev), `history at consistent index ${ci}`);
    }
    return ci;
  } finally {
    await store.close();
  }
}

/** The model's revision after the first `n` entries. */
function revisionAfter(n: number): number {
  const model = new KVModel(new Set());
  for (let i = 1; i <= n; i++) applyToModel(model, i);
  return model.rev;
}

describe("mvcc crash recovery", () => {
  it(`survives SIGKILL at ${KILL_POINTS} points and never applies an entry twice`, async (t) => {
    const dir = tempDir();
    try {
      const file = path.join(dir, "member", "snap", "db");
      const progress: number[] = [];
      for (let k = 0; k < KILL_POINTS; k++) {
        const durability = k % 4 === 0 ? "sync" : "nosync";
        const planned = Math.floor(((k + 1) * (LOG_LENGTH - 40)) / (KILL_POINTS + 1));
        const dieAt = Math.max(planned, (progress[progress.length - 1] ?? 0) + 3);
        const phase = PHASES[k % PHASES.length];
        const run = await runChild(file, durability, k + 1, [dieAt, phase]);
        assert.equal(run.exitedBy, "signal", `kill point ${k} (${phase} at entry ${dieAt}) was reached`);
        const ci = await verify(file);
        assert.ok(ci >= run.readyAt, "the consistent index never goes back");
        if (phase === "in-batch" || phase === "before-commit")
          assert.ok(
            ci < dieAt,
            `${phase}: the batch holding entry ${dieAt} is not in the file (index ${ci})`,
          );
        else if (phase === "in-compaction") assert.ok(ci >= dieAt, `${phase}: index ${ci}`);
        else {
          // the batch may reach past the entry; entries up to it that are past the consistent index
          // changed nothing (they would have recorded it)
          assert.ok(
            revisionAfter(ci) >= revisionAfter(dieAt),
            `${phase}: entry ${dieAt} is in the file (index ${ci})`,
          );
        }
        progress.push(ci);
      }
      const final = await runChild(file, "sync", 999);
      assert.equal(final.exitedBy, "exit");
      await verify(file);
      // A store that never crashed ends with the same history hash.
      const cleanFile = path.join(dir, "clean", "db");
      const clean = KVStore.open(cleanFile, { durability: "nosync" });
      const cleanApplier = new KVApplier(clean);
      for (let i = 1; i <= LOG_LENGTH; i++) await applyToStore(cleanApplier, i);
      await clean.compactionsDone();
      const crashed = KVStore.open(file);
      try {
        await crashed.compactionsDone();
        assert.deepEqual(crashed.hashKV(0), clean.hashKV(0));
        assert.ok(crashed.compactRev() > 0, "the log compacted");
      } finally {
        await crashed.close();
        await clean.close();
      }
      t.diagnostic(`consistent index after each kill: ${progress.join(",")}`);
      // Every kill landed inside the log, the applied prefix never shrank, and it grew overall.
      assert.ok(
        progress.every((ci, n) => ci < LOG_LENGTH && (n === 0 || ci >= progress[n - 1])),
        progress.join(","),
      );
      assert.ok(progress[progress.length - 1] > progress[0], progress.join(","));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
