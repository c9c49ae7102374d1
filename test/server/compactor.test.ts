import assert from "node:assert/strict";
import { test } from "node:test";
import { Compactor, REVISION_CHECK_MS } from "../../src/server/compactor.js";

test("revision mode keeps the newest N revisions and never compacts twice to the same place", () => {
  const c = new Compactor({ mode: "revision", revisions: 100 }, 0);
  assert.equal(c.checkIntervalMs, REVISION_CHECK_MS);
  assert.equal(c.decide(0, 50), undefined, "not enough history yet");
  assert.equal(c.decide(0, 150), 50);
  c.compacted(50, 0);
  assert.equal(c.decide(0, 150), undefined);
  assert.equal(c.decide(0, 151), 51);
});

test("periodic mode compacts to the revision seen a retention ago, once per period", () => {
  const hour = 3_600_000;
  const c = new Compactor({ mode: "periodic", retentionMs: hour }, 0);
  assert.equal(c.checkIntervalMs, hour / 10);
  let rev = 1;
  let decided: number | undefined;
  // sample every 6 minutes for 66 minutes while writing 10 revisions per sample
  for (let t = 0; t <= 66 * 60_000; t += 6 * 60_000) {
    rev += 10;
    decided = c.decide(t, rev) ?? decided;
  }
  // at t=60min the sample from t=0 (rev 11) is a retention old; at t=66min the one from t=6min (rev 21)
  assert.equal(decided, 21);
  c.compacted(21, 66 * 60_000);
  assert.equal(c.decide(67 * 60_000, rev + 1), undefined, "the next period has not started");
});

test("periodic mode with a short retention checks every tenth of it", () => {
  const c = new Compactor({ mode: "periodic", retentionMs: 10_000 }, 0);
  assert.equal(c.checkIntervalMs, 1000);
  for (let t = 0; t < 10_000; t += 1000) assert.equal(c.decide(t, 100 + t / 1000), undefined);
  assert.equal(c.decide(10_000, 200), 100);
});
