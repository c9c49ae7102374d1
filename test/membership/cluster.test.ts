import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConfChange, ConfChangeType } from "../../src/gen/raftpb/raft.js";
import {
  decodeMember,
  ErrIDExists,
  ErrIDNotFound,
  ErrIDRemoved,
  ErrMemberNotLearner,
  ErrPeerURLExists,
  ErrTooManyLearners,
  encodeMember,
  MembershipFatalError,
  memberAddContext,
  memberPromoteContext,
  memberUpdateContext,
  RaftCluster,
  type RecordChange,
} from "../../src/membership/cluster.js";
import { formatId } from "../../src/membership/ids.js";
import { clusterVersionRequest, publishRequest, v2Request } from "../../src/membership/v2-request.js";

const {
  ConfChangeAddNode: ADD,
  ConfChangeAddLearnerNode: ADD_LEARNER,
  ConfChangeRemoveNode: REMOVE,
} = ConfChangeType;
const UPDATE = ConfChangeType.ConfChangeUpdateNode;

const cc = (type: ConfChangeType, nodeId: bigint, context?: Buffer): ConfChange => ({
  id: 0n,
  type,
  nodeId,
  context: context ?? Buffer.alloc(0),
});
const add = (id: bigint, url: string, isLearner = false) =>
  cc(isLearner ? ADD_LEARNER : ADD, id, memberAddContext({ id, peerUrls: [url], isLearner }));
const promote = (id: bigint) => cc(ADD, id, memberPromoteContext(id));
const update = (id: bigint, url: string) => cc(UPDATE, id, memberUpdateContext(id, [url]));
const remove = (id: bigint) => cc(REMOVE, id);

const records = (rs: RecordChange[]) => rs.map(([b, k, v]) => [b, k.toString(), v?.toString()]);

const threeMembers = new Map([
  ["a", ["http://10.0.0.1:2380"]],
  ["b", ["http://10.0.0.2:2380"]],
  ["c", ["http://10.0.0.3:2380"]],
]);

/** A started three-member cluster as every member holds it after its bootstrap entries. */
function bootstrapped(): RaftCluster {
  const c = RaftCluster.fromInitialCluster("a", threeMembers, "tok");
  for (const e of c.bootstrapConfChanges()) {
    const change = cc(ADD, e.id, e.context);
    assert.equal(c.validateConfChange(change), undefined);
    c.applyConfChange(change);
  }
  return c;
}

function applyValid(c: RaftCluster, change: ConfChange) {
  assert.equal(c.validateConfChange(change), undefined, `valid: ${change.context.toString()}`);
  return c.applyConfChange(change);
}

const L = 0x1111n;
const R = 0x2222n;

/** bootstrapped + learner L + member R added and removed. */
function withHistory(): RaftCluster {
  const c = bootstrapped();
  applyValid(c, add(L, "http://10.0.0.9:2380", true));
  applyValid(c, add(R, "http://10.0.0.8:2380"));
  applyValid(c, remove(R));
  return c;
}

test("every validation verdict, in etcd's order of checks", () => {
  const c = withHistory();
  const [a, b] = c.voterIds();
  const aUrl = c.member(a)?.peerUrls[0] as string;
  const bUrl = c.member(b)?.peerUrls[0] as string;
  const rows: Array<[string, ConfChange, string | undefined]> = [
    ["remove a removed id", remove(R), ErrIDRemoved],
    ["re-add a removed id (removed wins over every other check)", add(R, aUrl, true), ErrIDRemoved],
    ["promote a removed id", promote(R), ErrIDRemoved],
    ["update a removed id", update(R, "http://x:1"), ErrIDRemoved],
    ["add an existing id", add(a, "http://new:1"), ErrIDExists],
    ["add an existing id with a used URL: the id is checked first", add(a, bUrl), ErrIDExists],
    ["add a used peer URL", add(0x3333n, bUrl), ErrPeerURLExists],
    ["add a learner with a used URL: the URL is checked first", add(0x3333n, aUrl, true), ErrPeerURLExists],
    ["a second learner", add(0x3333n, "http://new:1", true), ErrTooManyLearners],
    ["a new voter", add(0x3333n, "http://new:1"), undefined],
    ["promote an unknown id", promote(0x4444n), ErrIDNotFound],
    ["promote a voter", promote(a), ErrMemberNotLearner],
    ["promote the learner", promote(L), undefined],
    ["remove an unknown id", remove(0x4444n), ErrIDNotFound],
    ["remove a voter", remove(b), undefined],
    ["remove the learner", remove(L), undefined],
    ["update an unknown id", update(0x4444n, "http://x:1"), ErrIDNotFound],
    ["update to another member's URL", update(a, bUrl), ErrPeerURLExists],
    ["update to its own URL", update(a, aUrl), undefined],
    ["update to a new URL", update(a, "http://new:1"), undefined],
    // the learner limit follows the context's flag, not the change type
    [
      "AddLearnerNode whose context is no learner",
      cc(ADD_LEARNER, 0x5n, memberAddContext({ id: 0x5n, peerUrls: ["http://n:5"], isLearner: false })),
      undefined,
    ],
    [
      "AddNode whose context is a learner",
      cc(ADD, 0x5n, memberAddContext({ id: 0x5n, peerUrls: ["http://n:5"], isLearner: true })),
      ErrTooManyLearners,
    ],
  ];
  for (const [what, change, verdict] of rows) assert.equal(c.validateConfChange(change), verdict, what);
});

