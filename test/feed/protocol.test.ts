import assert from "node:assert/strict";
import { test } from "node:test";
import { isLeft, isRight } from "fp-ts/lib/Either.js";
import { toBytes } from "../../src/feed/bytes.js";
import { inByteRange, prefixEnd, toByteRange } from "../../src/feed/key-range.js";
import { FeedBatch, FeedEvent, type FeedEventType, Subscription, TOPIC_OF } from "../../src/feed/protocol.js";
import { requestKind } from "../../src/feed/request-kind.js";
import { InternalRaftRequest } from "../../src/gen/etcdserverpb/raft_internal.js";

const at = 1_700_000_000_000;
const member = "8e9e05c52164694d";
const kv = { key: "k", value: { base64: "AP8=" }, createRevision: 2, modRevision: 3, version: 2, lease: "0" };

/** One example of every event type; a type missing here fails the completeness check below. */
const examples: { [K in FeedEventType]: Extract<FeedEvent, { type: K }> } = {
  "raft.state": {
    type: "raft.state",
    at,
    member,
    role: "leader",
    term: 2,
    leader: member,
    commitIndex: 9,
    appliedIndex: 9,
  },
  "raft.leader": { type: "raft.leader", at, member, leader: member, previous: "0", term: 2 },
  "raft.ready": {
    type: "raft.ready",
    at,
    member,
    windowMs: 100,
    batches: 3,
    entries: 3,
    committedEntries: 3,
    messages: 0,
    snapshots: 0,
    persistMsTotal: 1.5,
    persistMsMax: 0.7,
    term: 2,
    commit: 9,
  },
  apply: {
    type: "apply",
    at,
    member,
    index: 9,
    term: 2,
    kind: "put",
    revision: 4,
    durationMs: 0.2,
    batchEntries: 1,
    skipped: 0,
  },
  "apply.slow": { type: "apply.slow", at, member, index: 9, entries: 1, durationMs: 150, expectedMs: 100 },
  kv: {
    type: "kv",
    at,
    member,
    revision: 3,
    kind: "put",
    ...kv,
    prev: { ...kv, value: "old", modRevision: 2, version: 1 },
  },
  "kv.snapshot": { type: "kv.snapshot", at, member, range: 0, revision: 3, kvs: [kv], more: false },
  lease: { type: "lease", at, member, action: "grant", id: "694d", ttl: 60, remainingTtl: 60 },
  "lease.list": {
    type: "lease.list",
    at,
    member,
    leases: [{ id: "694d", ttl: 60, remainingTtl: 42, keys: 1 }],
  },
  members: {
    type: "members",
    at,
    member,
    clusterId: "cdf818194e3a8c32",
    members: [
      { id: member, name: "n1", peerUrls: ["http://127.0.0.1:2380"], clientUrls: [], isLearner: false },
    ],
  },
  "member.change": {
    type: "member.change",
    at,
    member,
    action: "promote",
    id: "2",
    name: "n2",
    peerUrls: ["http://127.0.0.1:3380"],
    isLearner: false,
    index: 12,
  },
  peers: {
    type: "peers",
    at,
    member,
    leader: member,
    peers: [
      { id: member, name: "n1", match: 9, next: 10, state: "replicate", connected: true, rttMs: 0 },
      { id: "2", name: "n2", match: 7, next: 8, state: "probe", connected: false, rttMs: null },
    ],
  },
  snapshot: { type: "snapshot", at, member, index: 10_000, term: 2 },
  compaction: { type: "compaction", at, member, revision: 3, physical: false, index: 11 },
  alarm: { type: "alarm", at, member, action: "activate", memberId: member, alarm: "NOSPACE" },
  "alarm.list": { type: "alarm.list", at, member, alarms: [{ memberId: member, alarm: "NOSPACE" }] },
  metrics: {
    type: "metrics",
    at,
    member,
    windowMs: 1000,
    putsPerSec: 10,
    deletesPerSec: 0,
    readsPerSec: 3,
    appliesPerSec: 10,
    applyMsMax: 1,
    applyMsMean: 0.5,
    walFsyncMsP99: null,
    dbSize: 4096,
    dbSizeInUse: 2048,
    revision: 4,
    keys: 3,
    leases: 1,
    feedClients: 2,
  },
};

