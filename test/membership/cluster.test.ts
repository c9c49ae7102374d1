import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMember, encodeMember, RaftCluster } from "../../src/membership/cluster.js";
import { formatId } from "../../src/membership/ids.js";

test("a three-member initial cluster derives every id and finds the local member", () => {
  const initial = new Map([
    ["infra0", ["http://10.0.1.10:2380"]],
    ["infra1", ["http://10.0.1.11:2380"]],
    ["infra2", ["http://10.0.1.12:2380"]],
  ]);
  const c = RaftCluster.fromInitialCluster("infra1", initial, "etcd-cluster-1");
  assert.equal(c.list().length, 3);
  assert.equal(c.member(c.localId)?.peerUrls[0], "http://10.0.1.11:2380");
  const again = RaftCluster.fromInitialCluster("infra2", initial, "etcd-cluster-1");
  assert.equal(again.id, c.id, "every member computes the same cluster id");
  assert.notEqual(again.localId, c.localId);
});

test("the default single member has etcd's ids", () => {
  const c = RaftCluster.fromInitialCluster(
    "default",
    new Map([["default", ["http://localhost:2380"]]]),
    "etcd-cluster",
  );
  assert.equal(formatId(c.localId), "8e9e05c52164694d");
  assert.equal(formatId(c.id), "cdf818194e3a8c32");
});

test("bad initial clusters are refused with a clear message", () => {
  assert.throws(
    () => RaftCluster.fromInitialCluster("x", new Map([["default", ["http://localhost:2380"]]]), "t"),
    /couldn't find local name "x"/,
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
});

test("member records round-trip and attributes update", () => {
  const m = {
    id: 0x8e9e05c52164694dn,
    name: "n",
    peerUrls: ["http://a:1"],
    clientUrls: ["http://a:2"],
    isLearner: true,
  };
  assert.deepEqual(decodeMember(encodeMember(m)), m);
  assert.equal(
    encodeMember(m).toString(),
    '{"id":10276657743932975437,"peerURLs":["http://a:1"],"isLearner":true,"name":"n","clientURLs":["http://a:2"]}',
  );
  assert.throws(() => decodeMember(Buffer.from('{"id":"xyz"}')), /invalid member field id/);
  const c = RaftCluster.fromInitialCluster(
    "default",
    new Map([["default", ["http://localhost:2380"]]]),
    "etcd-cluster",
  );
  c.setAttributes(c.localId, "default", ["http://localhost:2379"]);
  assert.deepEqual(c.toProto()[0].clientURLs, ["http://localhost:2379"]);
  c.remove(c.localId);
  assert.ok(c.isRemoved(c.localId));
  assert.equal(c.list().length, 0);
});
