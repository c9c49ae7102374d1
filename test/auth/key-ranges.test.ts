// The merged key-range set against a plain model: a point is allowed when some permission holds it,
// a range when walking from its start through overlapping or touching permissions reaches its end.
// Replay a failure: AUTH_RANGES_SEED=<seed> AUTH_RANGES_PATH=<path> node --import tsx --test test/auth/key-ranges.test.ts
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { intervalOf, type KeyInterval, KeyRangeSet } from "../../src/auth/key-ranges.js";

const b = (s: string) => Buffer.from(s, "latin1");
const OPEN = Buffer.from([0]);

test("a single key, a range, a prefix and an open end", () => {
  const set = new KeyRangeSet([
    intervalOf(b("k1"), Buffer.alloc(0)),
    intervalOf(b("a"), b("c")),
    intervalOf(b("x"), OPEN),
  ]);
  assert.equal(set.covers(b("k1"), Buffer.alloc(0)), true);
  assert.equal(set.covers(b("k1\x00"), Buffer.alloc(0)), false);
  assert.equal(set.covers(b("k1"), b("k1\x00")), true, "the range holding only k1");
  assert.equal(set.covers(b("k1"), b("k2")), false);
  assert.equal(set.covers(b("b"), b("c")), true);
  assert.equal(set.covers(b("b"), b("c\x00")), false);
  assert.equal(set.covers(b("c"), Buffer.alloc(0)), false, "the end is excluded");
  assert.equal(set.covers(b("xyz"), OPEN), true);
  assert.equal(set.covers(b("w"), OPEN), false);
  assert.equal(set.covers(b("a"), OPEN), false);
});

test("touching permissions cover a range neither covers alone; a gap does not", () => {
  const set = new KeyRangeSet([intervalOf(b("a"), b("m")), intervalOf(b("m"), b("z"))]);
  assert.equal(set.covers(b("b"), b("y")), true);
  assert.equal(set.size, 1);
  const gap = new KeyRangeSet([intervalOf(b("a"), b("m")), intervalOf(b("n"), b("z"))]);
  assert.equal(gap.covers(b("b"), b("y")), false);
});

test("a permission with an empty key grants nothing (etcd orders an empty begin after every key)", () => {
  const set = new KeyRangeSet([intervalOf(Buffer.alloc(0), OPEN)]);
  assert.equal(set.covers(b("a"), Buffer.alloc(0)), false);
  assert.equal(set.size, 0);
});

/** The model: walk from the start through any interval holding the current key. */
function modelCovers(perms: KeyInterval[], key: Buffer, rangeEnd: Buffer): boolean {
  const usable = perms.filter((p) => p.begin.length > 0);
  const holds = (p: KeyInterval, k: Buffer) =>
    Buffer.compare(p.begin, k) <= 0 && (p.end === undefined || Buffer.compare(k, p.end) < 0);
  if (rangeEnd.length === 0) return usable.some((p) => holds(p, key));
  const end = rangeEnd.equals(OPEN) ? undefined : rangeEnd;
  let cur: Buffer | undefined = key;
  for (;;) {
    const here: KeyInterval[] = usable.filter((p) => cur !== undefined && holds(p, cur));
    if (here.length === 0) return false;
    let far: Buffer | undefined = here[0].end;
    for (const p of here)
      if (far !== undefined && (p.end === undefined || Buffer.compare(p.end, far) > 0)) far = p.end;
    if (far === undefined) return true;
    if (end !== undefined && Buffer.compare(far, end) >= 0) return true;
    if (cur !== undefined && Buffer.compare(far, cur) <= 0) return false;
    cur = far;
  }
}

const keyArb = fc
  .array(fc.constantFrom(0, 1, 2, 0x61, 0x62, 0xff), { minLength: 0, maxLength: 3 })
  .map((a) => Buffer.from(a));
const endArb = fc.oneof(fc.constant(Buffer.alloc(0)), fc.constant(OPEN), keyArb);
const permArb = fc.tuple(keyArb, endArb).map(([k, e]) => intervalOf(k, e));

test("covers agrees with the walking model on random permissions and requests", () => {
  const seed =
    process.env.AUTH_RANGES_SEED === undefined
      ? Date.now() ^ (Math.random() * 0x7fffffff)
      : Number(process.env.AUTH_RANGES_SEED);
  const path = process.env.AUTH_RANGES_PATH;
  try {
    fc.assert(
      fc.property(
        fc.array(permArb, { maxLength: 8 }),
        keyArb.filter((k) => k.length > 0),
        endArb,
        (perms, key, end) => {
          const set = new KeyRangeSet(perms);
          assert.equal(set.covers(key, end), modelCovers(perms, key, end));
        },
      ),
      { seed, path, numRuns: 3000, endOnFailure: path !== undefined },
    );
  } catch (err) {
    const m = /seed: (-?\d+), path: "([^"]*)"/.exec(String((err as Error).message));
    console.error(
      `key-range property failed; replay with:\n  AUTH_RANGES_SEED=${m?.[1] ?? seed} AUTH_RANGES_PATH=${m?.[2] ?? ""} node --import tsx --test test/auth/key-ranges.test.ts`,
    );
    throw err;
  }
});
