import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { WAL } from "../../src/wal/index.js";
import { differenceFromModel, issueOp, LogModel, OpPlanner, planStartOf, prng } from "./crash-model.js";
import { tempDir } from "./helpers.js";

/**
 * Random Raft-shaped histories (appends, overwrites of uncommitted suffixes, snapshots, purges),
 * issued in bursts so they group-commit, checked against a model after every reopen.
 * RXETCD_WAL_MODEL_SEED replays one history exactly; RXETCD_WAL_MODEL_RUNS sets how many (default 12).
 */
const fixedSeed = process.env.RXETCD_WAL_MODEL_SEED;
const runs = Number(process.env.RXETCD_WAL_MODEL_RUNS ?? 12);
const seeds =
  fixedSeed !== undefined
    ? [Number(fixedSeed)]
    : Array.from({ length: runs }, () => Math.floor(Math.random() * 2 ** 31));

for (const seed of seeds) {
  test(`random history ${seed} reopens exactly as modelled`, async () => {
    const replay = `RXETCD_WAL_MODEL_SEED=${seed} node --import tsx --test test/wal/model.test.ts`;
    const random = prng(seed);
    const dir = join(tempDir(), "wal");
    // small segments: histories cut to new segments and purge whole ones
    const options = { segmentBytes: 16 * 1024 };
    let wal = await WAL.create(dir, Buffer.from("model"), options);
    let planner = new OpPlanner(random, {
      entries: [],
      snapshotIndex: 0,
      snapshotTerm: 0,
      lastIndex: 0,
      hsTerm: 0,
      commit: 0,
    });
    const model = new LogModel();
    for (let round = 0; round < 8; round++) {
      for (let burst = 0; burst < 10; burst++) {
        const ops = Array.from({ length: 1 + Math.floor(random() * 6) }, () => planner.next());
        await Promise.all(ops.map((op) => issueOp(wal, op)));
        for (const op of ops) model.apply(op);
      }
      await wal.close();
      const opened = await WAL.open(dir, options);
      const why = differenceFromModel(opened, model);
      assert.equal(why, undefined, `seed ${seed}, round ${round}: ${why}; replay: ${replay}`);
      assert.equal(
        opened.wal.lastIndex(),
        Math.max(model.lastIndex, model.snapshotIndex()),
        `seed ${seed}; replay: ${replay}`,
      );
      wal = opened.wal;
      // Continue from what was read back, as a restarted member does.
      planner = new OpPlanner(random, planStartOf(opened, wal.lastIndex()));
    }
    await wal.close();
  });
}
