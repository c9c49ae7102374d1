// The queue behind every call's grpc-timeout: deadlines pass in order of when they pass (in order of
// adding among equal ones), none that was taken out passes, and an empty queue keeps no process waiting.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { DeadlineQueue, type QueuedDeadline } from "../../src/api/grpc/deadline-queue.js";
import { mulberry32 } from "../seeded-random.js";

function deadline(at: number, passed: (d: QueuedDeadline) => void): QueuedDeadline & { name: number } {
  const d = {
    name: 0,
    at,
    prevDeadline: undefined,
    nextDeadline: undefined,
    queued: false,
    deadlinePassed: () => passed(d),
  };
  return d;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("deadlines pass in order, equal ones in the order added, and taken-out ones never", async () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const seed of seeds) {
    const next = mulberry32(seed);
    const queue = new DeadlineQueue();
    const passed: number[] = [];
    const live: (QueuedDeadline & { name: number })[] = [];
    const start = performance.now();
    for (let i = 0; i < 300; i++) {
      if (live.length > 0 && next() < 0.3) {
        const [d] = live.splice(Math.floor(next() * live.length), 1);
        queue.remove(d);
        queue.remove(d); // twice: the second does nothing
      } else {
        // few distinct times, so that many are equal; a few already passed
        const d = deadline(start + Math.floor(next() * 6) * 5 - 2, (x) => passed.push((x as typeof d).name));
        d.name = i;
        queue.add(d);
        live.push(d);
      }
    }
    const expected = [...live].sort((a, b) => a.at - b.at || a.name - b.name).map((d) => d.name);
    await sleep(60);
    assert.deepEqual(passed, expected, `seed ${seed}`);
    assert.ok(queue.empty, `seed ${seed}`);
    assert.ok(live.every((d) => !d.queued && d.prevDeadline === undefined && d.nextDeadline === undefined));
  }
});

test("a deadline earlier than the armed one re-arms the timer for it", async () => {
  const queue = new DeadlineQueue();
  const passed: string[] = [];
  const now = performance.now();
  queue.add(deadline(now + 10_000, () => passed.push("late")));
  queue.add(deadline(now + 15, () => passed.push("early")));
  await sleep(60);
  assert.deepEqual(passed, ["early"]);
  assert.ok(!queue.empty);
});

test("an emptied queue keeps no process waiting", () => {
  const script = `
    import { DeadlineQueue } from ${JSON.stringify(new URL("../../src/api/grpc/deadline-queue.ts", import.meta.url).href)};
    const q = new DeadlineQueue();
    const d = { at: performance.now() + 60_000, prevDeadline: undefined, nextDeadline: undefined, queued: false, deadlinePassed() {} };
    q.add(d);
    q.remove(d);
  `;
  const started = Date.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(Date.now() - started < 30_000, "the process waited for the removed deadline");
});
