import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeLeaseRecord, encodeLeaseRecord, Lessor, MAX_LEASE_TTL } from "../../src/lease/lessor.js";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test("grant applies the minimum TTL and refuses duplicates and huge TTLs with etcd's errors", () => {
  const c = clock();
  const l = new Lessor({ minTtlSeconds: 2, now: c.now });
  assert.equal(l.grant(1n, 1).ttl, 2);
  assert.equal(l.grant(2n, 60).ttl, 60);
  assert.throws(() => l.grant(1n, 5), { message: "etcdserver: lease already exists", code: 9 } as object);
  assert.throws(() => l.checkGrant(3n, MAX_LEASE_TTL + 1), { message: "etcdserver: too large lease TTL" });
  assert.throws(() => l.revoke(99n), { message: "etcdserver: requested lease not found", code: 5 } as object);
});

test("only the primary lets leases expire; renew resets the clock", () => {
  const c = clock();
  const l = new Lessor({ minTtlSeconds: 2, now: c.now });
  l.grant(1n, 5);
  c.advance(10_000);
  assert.deepEqual(l.expired(10), [], "a follower never expires leases");
  l.promote();
  c.advance(4_000);
  assert.deepEqual(l.expired(10), []);
  assert.equal(l.renew(1n), 5);
  c.advance(4_000);
  assert.deepEqual(l.expired(10), []);
  c.advance(1_001);
  assert.deepEqual(l.expired(10), [1n]);
  assert.throws(() => l.renew(1n), { message: "etcdserver: requested lease not found" });
  l.demote();
  assert.deepEqual(l.expired(10), []);
});

test("expired returns the oldest first and at most limit", () => {
  const c = clock();
  const l = new Lessor({ minTtlSeconds: 1, now: c.now });
  l.promote();
  l.grant(3n, 3);
  l.grant(1n, 1);
  l.grant(2n, 2);
  c.advance(10_000);
  assert.deepEqual(l.expired(2), [1n, 2n]);
});

test("revoke hands back the attached keys; time-to-live reports truncated seconds", () => {
  const c = clock();
  const l = new Lessor({ minTtlSeconds: 2, now: c.now });
  l.promote();
  l.grant(7n, 10);
  l.attach(7n, Buffer.from("b"));
  l.attach(7n, Buffer.from([0, 255]));
  l.attach(7n, Buffer.from("a"));
  l.detach(7n, Buffer.from("a"));
  c.advance(2_500);
  const ttl = l.timeToLive(7n)!;
  assert.equal(ttl.ttl, 7);
  assert.equal(ttl.grantedTtl, 10);
  assert.deepEqual(ttl.keys, [Buffer.from([0, 255]), Buffer.from("b")]);
  assert.deepEqual(l.revoke(7n), [Buffer.from([0, 255]), Buffer.from("b")]);
  assert.equal(l.timeToLive(7n), undefined);
});

test("lease records round-trip, including ids above 2^53", () => {
  const r = { id: 0x694d_0000_1234_5678n, ttl: 3600, remainingTtl: 1200 };
  const { value } = encodeLeaseRecord(r);
  assert.deepEqual(decodeLeaseRecord(value), r);
  assert.throws(
    () => decodeLeaseRecord(Buffer.from([0x08])),
    /lease record is not a leasepb.Lease \(1 bytes\)/,
  );
  assert.throws(() => decodeLeaseRecord(Buffer.from([0x10, 0x05])), /lease record without a lease id/);
});

test("lease records are etcd's: 8-byte big-endian id key, leasepb.Lease value", () => {
  // a record from a Debian etcd 3.4.23 data dir: ID (field 1) and TTL 600 (field 2)
  const etcdValue = Buffer.from("0889cc9ffd87c8a8862610d804", "hex");
  const r = decodeLeaseRecord(etcdValue);
  assert.deepEqual(r, { id: 0x260ca2407fa7e609n, ttl: 600, remainingTtl: 0 });
  const { key, value } = encodeLeaseRecord(r);
  assert.deepEqual(value, etcdValue);
  assert.equal(key.toString("hex"), "260ca2407fa7e609");
  assert.equal(encodeLeaseRecord({ id: 1n, ttl: 5, remainingTtl: 3 }).value.toString("hex"), "080110051803");
});

test("checkpoints carry the remaining TTL to the next leader; a renew clears it", () => {
  const c = clock();
  const l = new Lessor({ minTtlSeconds: 2, now: c.now });
  l.promote();
  l.grant(9n, 100);
  c.advance(30_000);
  assert.deepEqual(l.checkpoints(10), [{ id: 9n, remainingTtl: 70 }]);
  assert.deepEqual(l.checkpoint(9n, 70), { id: 9n, ttl: 100, remainingTtl: 70 });
  assert.equal(l.checkpoint(404n, 1), undefined);
  l.demote();
  assert.deepEqual(l.checkpoints(10), [], "only the leader checkpoints");
  l.promote();
  c.advance(69_000);
  assert.deepEqual(l.expired(10), [], "70 s from the promotion, not 100");
  c.advance(1_000);
  assert.deepEqual(l.expired(10), [9n]);
  l.grant(10n, 50);
  l.checkpoint(10n, 5);
  l.renew(10n);
  l.demote();
  l.promote();
  c.advance(49_000);
  assert.ok(!l.expired(10).includes(10n), "a renewed lease starts from its full TTL again");
});

test("changes$ reports grants, keep-alives, checkpoints, one expiry per lease and revokes", () => {
  const c = clock();
  const l = new Lessor({ minTtlSeconds: 2, now: c.now });
  const seen: string[] = [];
  l.changes$.subscribe((ch) => seen.push(`${ch.action} ${ch.id} ttl=${ch.ttl} left=${ch.remainingTtl}`));
  l.grant(7n, 5);
  l.promote();
  l.renew(7n);
  l.checkpoint(7n, 3);
  c.advance(6_000);
  l.expired(10);
  l.expired(10); // the leader asks again before its revoke is applied: reported once
  l.revoke(7n);
  assert.deepEqual(seen, [
    "grant 7 ttl=5 left=5",
    "keepalive 7 ttl=5 left=5",
    "checkpoint 7 ttl=5 left=3",
    "expire 7 ttl=5 left=0",
    "revoke 7 ttl=5 left=0",
  ]);
});
