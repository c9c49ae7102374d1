import assert from "node:assert/strict";
import { test } from "node:test";
import {
  memberAddContext,
  memberPromoteContext,
  memberUpdateContext,
  newMemberId,
  RaftCluster,
} from "../../src/membership/cluster.js";
import { formatId, memberId } from "../../src/membership/ids.js";

const dec = (hexId: string) => BigInt(`0x${hexId}`).toString(10);

test("the member and cluster ids etcd 3.4.23 reported for these URLs and tokens (§5)", () => {
  const one = RaftCluster.fromInitialCluster("n1", new Map([["n1", ["http://127.0.0.1:23801"]]]), "tok1");
  assert.equal(formatId(one.localId), "5485ed9a2f08260c");
  assert.equal(formatId(one.id), "f68a727a17953d73");

  const three = new Map([
    ["a", ["http://127.0.0.1:23811"]],
    ["b", ["http://127.0.0.1:23812"]],
    ["c", ["http://127.0.0.1:23813"]],
  ]);
  const ids = ["a", "b", "c"].map((n) => formatId(RaftCluster.fromInitialCluster(n, three, "tok3").localId));
  assert.deepEqual(ids, ["5a9ff2fd570cac50", "52eb4f0d281b02ea", "9f4776933e3fb72a"]);
  assert.equal(formatId(RaftCluster.fromInitialCluster("b", three, "tok3").id), "512bcc7be0b351a4");
});

test("bootstrap contexts: one per member, ascending id, {id, peerURLs, name} (observed)", () => {
  const c = RaftCluster.fromInitialCluster(
    "b",
    new Map([
      ["a", ["http://127.0.0.1:23811"]],
      ["b", ["http://127.0.0.1:23812"]],
      ["c", ["http://127.0.0.1:23813"]],
    ]),
    "tok3",
  );
  const entries = c.bootstrapConfChanges();
  assert.deepEqual(
    entries.map((e) => formatId(e.id)),
    ["52eb4f0d281b02ea", "5a9ff2fd570cac50", "9f4776933e3fb72a"],
  );
  assert.equal(
    entries[0].context.toString(),
    `{"id":${dec("52eb4f0d281b02ea")},"peerURLs":["http://127.0.0.1:23812"],"name":"b"}`,
  );
  assert.equal(
    entries[2].context.toString(),
    `{"id":${dec("9f4776933e3fb72a")},"peerURLs":["http://127.0.0.1:23813"],"name":"c"}`,
  );
});

test("a member with several peer URLs: sorted in the id and in the context", () => {
  const c = RaftCluster.fromInitialCluster(
    "m",
    new Map([["m", ["http://127.0.0.2:2380", "http://127.0.0.1:2380"]]]),
    "t",
  );
  assert.equal(c.localId, memberId(["http://127.0.0.1:2380", "http://127.0.0.2:2380"], "t"));
  assert.equal(
    c.bootstrapConfChanges()[0].context.toString(),
    `{"id":${c.localId},"peerURLs":["http://127.0.0.1:2380","http://127.0.0.2:2380"],"name":"m"}`,
  );
});

test("the Cluster API's contexts, byte for byte (§7.4, observed in a WAL)", () => {
  const id = 0x7784390099a736f8n;
  assert.equal(
    memberAddContext({ id, peerUrls: ["http://127.0.0.1:23802"], isLearner: false }).toString(),
    `{"id":${dec("7784390099a736f8")},"peerURLs":["http://127.0.0.1:23802"]}`,
  );
  assert.equal(
    memberAddContext({ id, peerUrls: ["http://b:2", "http://a:1"], isLearner: true }).toString(),
    `{"id":${dec("7784390099a736f8")},"peerURLs":["http://a:1","http://b:2"],"isLearner":true}`,
  );
  assert.equal(
    memberPromoteContext(id).toString(),
    `{"id":${dec("7784390099a736f8")},"peerURLs":null,"isPromote":true}`,
  );
  assert.equal(
    memberUpdateContext(id, ["http://127.0.0.1:23803"]).toString(),
    `{"id":${dec("7784390099a736f8")},"peerURLs":["http://127.0.0.1:23803"]}`,
  );
  assert.equal(memberUpdateContext(1n, []).toString(), '{"id":1,"peerURLs":null}');
  // an id above 2^63 keeps every digit
  assert.equal(
    memberPromoteContext(0xffffffffffffffffn).toString(),
    '{"id":18446744073709551615,"peerURLs":null,"isPromote":true}',
  );
});

test("run-time member ids: no token, the Unix time in seconds", () => {
  const urls = ["http://127.0.0.1:23802"];
  assert.equal(newMemberId(urls, 1_700_000_000), memberId(urls, "", 1_700_000_000));
  assert.equal(newMemberId(urls, 1_700_000_000.9), newMemberId(urls, 1_700_000_000));
  assert.notEqual(newMemberId(urls, 1_700_000_000), newMemberId(urls, 1_700_000_001));
});
