import assert from "node:assert/strict";
import { test } from "node:test";
import { IdGenerator } from "../../src/membership/id-generator.js";
import { clusterId, formatId, memberId, parseId } from "../../src/membership/ids.js";

test("a default single member gets etcd's well-known member and cluster ids", () => {
  // `etcd` with no flags reports member 8e9e05c52164694d in cluster cdf818194e3a8c32
  const id = memberId(["http://localhost:2380"], "etcd-cluster");
  assert.equal(formatId(id), "8e9e05c52164694d");
  assert.equal(formatId(clusterId([id])), "cdf818194e3a8c32");
});

test("member ids ignore the order of peer URLs and depend on the token and the time", () => {
  const a = memberId(["http://b:2380", "http://a:2380"], "tok");
  const b = memberId(["http://a:2380", "http://b:2380"], "tok");
  assert.equal(a, b);
  assert.notEqual(a, memberId(["http://a:2380", "http://b:2380"], "other"));
  assert.notEqual(a, memberId(["http://a:2380", "http://b:2380"], "tok", 1700000000));
});

test("cluster ids ignore member order", () => {
  assert.equal(clusterId([1n, 2n, 3n]), clusterId([3n, 1n, 2n]));
  assert.notEqual(clusterId([1n, 2n]), clusterId([1n, 2n, 3n]));
});

test("ids parse back from hex and refuse what is not hex", () => {
  assert.equal(parseId("8e9e05c52164694d"), 0x8e9e05c52164694dn);
  assert.equal(parseId("zz"), undefined);
  assert.equal(parseId(""), undefined);
  assert.equal(parseId("12345678901234567"), undefined);
});

test("generated ids carry the member's low 16 bits, count up and never repeat", () => {
  const gen = new IdGenerator(0x8e9e05c52164694dn, 1_700_000_000_000);
  const seen = new Set<bigint>();
  let prev = -1n;
  for (let i = 0; i < 10_000; i++) {
    const id = gen.next();
    assert.equal(id >> 48n, 0x694dn);
    assert.ok(id > prev);
    assert.ok(!seen.has(id));
    seen.add(id);
    prev = id;
  }
  const other = new IdGenerator(0x1234n, 1_700_000_000_000);
  assert.notEqual(other.next() >> 48n, gen.next() >> 48n);
});
