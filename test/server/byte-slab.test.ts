// The proposals' slab: views into shared blocks that never overlap, so a proposal keeps its bytes
// whatever is allocated after it, and large requests get memory of their own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ByteSlab } from "../../src/server/byte-slab.js";
import { encodeRaftRequest } from "../../src/server/raft-request.js";

test("allocations share a block, never overlap, and keep their bytes", () => {
  const slab = new ByteSlab(1024);
  const taken: Array<{ buf: Buffer; fill: number }> = [];
  // 100-byte allocations: ten to a block, so this crosses several blocks
  for (let i = 0; i < 35; i++) {
    const buf = slab.alloc(100);
    assert.equal(buf.length, 100);
    buf.fill(i);
    taken.push({ buf, fill: i });
  }
  for (const { buf, fill } of taken)
    assert.ok(
      buf.every((b) => b === fill),
      `allocation ${fill} was overwritten`,
    );
  assert.equal(taken[0].buf.buffer, taken[9].buf.buffer, "the first ten share a block");
  assert.notEqual(taken[9].buf.buffer, taken[10].buf.buffer, "the eleventh did not fit");
  assert.equal(taken[0].buf.buffer.byteLength, 1024);
});

test("a request above a quarter of a block gets memory of its own", () => {
  const slab = new ByteSlab(1024);
  const small = slab.alloc(10);
  const big = slab.alloc(257);
  assert.equal(big.length, 257);
  assert.equal(big.buffer.byteLength, 257);
  assert.notEqual(big.buffer, small.buffer);
  // the block goes on after it
  assert.equal(slab.alloc(10).buffer, small.buffer);
});

test("proposals made one after the other share memory and keep their bytes", () => {
  const header = { ID: 1n, username: "", authRevision: 0 };
  const put = (key: string) => ({
    put: {
      key: Buffer.from(key),
      value: Buffer.alloc(256, key.charCodeAt(0)),
      lease: 0n,
      prevKv: false,
      ignoreValue: false,
      ignoreLease: false,
    },
  });
  const a = encodeRaftRequest(put("a"), header);
  const aCopy = Buffer.from(a);
  const b = encodeRaftRequest(put("b"), { ...header, ID: 2n });
  const c = encodeRaftRequest(
    { deleteRange: { key: Buffer.from("c"), rangeEnd: Buffer.alloc(0), prevKv: false } },
    header,
  );
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.buffer, c.buffer);
  assert.ok(a.byteOffset + a.length <= b.byteOffset && b.byteOffset + b.length <= c.byteOffset);
  assert.deepEqual(a, aCopy);
});
