// The differential tester's own parts, without servers: the generator is deterministic and reaches every option,
// the comparison finds differences and tolerates only what it says it does, and minimisation keeps a failure.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AUTH_SETUP,
  generate,
  type Op,
  type PutSpec,
  type RequestOpSpec,
  type TxnSpec,
  withoutIgnoreAfterDelete,
} from "./generator.js";
import { Approx, firstDifference, LeaseNames, normalize } from "./normalize.js";
import { type Divergence, orderRenamedKeys, type RunResult } from "./runner.js";
import { shrink, signature } from "./shrink.js";

test("a seed always gives the same operations, and a longer run extends a shorter one", () => {
  assert.deepEqual(generate(7, 300), generate(7, 300));
  assert.deepEqual(generate(7, 120), generate(7, 300).slice(0, 120));
  assert.notDeepEqual(generate(7, 50), generate(8, 50));
});

test("a txn put keeps ignore_value/ignore_lease only while no earlier operation of the txn deleted anything", () => {
  const put = (key: string): RequestOpSpec => ({
    put: { key, value: "", lease: null, prevKv: false, ignoreValue: true, ignoreLease: true },
  });
  const del: RequestOpSpec = { deleteRange: { key: "a", rangeEnd: "\x00", prevKv: false } };
  /** Each put's key and whether it still ignores value and lease, in order, nested txns included. */
  const puts = (ops: RequestOpSpec[]): string[] =>
    ops.flatMap((op) => {
      if ("put" in op) {
        const p: PutSpec = op.put;
        assert.equal(p.ignoreValue, p.ignoreLease);
        return [`${String(p.key)}:${p.ignoreValue}`];
      }
      return "txn" in op ? [...puts(op.txn.success), ...puts(op.txn.failure)] : [];
    });
  const out = withoutIgnoreAfterDelete({
    compare: [],
    success: [
      put("s1"),
      { txn: { compare: [], success: [put("n1"), del, put("n2")], failure: [put("n3")] } },
      put("s2"),
    ],
    failure: [put("f1"), { txn: { compare: [], success: [], failure: [put("n4")] } }, del, put("f2")],
  });
  assert.deepEqual(puts(out.success), ["s1:true", "n1:true", "n2:false", "n3:true", "s2:false"]);
  assert.deepEqual(puts(out.failure), ["f1:true", "n4:true", "f2:false"]);
});

/** Every request option the generator is meant to reach, as a name, from a list of operations. */
function featuresOf(ops: Op[]): Set<string> {
  const seen = new Set<string>();
  const txn = (t: TxnSpec, depth: number) => {
    if (depth > 0) seen.add("nested txn");
    if (t.success.length > 128 || t.compare.length > 128) seen.add("too many ops");
    for (const c of t.compare) {
      seen.add(`compare target ${c.target}`);
      seen.add(`compare result ${c.result}`);
      if (c.rangeEnd !== "") seen.add("compare range");
      if (c.key === "") seen.add("empty key");
    }
    for (const o of [...t.success, ...t.failure]) requestOp(o, depth);
  };
  const requestOp = (o: RequestOpSpec, depth: number) => {
    if ("txn" in o) txn(o.txn, depth + 1);
    else if ("put" in o) seen.add("put in txn");
    else if ("deleteRange" in o) seen.add("delete in txn");
    else if ("range" in o) seen.add("range in txn");
  };
  for (const op of ops) {
    seen.add(op.kind);
    if (op.kind === "range") {
      const r = op.req;
      if (r.limit > 0) seen.add("range limit");
      if (r.sortOrder === 2) seen.add("range sort descend");
      if (r.sortTarget === 4) seen.add("range sort by value");
      if (typeof r.revision !== "number" || r.revision !== 0) seen.add("range revision");
      if (r.keysOnly) seen.add("range keys only");
      if (r.countOnly) seen.add("range count only");
      if (r.minModRevision !== 0) seen.add("range min mod");
      if (r.maxCreateRevision !== 0) seen.add("range max create");
      if (r.rangeEnd === "\x00") seen.add("range from key");
      if (r.key === "") seen.add("empty key");
    }
    if (op.kind === "put") {
      const p = op.req;
      if (p.prevKv) seen.add("put prev_kv");
      if (p.ignoreValue) seen.add("put ignore_value");
      if (p.ignoreLease) seen.add("put ignore_lease");
      if (p.lease !== null) seen.add("put lease");
      if (typeof p.value !== "string" && p.value.size > 1.5 * 1024 * 1024) seen.add("oversize value");
    }
    if (op.kind === "deleteRange" && op.req.prevKv) seen.add("delete prev_kv");
    if (op.kind === "txn") txn(op.req, 0);
    if (op.kind === "watchCreate") {
      const w = op.req;
      if (typeof w.startRevision !== "number") seen.add("watch from history");
      if (typeof w.startRevision === "number" && w.startRevision < 0) seen.add("watch negative start");
      if (w.filters.length > 0) seen.add("watch filter");
      if (w.prevKv) seen.add("watch prev_kv");
      if (w.fragment) seen.add("watch fragment");
      if (w.progressNotify) seen.add("watch progress_notify");
      if (w.watchId !== 0) seen.add("watch id chosen");
    }
    if ((op.kind === "lockWait" || op.kind === "campaignWait") && op.zeroTimeout)
      seen.add("waiter grpc-timeout 0");
    if (op.kind === "unlock" && "literal" in op.key) seen.add("unlock of a holder's key");
    if ((op.kind === "resign" || op.kind === "proclaim") && "byLease" in op.leader)
      seen.add(`${op.kind} by lease`);
    if (op.kind === "leaseGrant" && op.ttl > 9_000_000_000) seen.add("lease TTL too large");
    if (op.kind === "leaseRevoke" && "id" in op.lease) seen.add("unknown lease");
    if (op.kind === "compact" && op.physical) seen.add("physical compaction");
    if (op.kind === "auth") {
      seen.add(`auth ${op.method}`);
      if (op.args.user === "" || op.args.role === "") seen.add("auth empty name");
      if (op.args.permType > 2 || op.args.permType < 0) seen.add("auth unknown permission type");
    }
  }
  return seen;
}