test("isLearner tells a learner from a voter, before and after its promotion, and no member from either", () => {
  const c = withHistory();
  const [a] = c.voterIds();
  assert.equal(c.isLearner(L), true);
  assert.equal(c.isLearner(a), false);
  assert.equal(c.isLearner(R), false, "a removed member");
  assert.equal(c.isLearner(0x4444n), false, "an unknown id");
  applyValid(c, promote(L));
  assert.equal(c.isLearner(L), false);
  for (const id of [L, a, R]) assert.equal(c.isLearner(id), c.member(id)?.isLearner ?? false);
});

test("validation reads the v2 store: a new cluster's members are in memory only until their entries apply", () => {
  const c = RaftCluster.fromInitialCluster("a", threeMembers, "tok");
  const [first] = c.bootstrapConfChanges();
  assert.ok(c.member(first.id), "known in memory");
  assert.equal(c.validateConfChange(remove(first.id)), ErrIDNotFound);
  assert.equal(c.validateConfChange(cc(ADD, first.id, first.context)), undefined);
});

test("contexts etcd cannot read and unknown change types stop the member", () => {
  const c = bootstrapped();
  assert.throws(() => c.validateConfChange(cc(ADD, 0x9n, Buffer.from("{"))), MembershipFatalError);
  assert.throws(() => c.validateConfChange(cc(ADD, 0x9n)), MembershipFatalError);
  assert.throws(
    () => c.validateConfChange(cc(UPDATE, c.localId, Buffer.from('{"id":"x"}'))),
    MembershipFatalError,
  );
  assert.throws(() => c.validateConfChange(cc(7 as ConfChangeType, 0x9n)), MembershipFatalError);
  const mismatch = cc(ADD, 0x9n, memberAddContext({ id: 0x8n, peerUrls: ["http://n:9"], isLearner: false }));
  assert.equal(c.validateConfChange(mismatch), undefined);
  assert.throws(() => c.applyConfChange(mismatch), /got different member ID/);
  assert.throws(() => c.applyConfChange(remove(0x4444n)), /invalid \(membership: ID not found\)/);
});

test("bootstrap entries store the members with the names of their contexts; the backend gets etcd's Member JSON", () => {
  const c = RaftCluster.fromInitialCluster("a", threeMembers, "tok");
  const [first] = c.bootstrapConfChanges();
  const change = c.applyConfChange(cc(ADD, first.id, first.context));
  assert.equal(change.kind, "add");
  assert.deepEqual(records(change.records), [["members", formatId(first.id), first.context.toString()]]);
  assert.equal(change.member?.name, c.member(first.id)?.name);
});

