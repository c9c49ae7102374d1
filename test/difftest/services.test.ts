// Side by side with Debian's etcd 3.4: the lock, election, cluster and maintenance answers the differential tester
// found different, each as a short sequence of its operations on two fresh members. Every answer must be the same
// on both, and etcd's answer must be the one named (so that a change on both sides shows too).
import assert from "node:assert/strict";
import { test } from "node:test";
import { debianEtcd } from "../e2e/harness.js";
import { AUTH_SETUP, type Op } from "./generator.js";
import { show } from "./normalize.js";
import { report, runOps, type Via, withMembers } from "./runner.js";

/**
 * Runs `ops` on a fresh etcd and rxetcd; returns etcd's answers (after asserting that rxetcd's are the same). `held`,
 * when given, collects etcd's answers of waiters and held Observes by bucket ("waiter 0", "observe 0", ...).
 */
async function sideBySide(
  ops: Op[],
  via: Via = "grpc",
  auth = false,
  held?: Record<string, unknown[]>,
): Promise<unknown[]> {
  assert.ok(debianEtcd, "Debian's etcd 3.4 is not installed (apt-get install etcd-server)");
  const answers: unknown[] = [];
  const result = await withMembers((endpoints) =>
    runOps(ops, endpoints, {
      via,
      auth,
      onAnswers: (i, etcd) => (answers[i] = etcd),
      onHeld: (bucket, etcd) => {
        if (held) (held[bucket] ??= []).push(etcd);
      },
    }),
  );
  assert.equal(result.divergence, undefined, report(0, result));
  return answers;
}

const grant = (id: string): Op => ({ kind: "leaseGrant", ttl: 3600, id });
const failure = (code: number, message: string) => ({ error: { code, message } });

test("MoveLeader answers without a header; a learner or an unknown member is no transferee", async () => {
  const answers = await sideBySide([
    { kind: "memberAdd", peerUrls: ["http://127.0.0.1:1"], learner: true },
    { kind: "moveLeader", member: { self: true } },
    { kind: "moveLeader", member: { added: 0 } },
    { kind: "moveLeader", member: { id: "12345" } },
  ]);
  assert.deepEqual(answers[1], { header: null });
  assert.deepEqual(answers[2], failure(9, "etcdserver: bad leader transferee"));
  assert.deepEqual(answers[3], failure(9, "etcdserver: bad leader transferee"));
});

test("MemberAdd checks peer URLs as types.NewURLs does; MemberUpdate takes them unchecked", async () => {
  const bad = ["http://127.0.0.1", "http://127.0.0.1:1/", "unix://x", "http://a b:1"];
  const answers = await sideBySide([
    ...bad.map((u): Op => ({ kind: "memberAdd", peerUrls: [u], learner: false })),
    { kind: "memberAdd", peerUrls: ["http://127.0.0.1:", "http://127.0.0.1:1?x"], learner: true },
    { kind: "memberUpdate", member: { self: true }, peerUrls: ["self", "foo"] },
    { kind: "memberUpdate", member: { id: "12345" }, peerUrls: ["foo"] },
    { kind: "memberList" },
  ]);
  for (let i = 0; i < bad.length; i++)
    assert.deepEqual(answers[i], failure(3, "etcdserver: given member URLs are invalid"), bad[i]);
  assert.ok(!("error" in (answers[4] as object)), show(answers[4]));
  assert.ok(!("error" in (answers[5] as object)), show(answers[5]));
  assert.deepEqual(answers[6], failure(5, "etcdserver: member not found"));
});

test("MemberRemove of the only voter is refused with code Unknown", async () => {
  const answers = await sideBySide([{ kind: "memberRemove", member: { self: true } }]);
  assert.deepEqual(
    answers[0],
    failure(2, "etcdserver: re-configuration failed due to not enough started members"),
  );
});

const prefixRange = (key: string): Op => ({
  kind: "range",
  req: {
    key,
    rangeEnd: `${key.slice(0, -1)}0`,
    limit: 0,
    revision: 0,
    sortOrder: 0,
    sortTarget: 0,
    serializable: false,
    keysOnly: true,
    countOnly: false,
    minModRevision: 0,
    maxModRevision: 0,
    minCreateRevision: 0,
    maxCreateRevision: 0,
  },
});

/**
 * Two Locks and two Campaigns on one name, each second one waiting past its 1 s deadline, each pair followed by a
 * range over its keys.
 */
const waitersPastDeadline = (): Op[] => [
  grant("100000"),
  { kind: "lock", name: "lk", lease: { id: "100000" }, deadlineMs: 1000 },
  grant("100001"),
  { kind: "lock", name: "lk", lease: { id: "100001" }, deadlineMs: 1000 },
  prefixRange("lk/"),
  { kind: "campaign", name: "el", lease: { id: "100000" }, value: "a", deadlineMs: 1000 },
  { kind: "campaign", name: "el", lease: { id: "100001" }, value: "b", deadlineMs: 1000 },
  prefixRange("el/"),
];

for (const via of ["grpc", "gateway"] as const) {
  test(`Lock and Campaign whose deadline passes while they wait (${via}): etcd's answer, the waiter's key gone`, async () => {
    const answers = await sideBySide(waitersPastDeadline(), via);
    const expired =
      via === "grpc"
        ? failure(2, "context deadline exceeded")
        : {
            http: 504,
            body: { error: "context deadline exceeded", message: "context deadline exceeded", code: 4 },
          };
    assert.deepEqual(answers[3], expired);
    assert.deepEqual(answers[6], expired);
    assert.match(show(answers[4]), /"count":"?1"?/);
    assert.match(show(answers[7]), /"count":"?1"?/);
  });
}

