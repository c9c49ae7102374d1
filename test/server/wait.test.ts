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