test("every event type round-trips through JSON and its codec, and each belongs to a topic", () => {
  assert.deepEqual(Object.keys(examples).sort(), Object.keys(TOPIC_OF).sort());
  for (const e of Object.values(examples)) {
    const decoded = FeedEvent.decode(JSON.parse(JSON.stringify(e)));
    assert.ok(isRight(decoded), `${e.type} decodes`);
    assert.deepEqual(decoded.right, e);
  }
  const batch = FeedBatch.decode(
    JSON.parse(JSON.stringify({ initial: true, events: Object.values(examples) })),
  );
  assert.ok(isRight(batch));
});

test("codecs refuse malformed events: a wrong field type, a missing field, an unknown type", () => {
  assert.ok(isLeft(FeedEvent.decode({ ...examples["raft.state"], term: "2" })));
  const { leader: _leader, ...noLeader } = examples["raft.state"];
  assert.ok(isLeft(FeedEvent.decode(noLeader)));
  assert.ok(isLeft(FeedEvent.decode({ ...examples.snapshot, type: "snapshots" })));
  assert.ok(isLeft(FeedEvent.decode({ ...examples["raft.state"], role: "king" })));
  assert.ok(isLeft(Subscription.decode({ topics: ["raft", "gossip"] })));
  assert.ok(isRight(Subscription.decode({ topics: [], keys: [{ key: "a/", prefix: true, prevKv: true }] })));
});

test("bytes: text when valid UTF-8, base64 otherwise", () => {
  assert.equal(toBytes(Buffer.from("héllo")), "héllo");
  assert.deepEqual(toBytes(Buffer.from([0xff, 0x00])), { base64: "/wA=" });
  assert.equal(toBytes(Buffer.alloc(0)), "");
});

test("key ranges follow etcd: one key, [key, end), prefixes, every key", () => {
  const r = (x: Parameters<typeof toByteRange>[0]) => {
    const b = toByteRange(x);
    if ("error" in b) throw new Error(b.error);
    return b;
  };
  const one = r({ key: "a" });
  assert.ok(inByteRange(Buffer.from("a"), one) && !inByteRange(Buffer.from("ab"), one));
  const pre = r({ key: "a/", prefix: true });
  assert.ok(
    inByteRange(Buffer.from("a/x"), pre) &&
      !inByteRange(Buffer.from("a0"), pre) &&
      !inByteRange(Buffer.from("a"), pre),
  );
  const all = r({ key: "", prefix: true });
  assert.ok(inByteRange(Buffer.from("zzz"), all) && inByteRange(Buffer.from([0xff]), all));
  const from = r({ key: "m", rangeEnd: "\0" });
  assert.ok(inByteRange(Buffer.from("z"), from) && !inByteRange(Buffer.from("a"), from));
  assert.deepEqual(prefixEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
  assert.deepEqual(toByteRange({ key: "b", rangeEnd: "a" }), { error: "rangeEnd must sort after key" });
  assert.deepEqual(toByteRange({ key: "" }), { error: "an empty key needs prefix or rangeEnd" });
});

test("request kinds are read from the request's field numbers without decoding it", () => {
  const enc = (r: Partial<InternalRaftRequest>) =>
    Buffer.from(
      InternalRaftRequest.encode(InternalRaftRequest.fromPartial({ header: { ID: 7n }, ...r })).finish(),
    );
  assert.equal(requestKind(enc({ put: { key: Buffer.from("k"), value: Buffer.from("v") } as never })), "put");
  assert.equal(requestKind(enc({ txn: { compare: [], success: [], failure: [] } })), "txn");
  assert.equal(requestKind(enc({ leaseGrant: { TTL: 5, ID: 1n } })), "leaseGrant");
  assert.equal(requestKind(enc({ compaction: { revision: 3, physical: false } })), "compaction");
  assert.equal(requestKind(Buffer.alloc(0)), "empty");
  assert.equal(requestKind(Buffer.from([0xff])), "unknown");
});