test("Proclaim and Resign of a leader key of no lease grant a session lease; Proclaim puts with it", async () => {
  const answers = await sideBySide([
    grant("100000"),
    { kind: "campaign", name: "el", lease: { id: "100000" }, value: "a", deadlineMs: 1000 },
    { kind: "proclaim", leader: { won: 0, change: "noLease" }, value: "b" },
    { kind: "leader", name: "el" },
    { kind: "leaseLeases" },
    { kind: "resign", leader: { won: 0, change: "noLease" } },
    { kind: "leaseLeases" },
  ]);
  assert.match(show(answers[3]), /"value":"b","lease":"L2"/);
  assert.equal((answers[4] as { leases: unknown[] }).leases.length, 2);
  assert.equal((answers[6] as { leases: unknown[] }).leases.length, 3);
});

test("with auth on, a waiter whose deadline passes keeps its key: etcd gives up its place without credentials", async () => {
  const asRoot = (op: Op): Op => ({ ...op, as: "root" });
  const answers = await sideBySide([...AUTH_SETUP, ...waitersPastDeadline().map(asRoot)], "grpc", true);
  const n = AUTH_SETUP.length;
  assert.deepEqual(answers[n + 3], failure(2, "context deadline exceeded"));
  assert.match(show(answers[n + 4]), /"count":2/, show(answers[n + 4]));
  assert.deepEqual(answers[n + 6], failure(2, "context deadline exceeded"));
  assert.match(show(answers[n + 7]), /"count":2/);
});

test("a member of one that added a voter that never starts loses its leader, and Status says so", async () => {
  assert.ok(debianEtcd, "Debian's etcd 3.4 is not installed (apt-get install etcd-server)");
  const statuses: unknown[] = [];
  const result = await withMembers(async (endpoints) => {
    const added = await runOps(
      [{ kind: "memberAdd", peerUrls: ["http://127.0.0.1:1"], learner: false }],
      endpoints,
    );
    if (added.divergence) return added;
    // etcd's leader steps down once it has not heard from a quorum for an election timeout (check quorum)
    await new Promise((r) => setTimeout(r, 3000));
    return runOps([{ kind: "status" }], endpoints, { onAnswers: (_i, etcd) => statuses.push(etcd) });
  });
  assert.equal(result.divergence, undefined, report(0, result));
  assert.deepEqual((statuses[0] as { errors: string[] }).errors, ["etcdserver: no leader"]);
});

test("with auth on, Observe by a user who may not read the election ends the stream without an error", async () => {
  const answers = await sideBySide(
    [...AUTH_SETUP, { kind: "observe", name: "el", windowMs: 300, as: "carol" }],
    "grpc",
    true,
  );
  assert.deepEqual(answers[AUTH_SETUP.length], { answers: [], end: "closed" });
});

test("with auth on, MemberAdd refuses bad peer URLs before it asks who sends it", async () => {
  const answers = await sideBySide(
    [...AUTH_SETUP, { kind: "memberAdd", peerUrls: ["http://127.0.0.1:1/p"], learner: false, as: "bob" }],
    "grpc",
    true,
  );
  assert.deepEqual(answers[AUTH_SETUP.length], failure(3, "etcdserver: given member URLs are invalid"));
});

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");

test("through the gateway, Grpc-Timeout 0m sets no deadline: Lock and Campaign wait until their holder lets go", async () => {
  const held: Record<string, unknown[]> = {};
  const answers = await sideBySide(
    [
      grant("100000"),
      { kind: "lock", name: "lk", lease: { id: "100000" }, deadlineMs: 1500 },
      grant("100001"),
      { kind: "lockWait", name: "lk", lease: "100001", zeroTimeout: true },
      prefixRange("lk/"),
      { kind: "unlock", key: { literal: "lk/186a0" } },
      { kind: "campaign", name: "el", lease: { id: "100000" }, value: "a", deadlineMs: 1500 },
      { kind: "campaignWait", name: "el", lease: "100001", value: "b", zeroTimeout: true },
      { kind: "resign", leader: { byLease: "100000" } },
    ],
    "gateway",
    false,
    held,
  );
  assert.match(show(answers[4]), /"count":"2"/);
  assert.deepEqual(held["waiter 0"], [
    { after: 5, answer: { http: 200, body: { header: { revision: "4" }, key: b64("lk/186a1") } } },
  ]);
  // a Campaign's answer carries the header of its first put, not of the moment it won
  assert.deepEqual(held["waiter 1"], [
    {
      after: 8,
      answer: {
        http: 200,
        body: {
          header: { revision: "6" },
          leader: { name: b64("el"), key: b64("el/186a1"), rev: "6", lease: "L2" },
        },
      },
    },
  ]);
});

test("over gRPC, Lock and Campaign whose grpc-timeout is 0 answer that the deadline passed", async () => {
  // etcd answers code 4 when its gRPC server finds the deadline passed as it reads the request, 2 with the same text
  // when the handler ran first (and then its put may even reach raft): the runner counts both as one answer, and
  // nothing follows here that such a put would change
  const answers = await sideBySide([
    grant("100000"),
    { kind: "lock", name: "lk", lease: { id: "100000" }, deadlineMs: 0 },
    { kind: "campaign", name: "el", lease: { id: "100000" }, value: "a", deadlineMs: 0 },
  ]);
  const passed = failure(4, "(deadline passed on arrival) context deadline exceeded");
  assert.deepEqual(answers[1], passed);
  assert.deepEqual(answers[2], passed);
});
