import assert from "node:assert/strict";
import { test } from "node:test";
import { type ConfChange, ConfChangeType } from "../../src/gen/raftpb/raft.js";
import {
  MembershipFatalError,
  memberAddContext,
  memberPromoteContext,
  RaftCluster,
} from "../../src/membership/cluster.js";
import { formatId } from "../../src/membership/ids.js";
import { clusterVersionRequest, publishRequest, v2Request } from "../../src/membership/v2-request.js";
import { V2StoreFormatError } from "../../src/membership/v2-store.js";

const cc = (type: ConfChangeType, nodeId: bigint, context: Buffer = Buffer.alloc(0)): ConfChange => ({
  id: 0n,
  type,
  nodeId,
  context,
});
const addLearner = (id: bigint, url: string) =>
  cc(ConfChangeType.ConfChangeAddLearnerNode, id, memberAddContext({ id, peerUrls: [url], isLearner: true }));

function apply(c: RaftCluster, change: ConfChange): void {
  assert.equal(c.validateConfChange(change), undefined);
  c.applyConfChange(change);
}

/** A cluster with every kind of state: published and unpublished members, a learner, a removed id, a version, v2 keys. */
function busy(): RaftCluster {
  const c = RaftCluster.fromInitialCluster(
    "a",
    new Map([
      ["a", ["http://10.0.0.1:2380"]],
      ["b", ["http://10.0.0.2:2380"]],
    ]),
    "tok",
  );
  for (const e of c.bootstrapConfChanges()) apply(c, cc(ConfChangeType.ConfChangeAddNode, e.id, e.context));
  c.applyV2(publishRequest(1n, c.localId, "a", ["http://10.0.0.1:2379"]));
  apply(c, addLearner(0x10n, "http://10.0.0.3:2380"));
  apply(
    c,
    cc(
      ConfChangeType.ConfChangeAddNode,
      0x20n,
      memberAddContext({ id: 0x20n, peerUrls: ["http://10.0.0.4:2380"], isLearner: false }),
    ),
  );
  apply(c, cc(ConfChangeType.ConfChangeRemoveNode, 0x20n));
  c.applyV2(clusterVersionRequest(2n, "3.4.0"));
  c.applyV2(v2Request({ Method: "PUT", Path: "/1/user/key", Val: "value" }));
  c.applyV2(v2Request({ Method: "PUT", Path: "/1/ttl", Val: "t", Expiration: 2_000_000_000_000_000_000n }));
  return c;
}

test("snapshot Data round trip: members, attributes, learners, removed ids, version, v2 keys", () => {
  const c = busy();
  const data = c.toSnapshotData();
  const back = RaftCluster.fromSnapshotData(c.localId, c.id, data);
  assert.equal(back.toSnapshotData().toString(), data.toString());
  assert.deepEqual([back.localId, back.id], [c.localId, c.id]);
  assert.deepEqual(back.removedIds(), [0x20n]);
  assert.deepEqual(back.learnerIds(), [0x10n]);
  assert.equal(back.version(), "3.4.0");
  assert.equal(back.hasTtlKeys(), true);
  assert.deepEqual(back.member(c.localId), c.member(c.localId));
  // names that came only with bootstrap contexts live in memory; after a snapshot they are gone, as in etcd
  const unpublished = c.voterIds().find((id) => id !== c.localId) as bigint;
  assert.equal(c.member(unpublished)?.name, "b");
  assert.equal(back.member(unpublished)?.name, "");
  // the same verdicts afterwards
  for (const change of [
    addLearner(0x30n, "http://10.0.0.5:2380"),
    cc(ConfChangeType.ConfChangeAddNode, 0x10n, memberPromoteContext(0x10n)),
    cc(ConfChangeType.ConfChangeRemoveNode, 0x20n),
    cc(ConfChangeType.ConfChangeRemoveNode, unpublished),
  ]) {
    assert.equal(back.validateConfChange(change), c.validateConfChange(change));
  }
  assert.match(data.toString(), /^\{"Root":\{"Path":"\/",.*\},"CurrentIndex":\d+,"CurrentVersion":2\}$/);
  assert.doesNotMatch(data.toString(), /WatcherHub|Stats/);
});

