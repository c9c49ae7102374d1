import assert from "node:assert/strict";
import { test } from "node:test";
import { HardState } from "../../src/gen/raftpb/raft.js";
import { encodeFrame, FrameKind, readFrame } from "../../src/wal/frame.js";
import { encodeHardStateFrame } from "../../src/wal/hard-state-frame.js";
import { mulberry32, randomNumber, withSeed } from "../seeded-random.js";

/** The frame as the WAL wrote it before: the generated encoder's bytes, framed. */
const generatedProto = (hs: HardState) => Buffer.from(HardState.encode(hs).finish());

/** A uint64 vote: zero, small, around 2^53, or a random 64-bit member id. */
function randomVote(next: () => number): bigint {
  const pick = next();
  if (pick < 0.1) return 0n;
  if (pick < 0.2) return BigInt(Math.floor(next() * 1000));
  if (pick < 0.3) return BigInt(Number.MAX_SAFE_INTEGER) + BigInt(Math.floor(next() * 5)) - 2n;
  return (BigInt(Math.floor(next() * 2 ** 32)) << 32n) | BigInt(Math.floor(next() * 2 ** 32));
}

test("a hard state's frame is the generated encoder's bytes, framed (random hard states)", () =>
  withSeed("SEED", "test/wal/hard-state-frame.test.ts", (seed) => {
    const next = mulberry32(seed);
    for (let i = 0; i < 5000; i++) {
      const hs: HardState = {
        term: next() < 0.1 ? 0 : randomNumber(next),
        vote: randomVote(next),
        commit: next() < 0.1 ? 0 : randomNumber(next),
      };
      const { proto, frame } = encodeHardStateFrame(hs);
      const want = generatedProto(hs);
      assert.deepEqual(proto, want, `seed ${seed}, hard state ${i}`);
      assert.deepEqual(frame, encodeFrame(FrameKind.hardState, want), `seed ${seed}, hard state ${i}`);
      const read = readFrame(frame, 0);
      assert.equal(read.type, "frame", `seed ${seed}, hard state ${i}`);
      if (read.type === "frame")
        assert.deepEqual(HardState.decode(read.payload), hs, `seed ${seed}, hard state ${i}`);
    }
  }));

test("hard states at the edges are framed as the generated encoder frames them", () => {
  for (const hs of [
    { term: 0, vote: 0n, commit: 0 },
    { term: Number.MAX_SAFE_INTEGER, vote: 2n ** 64n - 1n, commit: Number.MAX_SAFE_INTEGER },
    { term: 1, vote: 2n ** 53n, commit: 127 },
    { term: 128, vote: 2n ** 63n, commit: 16_384 },
  ]) {
    const { proto, frame } = encodeHardStateFrame(hs);
    assert.deepEqual(proto, generatedProto(hs), String(hs.vote));
    assert.deepEqual(frame, encodeFrame(FrameKind.hardState, generatedProto(hs)), String(hs.vote));
  }
  // what the generated encoder refuses, the frame refuses too
  for (const bad of [
    { term: -1, vote: 0n, commit: 0 },
    { term: 1, vote: 2n ** 64n, commit: 0 },
  ]) {
    assert.throws(() => generatedProto(bad));
    assert.throws(() => encodeHardStateFrame(bad));
  }
});
