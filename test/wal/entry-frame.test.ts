import assert from "node:assert/strict";
import { test } from "node:test";
import { Entry, EntryType } from "../../src/gen/raftpb/raft.js";
import { encodeEntryFrame } from "../../src/wal/entry-frame.js";
import { encodeFrame, FrameKind, readFrame } from "../../src/wal/frame.js";
import { mulberry32, randomBytes, randomNumber, withSeed } from "../seeded-random.js";

/** The frame as the WAL wrote it before: the generated encoder's bytes, framed. */
const generatedFrame = (entry: Entry) => encodeFrame(FrameKind.entry, Entry.encode(entry).finish());

test("an entry's frame is the generated encoder's bytes, framed (random entries)", () =>
  withSeed("SEED", "test/wal/entry-frame.test.ts", (seed) => {
    const next = mulberry32(seed);
    for (let i = 0; i < 5000; i++) {
      const entry: Entry = {
        type: Math.floor(next() * 3),
        term: randomNumber(next),
        index: randomNumber(next),
        // data across the 128-byte and 16 KiB length-prefix boundaries, and none
        data: randomBytes(next, next() < 0.05 ? 20_000 : 300),
      };
      const got = encodeEntryFrame(entry);
      assert.deepEqual(got, generatedFrame(entry), `seed ${seed}, entry ${i}`);
      const read = readFrame(got, 0);
      assert.equal(read.type, "frame", `seed ${seed}, entry ${i}`);
      if (read.type === "frame")
        assert.deepEqual(Entry.decode(read.payload), entry, `seed ${seed}, entry ${i}`);
    }
  }));

test("entries the one-pass encoder leaves to the generated one are framed alike", () => {
  const base: Entry = { type: EntryType.EntryNormal, term: 2, index: 9, data: Buffer.from("x") };
  for (const entry of [
    { ...base, type: EntryType.UNRECOGNIZED },
    { ...base, type: 300 },
    { ...base, term: 0, index: 0, data: Buffer.alloc(0) },
    { ...base, term: Number.MAX_SAFE_INTEGER, index: Number.MAX_SAFE_INTEGER },
  ]) {
    assert.deepEqual(
      encodeEntryFrame(entry),
      generatedFrame(entry),
      JSON.stringify({ ...entry, data: undefined }),
    );
  }
  // what the generated encoder refuses, the frame refuses too
  assert.throws(() => generatedFrame({ ...base, term: -1 }));
  assert.throws(() => encodeEntryFrame({ ...base, term: -1 }));
});