test("add, promote, update (clearing isLearner, etcd 3.4's quirk) and remove: members, records, learner limit", () => {
  const c = bootstrapped();
  const learnerCtx = `{"id":${L},"peerURLs":["http://10.0.0.9:2380"],"isLearner":true}`;
  const added = applyValid(c, add(L, "http://10.0.0.9:2380", true));
  assert.deepEqual(records(added.records), [["members", "1111", learnerCtx]]);
  assert.deepEqual(c.learnerIds(), [L]);
  assert.equal(c.voterIds().length, 3);

  const promoted = applyValid(c, promote(L));
  assert.equal(promoted.kind, "promote");
  assert.deepEqual(records(promoted.records), [
    ["members", "1111", `{"id":${L},"peerURLs":["http://10.0.0.9:2380"]}`],
  ]);
  assert.deepEqual(c.learnerIds(), []);

  // a learner whose URLs are updated stops being a learner in the membership
  const L2 = 0x1112n;
  applyValid(c, add(L2, "http://10.0.0.10:2380", true));
  assert.equal(c.validateConfChange(add(0x1113n, "http://10.0.0.11:2380", true)), ErrTooManyLearners);
  const updated = applyValid(c, update(L2, "http://10.0.0.12:2380"));
  assert.equal(updated.kind, "update");
  assert.deepEqual(updated.member?.peerUrls, ["http://10.0.0.12:2380"]);
  assert.equal(updated.member?.isLearner, false);
  assert.equal(c.member(L2)?.isLearner, false);
  assert.equal(c.validateConfChange(add(0x1113n, "http://10.0.0.11:2380", true)), undefined);
  assert.equal(c.validateConfChange(promote(L2)), ErrMemberNotLearner);

  const removed = applyValid(c, remove(L2));
  assert.equal(removed.kind, "remove");
  assert.equal(removed.member?.id, L2);
  assert.deepEqual(records(removed.records), [
    ["members", "1112", undefined],
    ["members_removed", "1112", "removed"],
  ]);
  assert.ok(c.isRemoved(L2));
  assert.deepEqual(c.removedIds(), [L2]);
  assert.equal(c.member(L2), undefined);
  assert.equal(c.validateConfChange(add(L2, "http://10.0.0.12:2380")), ErrIDRemoved);
  // the removed member's URL is free again
  assert.equal(c.validateConfChange(add(0x7n, "http://10.0.0.12:2380")), undefined);
});

test("publish: attributes of a member, skipped for a removed one, fatal for an unknown one", () => {
  const c = withHistory();
  const a = c.localId;
  const res = c.applyV2(publishRequest(1n, a, "a", ["http://10.0.0.1:2379"]));
  assert.equal(res.kind, "attributes");
  assert.equal(res.id, a);
  assert.deepEqual(c.member(a)?.clientUrls, ["http://10.0.0.1:2379"]);
  assert.deepEqual(records(res.records), [
    [
      "members",
      formatId(a),
      `{"id":${a},"peerURLs":["http://10.0.0.1:2380"],"name":"a","clientURLs":["http://10.0.0.1:2379"]}`,
    ],
  ]);

  // etcd re-marshals the attributes it read: unknown fields go, key order is Go's
  c.applyV2(
    v2Request({
      Method: "PUT",
      Path: `/0/members/${formatId(L)}/attributes`,
      Val: '{"clientURLs":["http://l:1"],"extra":1,"name":"l"}',
    }),
  );
  assert.match(
    c.toSnapshotData().toString(),
    /"Value":"\{\\"name\\":\\"l\\",\\"clientURLs\\":\[\\"http:\/\/l:1\\"\]\}"/,
  );

  const skipped = c.applyV2(publishRequest(2n, R, "r", ["http://r:1"]));
  assert.deepEqual([skipped.kind, skipped.id, skipped.records], ["attributes", R, []]);
  assert.throws(() => c.applyV2(publishRequest(3n, 0x4444n, "x", [])), MembershipFatalError);
  assert.throws(
    () =>
      c.applyV2(v2Request({ Method: "PUT", Path: `/0/members/${formatId(a)}/attributes`, Val: "not json" })),
    MembershipFatalError,
  );
  // the path pattern is unanchored, as etcd's: the id is the parent directory's name
  assert.throws(
    () =>
      c.applyV2(v2Request({ Method: "PUT", Path: `/x/0/members/${formatId(a)}/attributes/y`, Val: "{}" })),
    /unexpected parse member id error/,
  );
});

test("the cluster version: set, normalised, stored; a version above 3.4 or no version at all stops the member", () => {
  const c = bootstrapped();
  assert.equal(c.version(), undefined);
  const res = c.applyV2(clusterVersionRequest(1n, "3.0.0"));
  assert.deepEqual(
    [res.kind, res.version, records(res.records)],
    ["version", "3.0.0", [["cluster", "clusterVersion", "3.0.0"]]],
  );
  c.applyV2(clusterVersionRequest(2n, "3.4.0"));
  assert.equal(c.version(), "3.4.0");
  assert.equal(c.applyV2(clusterVersionRequest(3n, "03.4.0")).version, "3.4.0");
  assert.throws(() => c.applyV2(clusterVersionRequest(4n, "3.5.0")), /invalid downgrade/);
  assert.throws(() => c.applyV2(clusterVersionRequest(5n, "3.4")), /dotted-tri/);
  assert.equal(c.version(), "3.4.0", "a refused version changes nothing");
  // a conditional PUT of /0/version is a plain v2 store write, not a version change
  const cas = c.applyV2(v2Request({ Method: "PUT", Path: "/0/version", Val: "9.9.9", PrevValue: "3.4.0" }));
  assert.equal(cas.kind, "other");
  assert.equal(c.version(), "3.4.0");
});

