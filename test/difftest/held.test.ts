// Side by side with Debian's etcd 3.4: Lock and Campaign waiters with no deadline, released by a later operation,
// and an Observe held open across the operations that change its election. Etcd's answers are named here, so that a
// change on both sides shows too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { debianEtcd } from "../e2e/harness.js";
import type { Op } from "./generator.js";
import { report, runOps, type Via, withMembers } from "./runner.js";

const grant = (id: string, ttl = 3600): Op => ({ kind: "leaseGrant", ttl, id });

/**
 * Two Lock waiters behind a holder: the Unlock releases the first, the revoke of the first's lease the second. Then a
 * Campaign waiter behind a leader an Observe watches: a Proclaim, the leader's Resign (the waiter wins), the new
 * leader's Proclaim; and a Proclaim once the Observe is closed.
 */
const ops: Op[] = [
  grant("100000"),
  { kind: "lock", name: "lk", lease: { id: "100000" }, deadlineMs: 1500 },
  grant("100001"),
  { kind: "lockWait", name: "lk", lease: "100001", zeroTimeout: false },
  grant("100002"),
  { kind: "lockWait", name: "lk", lease: "100002", zeroTimeout: false },
  { kind: "unlock", key: { literal: "lk/186a0" } },
  { kind: "leaseRevoke", lease: { id: "100001" } },
  { kind: "campaign", name: "el", lease: { id: "100000" }, value: "v1", deadlineMs: 1500 },
  { kind: "campaignWait", name: "el", lease: "100002", value: "v2", zeroTimeout: false },
  { kind: "observeOpen", name: "el" },
  { kind: "proclaim", leader: { byLease: "100000" }, value: "v1b" },
  { kind: "resign", leader: { byLease: "100000" } },
  { kind: "proclaim", leader: { byLease: "100002" }, value: "v2b" },
  { kind: "observeClose", which: 0 },
  { kind: "proclaim", leader: { byLease: "100002" }, value: "v2c" },
];

async function heldAnswers(via: Via): Promise<Record<string, unknown[]>> {
  assert.ok(debianEtcd, "Debian's etcd 3.4 is not installed (apt-get install etcd-server)");
  const held: Record<string, unknown[]> = {};
  const result = await withMembers((endpoints) =>
    runOps(ops, endpoints, { via, onHeld: (bucket, etcd) => (held[bucket] ??= []).push(etcd) }),
  );
  assert.equal(result.divergence, undefined, report(0, result));
  return held;
}

const kv = (key: string, create: number, mod: number, version: number, value: string, lease: string) => ({
  key,
  createRevision: create,
  modRevision: mod,
  version,
  value,
  lease,
});

test("waiters answer right after the operation that releases them; a held Observe sees each value and the next leader", async () => {
  const held = await heldAnswers("grpc");
  // a Lock's answer carries the header of the read that found its turn come
  assert.deepEqual(held["waiter 0"], [{ after: 6, answer: { header: { revision: 5 }, key: "lk/186a1" } }]);
  assert.deepEqual(held["waiter 1"], [{ after: 7, answer: { header: { revision: 6 }, key: "lk/186a2" } }]);
  // a Campaign's answer carries the header of its own put
  assert.deepEqual(held["waiter 2"], [
    {
      after: 12,
      answer: { header: { revision: 8 }, leader: { name: "el", key: "el/186a2", rev: 8, lease: "L3" } },
    },
  ]);
  // the first answer has the header of the Observe's read, a change of value that of the change, and so has the next
  // leader (read once the old one is gone); nothing once closed
  assert.deepEqual(held["observe 0"], [
    { header: { revision: 8 }, kv: kv("el/186a0", 7, 7, 1, "v1", "L1") },
    { header: { revision: 9 }, kv: kv("el/186a0", 7, 9, 2, "v1b", "L1") },
    { header: { revision: 10 }, kv: kv("el/186a2", 8, 8, 1, "v2", "L3") },
    { header: { revision: 11 }, kv: kv("el/186a2", 8, 11, 2, "v2b", "L3") },
  ]);
});

test("through the gateway, the waiters' answers and the held Observe's stream of results are etcd's", async () => {
  const held = await heldAnswers("gateway");
  assert.deepEqual(
    [0, 1, 2].map((n) => (held[`waiter ${n}`][0] as { after: number }).after),
    [6, 7, 12],
  );
  assert.equal(held["observe 0"].length, 4);
  assert.deepEqual(held["observe 0"][2], {
    result: {
      header: { revision: "10" },
      kv: {
        key: Buffer.from("el/186a2").toString("base64"),
        create_revision: "8",
        mod_revision: "8",
        version: "1",
        value: Buffer.from("v2").toString("base64"),
        lease: "L3",
      },
    },
  });
});
