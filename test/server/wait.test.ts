import assert from "node:assert/strict";
import { test } from "node:test";
import { IndexWaiter, WaitRegistry } from "../../src/server/wait.js";

test("a registered waiter gets its own result, others are untouched", async () => {
  const w = new WaitRegistry<string>();
  const a = w.register(1n);
  const b = w.register(2n);
  w.trigger(1n, "one");
  w.trigger(3n, "nobody");
  assert.equal(await a, "one");
  assert.equal(w.size, 1);
  w.fail(2n, new Error("stopped"));
  await assert.rejects(b, /stopped/);
  assert.equal(w.size, 0);
});

test("duplicate ids are refused and failAll rejects everyone", async () => {
  const w = new WaitRegistry<number>();
  const a = w.register(5n);
  assert.throws(() => w.register(5n), /duplicate wait id 5/);
  w.failAll(new Error("server stopped"));
  await assert.rejects(a, /server stopped/);
});

test("index waiters resolve once the index reaches theirs, in any order", async () => {
  const iw = new IndexWaiter(3);
  const done: number[] = [];
  const p5 = iw.wait(5).then(() => done.push(5));
  const p4 = iw.wait(4).then(() => done.push(4));
  await iw.wait(2);
  iw.trigger(4);
  await p4;
  assert.deepEqual(done, [4]);
  iw.trigger(2);
  assert.equal(iw.index, 4);
  iw.trigger(9);
  await p5;
  assert.deepEqual(done, [4, 5]);
});

test("waiters not answered within the timeout fail with the error of that moment, one timer for all", async () => {
  let now = 0;
  let leader = true;
  const w = new WaitRegistry<string>({
    timeoutMs: 20,
    error: (id) => new Error(`${leader ? "request timed out" : "timed out, leader failed"} (${id})`),
    now: () => now,
  });
  const a = w.register(1n); // deadline 20
  now = 10;
  const b = w.register(2n); // deadline 30
  const c = w.register(3n); // deadline 30, answered in time
  w.trigger(3n, "three");
  assert.equal(await c, "three");
  // the clock passes a's deadline, not b's, before the timer fires
  now = 25;
  await assert.rejects(a, /^Error: request timed out \(1\)$/);
  assert.equal(w.isRegistered(2n), true, "b's time is not up yet");
  leader = false;
  now = 40;
  await assert.rejects(b, /^Error: timed out, leader failed \(2\)$/);
  assert.equal(w.size, 0);
  // a registry keeps serving after its waiters timed out
  const d = w.register(4n);
  w.trigger(4n, "four");
  assert.equal(await d, "four");
  w.failAll(new Error("stopped"));
});

test("a registry emptied by its answers still fails a later waiter in time, and holds no process meanwhile", async () => {
  let now = 0;
  const w = new WaitRegistry<string>({
    timeoutMs: 20,
    error: (id) => new Error(`timed out (${id})`),
    now: () => now,
  });
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const before = timers();
  const a = w.register(1n); // deadline 20
  assert.equal(timers(), before + 1, "a waiter's deadline holds the process");
  w.trigger(1n, "one");
  assert.equal(await a, "one");
  assert.equal(timers(), before, "an empty registry holds no timer that keeps the process up");
  now = 15;
  const b = w.register(2n); // deadline 35
  assert.equal(timers(), before + 1);
  now = 40;
  await assert.rejects(b, /^Error: timed out \(2\)$/);
  assert.equal(w.size, 0);
  w.failAll(new Error("stopped"));
});

test("without timeouts a waiter waits for its answer however long it takes", async () => {
  const w = new WaitRegistry<string>();
  const a = w.register(1n);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(w.isRegistered(1n), true);
  w.trigger(1n, "late");
  assert.equal(await a, "late");
});