test("other v2 requests are kept in the tree; failures leave it as etcd leaves it", () => {
  const c = bootstrapped();
  const before = c.toSnapshotData().toString();
  assert.equal(c.applyV2(v2Request({ Method: "PUT", Path: "/1/foo", Val: "bar" })).kind, "other");
  assert.equal(c.applyV2(v2Request({ Method: "POST", Path: "/1/queue", Val: "job" })).error, undefined);
  const failed = c.applyV2(v2Request({ Method: "PUT", Path: "/1/foo", Val: "x", PrevValue: "nope" }));
  assert.equal(failed.error?.errorCode, 101);
  assert.equal(c.applyV2(v2Request({ Method: "QGET", Path: "/1/missing" })).error?.errorCode, 100);
  assert.equal(c.applyV2(v2Request({ Method: "GET", Path: "/1/foo" })).kind, "other");
  const data = c.toSnapshotData().toString();
  assert.notEqual(data, before);
  assert.match(
    data,
    /"\/1\/foo","CreatedIndex":\d+,"ModifiedIndex":\d+,"ExpireTime":"0001-01-01T00:00:00Z","Value":"bar"/,
  );
  assert.match(data, /"\/1\/queue\/0000000000000000000\d"/);
  // a TTL key makes the leader's SYNC due; SYNC after its expiry removes it
  assert.equal(c.hasTtlKeys(), false);
  c.applyV2(v2Request({ Method: "PUT", Path: "/1/ttl", Val: "v", Expiration: 2_000_000_000_000_000_000n }));
  assert.equal(c.hasTtlKeys(), true);
  c.applyV2(v2Request({ Method: "SYNC", Time: 1_999_999_999_999_999_999n }));
  assert.equal(c.hasTtlKeys(), true);
  c.applyV2(v2Request({ Method: "SYNC", Time: 2_000_000_000_000_000_000n }));
  assert.equal(c.hasTtlKeys(), false);
  assert.doesNotMatch(c.toSnapshotData().toString(), /\/1\/ttl/);
});

test("a member joining takes the remote ids and cluster id when the URLs match", async () => {
  const remote = {
    clusterId: 0xabcdefn,
    members: [
      { id: 0x10n, peerURLs: ["http://10.0.0.2:2380"], name: "b", clientURLs: ["http://10.0.0.2:2379"] },
      { id: 0x20n, peerURLs: ["http://10.0.0.1:2380"], name: "a", clientURLs: ["http://10.0.0.1:2379"] },
      { id: 0x30n, peerURLs: ["http://10.0.0.3:2380"] },
    ],
  };
  const c = await RaftCluster.forJoin("c", threeMembers, "tok", remote);
  assert.equal(c.id, 0xabcdefn);
  assert.equal(c.localId, 0x30n);
  assert.deepEqual(
    c.list().map((m) => [m.id, m.name, m.peerUrls[0]]),
    [
      [0x10n, "b", "http://10.0.0.2:2380"],
      [0x20n, "a", "http://10.0.0.1:2380"],
      [0x30n, "c", "http://10.0.0.3:2380"],
    ],
  );
  // nothing is in the v2 store yet: the leader's log or snapshot brings it
  assert.equal(c.validateConfChange(remove(0x10n)), ErrIDNotFound);
  assert.equal(c.remotePeerUrls("c").join(","), "http://10.0.0.1:2380,http://10.0.0.2:2380");
});