test("a few thousand operations reach every kind of call and every option", () => {
  const seen = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5]) for (const f of featuresOf(generate(seed, 1000))) seen.add(f);
  const wanted = [
    "range",
    "put",
    "deleteRange",
    "txn",
    "compact",
    "leaseGrant",
    "leaseRevoke",
    "leaseKeepAlive",
    "leaseTimeToLive",
    "leaseLeases",
    "leaseExpire",
    "watchCreate",
    "watchCancel",
    "watchProgress",
    "status",
    "hashKv",
    "alarmList",
    "lockWait",
    "campaignWait",
    "observeOpen",
    "observeClose",
    "leaseAwaitExpiry",
    "waiterLeave",
    "waiter grpc-timeout 0",
    "unlock of a holder's key",
    "resign by lease",
    "proclaim by lease",
    "range limit",
    "range sort descend",
    "range sort by value",
    "range revision",
    "range keys only",
    "range count only",
    "range min mod",
    "range max create",
    "range from key",
    "put prev_kv",
    "put ignore_value",
    "put ignore_lease",
    "put lease",
    "delete prev_kv",
    "nested txn",
    "put in txn",
    "delete in txn",
    "range in txn",
    "compare range",
    "compare target 0",
    "compare target 1",
    "compare target 2",
    "compare target 3",
    "compare target 4",
    "compare result 0",
    "compare result 1",
    "compare result 2",
    "compare result 3",
    "too many ops",
    "empty key",
    "oversize value",
    "watch from history",
    "watch negative start",
    "watch filter",
    "watch prev_kv",
    "watch fragment",
    "watch progress_notify",
    "watch id chosen",
    "lease TTL too large",
    "unknown lease",
    "physical compaction",
    ...[
      "userAdd",
      "userGet",
      "userList",
      "userDelete",
      "userChangePassword",
      "userGrantRole",
      "userRevokeRole",
      "roleAdd",
      "roleGet",
      "roleList",
      "roleDelete",
      "roleGrantPermission",
      "roleRevokePermission",
      "authenticate",
      "authDisable",
    ].map((m) => `auth ${m}`),
    "auth empty name",
    "auth unknown permission type",
  ];
  assert.deepEqual(
    wanted.filter((w) => !seen.has(w)),
    [],
  );
});

test("the comparison names the first difference, and tolerates only approximate TTLs", () => {
  assert.equal(firstDifference({ a: [1, { b: "x" }] }, { a: [1, { b: "x" }] }), undefined);
  assert.equal(firstDifference({ a: [1, { b: "x" }] }, { a: [1, { b: "y" }] }), '$.a[1].b: "x" vs "y"');
  assert.equal(firstDifference({ a: [1] }, { a: [1, 2] }), "$.a.length: 1 vs 2");
  assert.equal(firstDifference({ a: 1 }, { b: 1 }), "$.a: 1 vs undefined");
  assert.equal(firstDifference({ TTL: new Approx(60, 2) }, { TTL: new Approx(59, 2) }), undefined);
  assert.match(firstDifference({ TTL: new Approx(60, 2) }, { TTL: new Approx(55, 2) }) ?? "", /TTL/);
  assert.match(firstDifference({ TTL: new Approx(60, 2) }, { TTL: -1 }) ?? "", /TTL/);
});

test("lease ids are named by order of grant, so the two servers' random ids compare equal", () => {
  const a = new LeaseNames();
  const b = new LeaseNames();
  a.grant(7587861234n, true);
  b.grant(1234n, true);
  a.grant(100000n, false);
  b.grant(100000n, false);
  const resp = (id: bigint, other: bigint) => ({
    header: { revision: 3, memberId: 9n },
    kvs: [{ lease: id }],
    ID: other,
  });
  assert.equal(
    firstDifference(normalize(resp(7587861234n, 100000n), a), normalize(resp(1234n, 100000n), b)),
    undefined,
  );
  assert.notEqual(
    firstDifference(normalize(resp(7587861234n, 5n), a), normalize(resp(1234n, 6n), b)),
    undefined,
  );
  assert.equal(a.name(0n), "none");
  assert.deepEqual(normalize({ header: { revision: 5, clusterId: 1n, raftTerm: 2 } }, a), {
    header: { revision: 5 },
  });
});

