// The WireBuffer's gRPC message prefix and its take without a copy: what is taken keeps its bytes
// whatever is written next, whether the writer's memory was handed out or the bytes copied.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WireBuffer } from "../../src/server/wire-buffer.js";

/** Writes `n` bytes of `value` as one gRPC message; returns the message's frame as expected. */
function writeMessage(w: WireBuffer, n: number, value: number): Buffer {
  const start = w.messagePrefix();
  w.raw(Buffer.alloc(n, value));
  w.uint32At(start + 1, w.pos - start - 5);
  const expected = Buffer.alloc(5 + n, value);
  expected[0] = 0;
  expected.writeUInt32BE(n, 1);
  return expected;
}

test("a message prefix is a zero flag and the length written after the message", () => {
  const w = new WireBuffer();
  w.byte(0xff); // whatever came before stays
  const first = writeMessage(w, 3, 7);
  const second = writeMessage(w, 300, 9);
  assert.deepEqual(w.take(), Buffer.concat([Buffer.from([0xff]), first, second]));
});

test("takeMost hands out the writer's memory when the bytes fill most of it, and writes on elsewhere", () => {
  const w = new WireBuffer();
  // over the first 4 KiB: the memory grows to 8 KiB, which 5 KiB fills more than half of
  const big = writeMessage(w, 5000, 1);
  const taken = w.takeMost();
  assert.deepEqual(taken, big);
  assert.equal(taken.buffer.byteLength >= 8192, true, "the writer's own memory, not a copy");
  assert.equal(w.pos, 0);
  const next = writeMessage(w, 5000, 2);
  assert.deepEqual(taken, big, "what was taken is not overwritten by what is written next");
  assert.notEqual(w.takeMost().buffer, taken.buffer);
  assert.deepEqual(taken, big);
  assert.equal(next[5], 2);
});

test("takeMost of a few bytes in a large memory: what is written next does not overwrite them", () => {
  const w = new WireBuffer();
  writeMessage(w, 5000, 1);
  w.takeMost(); // the writer now has 8 KiB
  const small = writeMessage(w, 10, 3);
  const taken = w.takeMost();
  assert.deepEqual(taken, small);
  // (a copy: the writer keeps its memory and writes over the same bytes)
  writeMessage(w, 10, 4);
  assert.deepEqual(taken, small);
});