test("joining refuses a cluster that does not match --initial-cluster, with etcd's texts", async () => {
  const remote = {
    clusterId: 0xabcdefn,
    members: [
      { id: 0x10n, peerURLs: ["http://10.0.0.2:2380"], name: "b", clientURLs: ["http://10.0.0.2:2379"] },
      { id: 0x20n, peerURLs: ["http://10.0.0.1:2380"], name: "a", clientURLs: [] },
    ],
  };
  const prefix =
    "error validating peerURLs {ClusterID:abcdef Members:[" +
    "&{ID:10 RaftAttributes:{PeerURLs:[http://10.0.0.2:2380] IsLearner:false} Attributes:{Name:b ClientURLs:[http://10.0.0.2:2379]}} " +
    "&{ID:20 RaftAttributes:{PeerURLs:[http://10.0.0.1:2380] IsLearner:false} Attributes:{Name:a ClientURLs:[]}}" +
    "] RemovedMemberIDs:[]}: ";
  await assert.rejects(
    () => RaftCluster.forJoin("c", threeMembers, "tok", remote),
    (err: Error) => err.message === `${prefix}member count is unequal`,
  );
  const two = new Map([
    ["a", ["http://10.0.0.1:2380"]],
    ["c", ["http://10.0.0.3:2380"]],
  ]);
  // local members in id order: a (…) and c (…); the last comparison made is the reported one
  const lastLocal = RaftCluster.fromInitialCluster("c", two, "tok").list().at(-1)?.peerUrls[0];
  await assert.rejects(
    () => RaftCluster.forJoin("c", two, "tok", remote),
    (err: Error) =>
      err.message ===
      `${prefix}PeerURLs: no match found for existing member (10, [http://10.0.0.2:2380]), last resolver error (resolved urls: "http://10.0.0.2:2380" != "${lastLocal}")`,
  );
  const twoUrls = new Map([
    ["a", ["http://10.0.0.1:2380", "http://10.0.0.4:2380"]],
    ["c", ["http://10.0.0.2:2380", "http://10.0.0.3:2380"]],
  ]);
  await assert.rejects(
    () => RaftCluster.forJoin("c", twoUrls, "tok", remote),
    (err: Error) =>
      err.message.endsWith(
        `no match found for existing member (10, [http://10.0.0.2:2380]), last resolver error (len(["http://10.0.0.2:2380"]) != len(["${RaftCluster.fromInitialCluster("c", twoUrls, "tok").list().at(-1)?.peerUrls.join('" "')}"]))`,
      ),
  );
  await assert.rejects(() => RaftCluster.forJoin("x", two, "tok", remote), /couldn't find local name "x"/);
});

test("a new cluster: local name required, identical ids refused with etcd's text", () => {
  assert.throws(
    () => RaftCluster.fromInitialCluster("x", new Map([["default", ["http://localhost:2380"]]]), "t"),
    /couldn't find local name "x" in the initial cluster configuration/,
  );
  assert.throws(
    () =>
      RaftCluster.fromInitialCluster(
        "a",
        new Map([
          ["a", ["http://h:1"]],
          ["b", ["http://h:1"]],
        ]),
        "t",
      ),
    /^Error: member exists with identical ID &\{[0-9a-f]+ \{\[http:\/\/h:1\] false\} \{b \[\]\}\}$/,
  );
  const c = RaftCluster.fromInitialCluster(
    "default",
    new Map([["default", ["http://localhost:2380"]]]),
    "etcd-cluster",
  );
  assert.equal(formatId(c.localId), "8e9e05c52164694d");
  assert.equal(formatId(c.id), "cdf818194e3a8c32");
  assert.equal(
    c.alreadyBootstrappedIn([
      { id: c.localId, peerURLs: ["http://localhost:2380"], clientURLs: ["http://localhost:2379"] },
    ]),
    "member 8e9e05c52164694d has already been bootstrapped",
  );
  assert.equal(c.alreadyBootstrappedIn([{ id: c.localId, peerURLs: ["http://localhost:2380"] }]), undefined);
});

test("member records in etcd's JSON; the member list as protobuf", () => {
  const m = {
    id: 0x8e9e05c52164694dn,
    name: "n",
    peerUrls: ["http://a:1"],
    clientUrls: ["http://a:2"],
    isLearner: true,
  };
  assert.equal(
    encodeMember(m).toString(),
    '{"id":10276657743932975437,"peerURLs":["http://a:1"],"isLearner":true,"name":"n","clientURLs":["http://a:2"]}',
  );
  assert.deepEqual(decodeMember(encodeMember(m)), m);
  assert.throws(() => decodeMember(Buffer.from('{"id":"xyz"}')), /invalid member field id/);
  const c = withHistory();
  assert.deepEqual(
    c.toProto().map((p) => [p.ID, p.isLearner]),
    [...c.voterIds().map((id) => [id, false]), [L, true]].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
  );
});
