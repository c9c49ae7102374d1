import assert from "node:assert/strict";
import { test } from "node:test";
import { KeyValue } from "../../src/gen/mvccpb/kv.js";
import { decodeKeyValue, encodeKeyValue } from "../../src/mvcc/kvcodec.js";
import { mulberry32, randomBytes, randomNumber, withSeed } from "../seeded-random.js";

test("a history record is encoded to the generated encoder's bytes (random records)", () =>
  withSeed("SEED", "test/mvcc/kvcodec.test.ts", (seed) => {
    const next = mulberry32(seed);
    for (let i = 0; i < 5000; i++) {
      const leaseKind = next();
      const kv: KeyValue = {
        key: randomBytes(next, next() < 0.05 ? 300 : 40),
        createRevision: randomNumber(next),
        modRevision: randomNumber(next),
        version: randomNumber(next),
        // values across the 128-byte and 16 KiB length-prefix boundaries
        value: randomBytes(next, next() < 0.05 ? 20_000 : 300),
        lease:
          leaseKind < 0.4
            ? 0n
            : leaseKind < 0.8
              ? BigInt(randomNumber(next))
              : // past 2^53, and negative: the generated encoder's own
                BigInt.asIntN(64, BigInt(randomNumber(next)) * 4096n + BigInt(Math.floor(next() * 4096))) *
                (next() < 0.5 ? -1n : 1n),
      };
      const got = encodeKeyValue(kv);
      const want = Buffer.from(KeyValue.encode(kv).finish());
      assert.deepEqual(got, want, `seed ${seed}, record ${i}`);
      assert.deepEqual(decodeKeyValue(got), KeyValue.decode(want), `seed ${seed}, record ${i}`);
    }
  }));

test("numbers the hand-written encoder leaves to the generated one are still encoded alike", () => {
  const base: KeyValue = {
    key: Buffer.from("k"),
    createRevision: 1,
    modRevision: 2,
    version: 1,
    value: Buffer.from("v"),
    lease: 0n,
  };
  for (const kv of [
    { ...base, createRevision: -1 },
    { ...base, version: 2 ** 60 },
    { ...base, lease: -7n },
    { ...base, lease: 2n ** 62n },
    { ...base, key: Buffer.alloc(0), value: Buffer.alloc(0), createRevision: 0, modRevision: 0, version: 0 },
  ])
    assert.deepEqual(encodeKeyValue(kv), Buffer.from(KeyValue.encode(kv).finish()));
});
