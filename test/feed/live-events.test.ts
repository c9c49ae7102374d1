// Events that come from the member's own life rather than from a request's answer, seen live on the feed:
// a raft snapshot after --snapshot-count entries, slow-apply warnings, a lease that expires on its own.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { events, is, nextEvent, put, startMember, type TestMember } from "./harness.js";

describe("live member events on the feed", { timeout: 120_000 }, () => {
  let m: TestMember;
  before(async () => {
    // a snapshot every 20 entries; every apply taking longer than 0 ms is reported as slow
    m = await startMember({ feed: { warningApplyMs: 0 } }, undefined, { snapshotCount: 20 });
  });
  after(async () => m?.close());

  test("a raft snapshot taken after --snapshot-count entries arrives on the snapshots topic", async () => {
    const c = m.connect({ subscription: { topics: ["snapshots"] } });
    await new Promise((r) => setTimeout(r, 300)); // subscribed before the writes
    const snap = nextEvent(c.events$, is("snapshot"), "a snapshot event", 30_000);
    for (let i = 0; i < 40; i++) await put(m, `snap/${i % 4}`, String(i));
    const e = await snap;
    assert.ok(e.index >= 20, `snapshot at index ${e.index}`);
    assert.ok(e.term >= 1);
    assert.equal(e.member, m.etcd.server.memberId.toString(16));
  });

  test("applies over --experimental-warning-apply-duration arrive as apply.slow warnings", async () => {
    const c = m.connect({ subscription: { topics: ["apply"] } });
    const slow = nextEvent(c.events$, is("apply.slow"), "a slow-apply warning");
    await new Promise((r) => setTimeout(r, 300)); // subscribed before the write
    await put(m, "slow/1", "x");
    const e = await slow;
    assert.equal(e.expectedMs, 0);
    assert.ok(e.durationMs > 0 && e.entries >= 1 && e.index > 0, JSON.stringify(e));
  });

  test("a lease that is not kept alive expires: grant, then expire, with no revoke asked", async () => {
    const c = m.connect({ subscription: { topics: ["leases"] } });
    await new Promise((r) => setTimeout(r, 300));
    const seen = events(
      c.events$,
      (e): e is Extract<typeof e, { type: "lease" }> => e.type === "lease" && e.action !== "checkpoint",
      2,
      "a grant and an expiry",
      30_000,
    );
    const { ID } = await m.etcd.server.api.leaseGrant({ ID: 0n, TTL: 2 });
    const [grant, expiry] = await seen;
    const id = ID.toString(16);
    assert.deepEqual([grant.action, grant.id], ["grant", id]);
    assert.deepEqual([expiry.action, expiry.id], ["expire", id]);
    assert.ok(expiry.at - grant.at >= 1500, `expired ${expiry.at - grant.at} ms after the grant`);
  });
});