test("the minimal JSON the protocol notes describe (§8.2) is read", () => {
  const minimal = `{"Root":{"Path":"/","Children":{
  "0":{"Path":"/0","Children":{
    "members":{"Path":"/0/members","Children":{
      "5a9ff2fd570cac50":{"Path":"/0/members/5a9ff2fd570cac50","Children":{
        "raftAttributes":{"Path":"/0/members/5a9ff2fd570cac50/raftAttributes","Value":"{\\"peerURLs\\":[\\"http://127.0.0.1:23811\\"]}"},
        "attributes":{"Path":"/0/members/5a9ff2fd570cac50/attributes","Value":"{\\"name\\":\\"a\\",\\"clientURLs\\":[\\"http://127.0.0.1:23711\\"]}"}}}}},
    "removed_members":{"Path":"/0/removed_members","Children":{
      "9f4776933e3fb72a":{"Path":"/0/removed_members/9f4776933e3fb72a"}}},
    "version":{"Path":"/0/version","Value":"3.4.0"}}},
  "1":{"Path":"/1","Children":{}}}},
 "CurrentIndex":7}`;
  const c = RaftCluster.fromSnapshotData(0x5a9ff2fd570cac50n, 0x512bcc7be0b351a4n, Buffer.from(minimal));
  assert.deepEqual(c.list(), [
    {
      id: 0x5a9ff2fd570cac50n,
      name: "a",
      peerUrls: ["http://127.0.0.1:23811"],
      clientUrls: ["http://127.0.0.1:23711"],
      isLearner: false,
    },
  ]);
  assert.deepEqual(c.removedIds().map(formatId), ["9f4776933e3fb72a"]);
  assert.equal(c.version(), "3.4.0");
  assert.match(c.toSnapshotData().toString(), /"CurrentIndex":7,/);
});

test("snapshot Data etcd could not recover from is refused with a clear error", () => {
  const member = (children: string) =>
    `{"Root":{"Path":"/","Children":{"0":{"Path":"/0","Children":{"members":{"Path":"/0/members","Children":{"a":{"Path":"/0/members/a","Children":${children}}}}}}}}}`;
  const cases: Array<[string, RegExp | (new (...args: never[]) => Error)]> = [
    ["not json", V2StoreFormatError],
    ['{"Root":{"Children":{"0":"x"}}}', V2StoreFormatError],
    [member("{}"), /raftAttributes key doesn't exist/],
    [
      member('{"raftAttributes":{"Path":"/0/members/a/raftAttributes","Value":"{\\"peerURLs\\":1}"}}'),
      /raftAttributes/,
    ],
    [member('{"other":{"Path":"/0/members/a/other","Value":""}}'), /unknown key/],
    [member('{"raftAttributes":{"Path":"/0/members/a/raftAttributes","Children":{}}}'), /directory/],
    [
      '{"Root":{"Path":"/","Children":{"0":{"Path":"/0","Children":{"members":{"Path":"/0/members","Children":{"zz":{"Path":"/0/members/zz","Children":{}}}}}}}}}',
      /unexpected parse member id error/,
    ],
    [
      '{"Root":{"Path":"/","Children":{"0":{"Path":"/0","Children":{"version":{"Path":"/0/version","Value":"3.5.0"}}}}}}',
      /invalid downgrade/,
    ],
    [
      '{"Root":{"Path":"/","Children":{"0":{"Path":"/0","Children":{"version":{"Path":"/0/version","Value":"x"}}}}}}',
      /invalid cluster version/,
    ],
  ];
  for (const [data, expected] of cases) {
    assert.throws(() => RaftCluster.fromSnapshotData(1n, 2n, Buffer.from(data)), expected as RegExp, data);
  }
  assert.throws(() => RaftCluster.fromSnapshotData(1n, 2n, Buffer.from(member("{}"))), MembershipFatalError);
});

test("restore replaces the whole state with a received snapshot, and keeps it when the snapshot is bad", () => {
  const c = busy();
  const before = c.toSnapshotData().toString();
  assert.throws(() => c.restore(Buffer.from("{")), V2StoreFormatError);
  assert.equal(c.toSnapshotData().toString(), before);
  const other = RaftCluster.fromInitialCluster("x", new Map([["x", ["http://10.0.0.9:2380"]]]), "t");
  for (const e of other.bootstrapConfChanges())
    apply(other, cc(ConfChangeType.ConfChangeAddNode, e.id, e.context));
  c.restore(other.toSnapshotData());
  assert.deepEqual(
    c.list().map((m) => m.peerUrls[0]),
    ["http://10.0.0.9:2380"],
  );
  assert.deepEqual(c.removedIds(), []);
  assert.equal(c.version(), undefined);
});
