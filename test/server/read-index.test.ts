import assert from "node:assert/strict";
import { test } from "node:test";
import { Subject } from "rxjs";
import type { ReadState } from "../../src/raft/read_only.js";
import { LinearizableReads } from "../../src/server/read-index.js";
import { IndexWaiter } from "../../src/server/wait.js";

/** A member whose raft answers ReadIndex requests only when the test says so. */
function member(timeoutMs = 60_000) {
  const readStates$ = new Subject<ReadState>();
  const asked: Buffer[] = [];
  const applied = new IndexWaiter(0);
  let id = 0n;
  const reads = new LinearizableReads({
    requestReadIndex: (ctx) => asked.push(Buffer.from(ctx)),
    readStates$,
    applied,
    timeoutMs,
    nextId: () => ++id,
  });
  const answer = (round: number, index: number) =>
    readStates$.next({ index, requestCtx: Buffer.from(asked[round]) });
  return { reads, asked, applied, answer, readStates$ };
}

/** Lets every pending promise reaction run. */
const settle = () => new Promise((r) => setImmediate(r));

/** Tracks which of the given promises have resolved. */
function track(ps: Promise<void>[]): { done: boolean[] } {
  const state = { done: ps.map(() => false) };
  for (const [i, p] of ps.entries()) {
    p.then(
      () => {
        state.done[i] = true;
      },
      () => {},
    );
  }
  return state;
}

test("reads that arrive during a round go together in the next one", async () => {
  const m = member();
  m.applied.trigger(10);
  const first = track([m.reads.waitReadable()]);
  assert.equal(m.asked.length, 1, "the first read starts a round at once");
  const later = track([m.reads.waitReadable(), m.reads.waitReadable(), m.reads.waitReadable()]);
  await settle();
  assert.equal(m.asked.length, 1, "no second round while one is in flight");
  assert.deepEqual(later.done, [false, false, false]);

  m.answer(0, 7);
  await settle();
  assert.deepEqual(first.done, [true]);
  assert.equal(m.asked.length, 2, "the waiting reads start one round together");
  assert.notDeepEqual(m.asked[1], m.asked[0], "each round has its own context");
  assert.deepEqual(later.done, [false, false, false]);

  m.answer(1, 9);
  await settle();
  assert.deepEqual(later.done, [true, true, true]);
  m.reads.close();
});

test("a read waits until the member has applied the read index", async () => {
  const m = member();
  m.applied.trigger(3);
  const r = track([m.reads.waitReadable()]);
  m.answer(0, 5);
  await settle();
  assert.deepEqual(r.done, [false]);
  m.applied.trigger(4);
  await settle();
  assert.deepEqual(r.done, [false]);
  m.applied.trigger(5);
  await settle();
  assert.deepEqual(r.done, [true]);
  m.reads.close();
});

test("a read state for another context is not this round's answer; the round times out", async () => {
  const m = member(30);
  const read = m.reads.waitReadable();
  m.readStates$.next({ index: 1, requestCtx: Buffer.from("someone else") });
  await assert.rejects(read, /request timed out/);
  // a late answer to the timed-out round does not answer the next one
  const next = m.reads.waitReadable();
  const state = track([next]);
  assert.equal(m.asked.length, 2);
  m.answer(0, 1);
  await settle();
  assert.deepEqual(state.done, [false]);
  m.answer(1, 0);
  await next;
  m.reads.close();
});

test("closing fails the round in flight with server stopped", async () => {
  const m = member();
  const read = m.reads.waitReadable();
  m.reads.close();
  await assert.rejects(read, /server stopped/);
});
