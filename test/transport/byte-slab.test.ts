// The slab that raft entries' data is kept in (a leader's proposals, a follower's received entries):
// views into shared blocks that never overlap, so an entry keeps its bytes whatever is allocated after
// it, and large requests get memory of their own.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EntryType } from "../../src/gen/raftpb/raft.js";
import { encodeRaftRequest } from "../../src/server/raft-request.js";
import { ByteSlab } from "../../src/transport/byte-slab.js";
import { decodeEntry, encodeEntry } from "../../src/transport/raft-wire.js";

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

test("received entries keep copies of their data, packed together, whatever happens to the frame", () => {
  const entries = [1, 2, 3].map((index) => ({
    type: EntryType.EntryNormal,
    term: 2,
    index,
    data: Buffer.alloc(300, index),
  }));
  const frames = entries.map((e) => encodeEntry(e));
  const decoded = frames.map((f) => decodeEntry(f));
  for (const f of frames) f.fill(0xee); // the frames' memory is read into again
  decoded.forEach((e, i) => {
    assert.equal(e.index, i + 1);
    assert.deepEqual(e.data, Buffer.alloc(300, i + 1));
  });
  assert.equal(decoded[0].data.buffer, decoded[2].data.buffer, "one block holds them");
  assert.notEqual(decoded[0].data.buffer.byteLength, Buffer.poolSize, "not a slice of Node's pool");
  // an entry without data pins no block
  assert.equal(decodeEntry(encodeEntry({ ...entries[0], data: Buffer.alloc(0) })).data.buffer.byteLength, 0);
});