function failing(index: number, op: Op, detail = "$.x: 1 vs 2"): RunResult {
  const divergence: Divergence = {
    index,
    op,
    request: "{}",
    where: "answer",
    detail,
    answers: { etcd: "1", rxetcd: "2" },
  };
  return { ops: index + 1, compared: index, slowSettles: [], divergence };
}

test("minimisation keeps the operations a difference needs and the operation that shows it", async () => {
  const ops = generate(3, 40);
  // a made-up server difference: it shows at operation 30 when operation 12 ran before it
  const trial = async (indices: number[]): Promise<RunResult> => {
    const at = indices.indexOf(30);
    if (at >= 0 && indices.includes(12)) return failing(at, ops[30]);
    return { ops: indices.length, compared: indices.length, slowSettles: [] };
  };
  const all = ops.map((_, i) => i);
  const start = await trial(all);
  const s = await shrink(all, start, trial, 100);
  assert.deepEqual(s.indices, [12, 30]);
  assert.ok(s.trials <= 100);
  // a trial that fails another way is not a smaller case of this failure
  assert.notEqual(signature(failing(0, ops[30], "$.y: 1 vs 2")), signature(failing(0, ops[30])));
});

test("an auth run: the set-up first, then users and nobody send; what etcd 3.4 checks less goes as root", () => {
  const ops = generate(9, 600, { auth: true });
  assert.deepEqual(ops.slice(0, AUTH_SETUP.length), AUTH_SETUP);
  const last = AUTH_SETUP[AUTH_SETUP.length - 1];
  assert.equal(last.kind === "auth" ? last.method : last.kind, "authEnable");
  const rest = ops.slice(AUTH_SETUP.length);
  const senders = new Set(rest.map((o) => o.as));
  for (const who of ["root", "alice", "bob", "carol", undefined])
    assert.ok(senders.has(who), `sent as ${who}`);
  const nested = rest.filter(
    (o) => o.kind === "txn" && [...o.req.success, ...o.req.failure].some((x) => "txn" in x),
  );
  assert.ok(nested.length > 0, "some txns nest one");
  for (const o of nested) assert.equal(o.as, "root");
  const fromKey = rest.filter((o) => o.kind === "watchCreate" && o.req.rangeEnd === "\x00");
  assert.ok(fromKey.length > 0, "some watches are from a key on");
  for (const o of fromKey) assert.equal(o.kind === "watchCreate" ? o.stream : -1, 0, "on root's stream");
  assert.deepEqual(generate(9, 100, { auth: true }), ops.slice(0, 100));
  assert.equal(
    generate(9, 300).some((o) => o.as !== undefined),
    false,
    "without auth nobody is named",
  );
});

test("a range's keys named after leases the servers chose compare as a set, unless the limit cut the list", () => {
  const a = new LeaseNames();
  const b = new LeaseNames();
  // the servers chose different ids for the same lease: its lock key sorts before "lk2/186a2" on one, after on the other
  a.grant(0x109an, true);
  b.grant(0x7568n, true);
  const kv = (key: string) => ({ key: Buffer.from(key), createRevision: 1 });
  const answer = (first: string, second: string, more = false) => ({ kvs: [kv(first), kv(second)], more });
  const ordered = (v: unknown) => {
    orderRenamedKeys(v);
    return v;
  };
  const ours = normalize(answer("lk2/109a", "lk2/186a2"), a);
  const theirs = normalize(answer("lk2/186a2", "lk2/7568"), b);
  assert.notEqual(firstDifference(ours, theirs), undefined, "raw order differs");
  assert.equal(firstDifference(ordered(ours), ordered(theirs)), undefined);
  // a txn's range, nested
  const txn = (r: unknown) => ({ succeeded: true, responses: [{ responseRange: r }] });
  assert.equal(
    firstDifference(
      ordered(txn(normalize(answer("lk2/109a", "lk2/186a2"), a))),
      ordered(txn(normalize(answer("lk2/186a2", "lk2/7568"), b))),
    ),
    undefined,
  );
  // cut by a limit: left as it is
  assert.notEqual(
    firstDifference(
      ordered(normalize(answer("lk2/109a", "lk2/186a2", true), a)),
      ordered(normalize(answer("lk2/186a2", "lk2/7568", true), b)),
    ),
    undefined,
  );
  // no renamed key: the server's order is compared as it is
  assert.notEqual(
    firstDifference(ordered(normalize(answer("a", "b"), a)), ordered(normalize(answer("b", "a"), a))),
    undefined,
  );
});
