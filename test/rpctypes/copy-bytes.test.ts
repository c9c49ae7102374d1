// copyBytes against Node's own Buffer.copy, on random ranges either side of the loop's limit.
import assert from "node:assert/strict";
import { test } from "node:test";
import { copyBytes } from "../../src/rpctypes/copy-bytes.js";

test("copyBytes copies exactly the range Buffer.copy does, and nothing else", () => {
  for (const seed of [1, 2, 3]) {
    let a = seed;
    const next = (n: number) => {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0;
      return a % n;
    };
    for (let i = 0; i < 300; i++) {
      const src = Buffer.from(Array.from({ length: 1 + next(3000) }, () => next(256)));
      const srcStart = next(src.length);
      const n = next(src.length - srcStart + 1);
      const dstStart = next(50);
      const got = Buffer.alloc(dstStart + n + next(50), 0xee);
      const want = Buffer.from(got);
      copyBytes(src, srcStart, got, dstStart, n);
      src.copy(want, dstStart, srcStart, srcStart + n);
      assert.deepEqual(got, want, `seed ${seed}, case ${i}: ${n} bytes from ${srcStart} to ${dstStart}`);
    }
  }
});
