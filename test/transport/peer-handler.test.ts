// The peer port's answers, request by request, against etcd 3.4.23's status codes, bodies and
// headers; and the one-shot peer client calls against a Transport's handler.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import { LeaseKeepAliveResponse } from "../../src/gen/etcdserverpb/rpc.js";
import { MessageType } from "../../src/gen/raftpb/raft.js";
import { Errors } from "../../src/rpctypes/errors.js";
import {
  fetchHashKV,
  fetchMembers,
  fetchVersion,
  forwardLeaseRenew,
  forwardLeaseTimeToLive,
  forwardPromote,
} from "../../src/transport/peer-client.js";
import { decodeHashKVRequest, encodeHashKVResponse } from "../../src/transport/peer-handler.js";
import { encodeMessage } from "../../src/transport/raft-wire.js";
import { PeerServiceError } from "../../src/transport/transport.js";
import { closeAll, msg, type Node, startNode, waitFor } from "./helpers.js";

const CLUSTER = 0x512bcc7be0b351a4n;
const A = 0x5a9ff2fd570cac50n;
const B = 0x9f4776933e3fb72an;
const STRANGER = 0xfeedn;

let a: Node;
before(async () => {
  a = await startNode(A, CLUSTER);
  a.transport.addPeer(B, ["http://127.0.0.1:1"]);
  a.services.memberList = [
    { id: B, peerURLs: ["http://127.0.0.1:1"], name: "b", clientURLs: ["http://127.0.0.1:2"] },
    { id: A, peerURLs: [a.url], name: "a", clientURLs: ["http://127.0.0.1:3"] },
  ];
});
after(closeAll);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  raw: Buffer;
}

function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const length: Record<string, string> = body ? { "Content-Length": String(body.length) } : {};
    const req = request(`${a.url}${path}`, { method, headers: { ...headers, ...length } });
    req.on("error", reject);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      // streams answer 200 and never end: take what arrived with the headers
      if (res.statusCode === 200 && path.startsWith("/raft/stream/")) {
        resolve({ status: 200, headers: res.headers, body: "", raw: Buffer.alloc(0) });
        res.destroy();
        return;
      }
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString("utf8"), raw });
      });
    });
    req.end(body);
  });
}

const good = (from: bigint) => ({
  "X-Server-From": from.toString(16),
  "X-Server-Version": "3.4.23",
  "X-Min-Cluster-Version": "3.0.0",
  "X-Etcd-Cluster-ID": CLUSTER.toString(16),
  "X-Raft-To": A.toString(16),
});

test("pipeline: 412 for missing versions and a foreign cluster, with the cluster id header", async () => {
  const body = encodeMessage(msg({ type: MessageType.MsgHeartbeat, to: A, from: B }));
  let r = await call("POST", "/raft", {}, body);
  assert.equal(r.status, 412);
  assert.equal(r.body, "incompatible version\n");
  assert.equal(r.headers["x-etcd-cluster-id"], CLUSTER.toString(16));
  assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
  r = await call("POST", "/raft", { ...good(B), "X-Etcd-Cluster-ID": "1234" }, body);
  assert.equal(r.status, 412);
  assert.equal(r.body, "cluster ID mismatch\n");
  r = await call("POST", "/raft", { ...good(B), "X-Min-Cluster-Version": "3.5.0" }, body);
  assert.equal(r.body, "incompatible version\n");
});

test("pipeline: 204 delivers, 400 for garbage, 405 with Allow: POST", async () => {
  const before = a.received.length;
  let r = await call(
    "POST",
    "/raft",
    good(B),
    encodeMessage(msg({ type: MessageType.MsgHeartbeat, to: A, from: B, term: 7 })),
  );
  assert.equal(r.status, 204);
  await waitFor("delivery", () => a.received.length === before + 1);
  assert.equal(a.received.at(-1)?.term, 7);
  r = await call("POST", "/raft", good(B), Buffer.from([0xff, 0xff, 0xff]));
  assert.equal(r.status, 400);
  assert.equal(r.body, "error unmarshalling raft message\n");
  r = await call("GET", "/raft", good(B));
  assert.equal(r.status, 405);
  assert.equal(r.headers.allow, "POST");
});

test("stream: 200 with X-Server-Version and the cluster id; 404/410/412 as etcd answers", async () => {
  let r = await call("GET", `/raft/stream/message/${B.toString(16)}`, good(B));
  assert.equal(r.status, 200);
  assert.equal(r.headers["x-server-version"], "3.4.23");
  assert.equal(r.headers["x-etcd-cluster-id"], CLUSTER.toString(16));

  r = await call("GET", `/raft/stream/msgappv2/${B.toString(16)}`, good(B));
  assert.deepEqual([r.status, r.body], [404, "invalid path\n"]);
  r = await call("GET", "/raft/stream/message/xyz", good(B));
  assert.deepEqual([r.status, r.body], [404, "invalid from\n"]);
  r = await call("GET", `/raft/stream/message/${B.toString(16)}`, {
    ...good(B),
    "X-Raft-To": "05a9ff2fd570cac50",
  });
  assert.deepEqual([r.status, r.body], [412, "to field mismatch\n"]);
  r = await call("GET", `/raft/stream/message/${B.toString(16)}`, { ...good(B), "X-Etcd-Cluster-ID": "1" });
  assert.deepEqual([r.status, r.body], [412, "cluster ID mismatch\n"]);
  assert.equal(r.headers["x-server-version"], "3.4.23");
  r = await call("POST", `/raft/stream/message/${B.toString(16)}`, good(B));
  assert.deepEqual([r.status, r.headers.allow], [405, "GET"]);

  a.services.removed.add(0xdeadn);
  r = await call("GET", "/raft/stream/msgapp/dead", good(0xdeadn));
  assert.deepEqual([r.status, r.body], [410, "removed member\n"]);
});

test("stream: an unknown sender gets 404 and becomes a remote from its X-PeerURLs", async () => {
  assert.equal(a.transport.peerUrls(STRANGER), undefined);
  const r = await call("GET", `/raft/stream/message/${STRANGER.toString(16)}`, {
    ...good(STRANGER),
    "X-PeerURLs": "http://127.0.0.1:9,http://127.0.0.1:10",
  });
  assert.deepEqual([r.status, r.body], [404, "error sender not found\n"]);
  assert.deepEqual(a.transport.peerUrls(STRANGER), ["http://127.0.0.1:9", "http://127.0.0.1:10"]);
});

test("snapshot: 400 for a body that is not a MsgSnap or is cut short", async () => {
  const frame = (m: Buffer) => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64BE(BigInt(m.length));
    return Buffer.concat([len, m]);
  };
  let r = await call(
    "POST",
    "/raft/snapshot",
    good(B),
    frame(encodeMessage(msg({ type: MessageType.MsgApp, to: A, from: B }))),
  );
  assert.deepEqual([r.status, r.body], [400, "wrong raft message type\n"]);
  r = await call("POST", "/raft/snapshot", good(B), Buffer.from([0, 0, 0]));
  assert.deepEqual([r.status, r.body], [400, "failed to decode raft message (unexpected EOF)\n"]);
  r = await call("GET", "/raft/snapshot", good(B));
  assert.deepEqual([r.status, r.headers.allow], [405, "POST"]);
});

test("probing, version, members and unknown paths", async () => {
  let r = await call("GET", "/raft/probing");
  assert.equal(r.status, 200);
  const health = JSON.parse(r.body) as { OK: boolean; Now: string };
  assert.equal(health.OK, true);
  assert.ok(Math.abs(Date.parse(health.Now) - Date.now()) < 60_000);
  assert.ok(r.body.endsWith("\n"));

  r = await call("GET", "/version");
  assert.deepEqual([r.status, r.body], [200, '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}']);

  r = await call("GET", "/members");
  assert.equal(r.status, 200);
  assert.equal(r.headers["x-etcd-cluster-id"], CLUSTER.toString(16));
  assert.equal(r.headers["content-type"], "application/json");
  // sorted by id, decimal ids, a trailing newline
  assert.equal(
    r.body,
    `[{"id":${A},"peerURLs":["${a.url}"],"name":"a","clientURLs":["http://127.0.0.1:3"]},` +
      `{"id":${B},"peerURLs":["http://127.0.0.1:1"],"name":"b","clientURLs":["http://127.0.0.1:2"]}]\n`,
  );
  r = await call("POST", "/members");
  assert.deepEqual([r.status, r.headers.allow], [405, "GET"]);
  r = await call("GET", "/nothing-here");
  assert.deepEqual([r.status, r.body], [404, "404 page not found\n"]);
});

test("leases: renew, not found, not primary, 408 while catching up, 405", async () => {
  a.services.leases.set(42n, { ttl: 7, granted: 10, keys: [Buffer.from("k1")] });
  const body = Buffer.from([0x08, 42]);
  let r = await call("POST", "/leases", {}, body);
  assert.equal(r.status, 200);
  assert.equal(r.headers["content-type"], "application/protobuf");
  assert.deepEqual(LeaseKeepAliveResponse.decode(r.raw), { header: undefined, ID: 42n, TTL: 10 });
  r = await call("POST", "/leases", {}, Buffer.from([0x08, 43]));
  assert.deepEqual([r.status, r.body], [404, "lease not found\n"]);
  a.services.primary = false;
  r = await call("POST", "/leases", {}, body);
  assert.deepEqual([r.status, r.body], [400, "not a primary lessor\n"]);
  a.services.primary = true;
  a.services.caughtUp = false;
  r = await call("POST", "/leases/internal", {}, Buffer.from([0x0a, 0x02, 0x08, 42]));
  assert.deepEqual(
    [r.status, r.body],
    [408, "waiting for node to catch up its applied index has timed out\n"],
  );
  a.services.caughtUp = true;
  r = await call("GET", "/leases");
  assert.deepEqual([r.status, r.body, r.headers.allow], [405, "Method Not Allowed\n", undefined]);
  r = await call("POST", "/leases", {}, Buffer.from([0xff]));
  assert.deepEqual([r.status, r.body], [400, "error unmarshalling request\n"]);
});

test("peer client: lease forwarding decodes answers and maps lease not found", async () => {
  assert.equal(await forwardLeaseRenew([a.url], 42n, 2000), 10);
  await assert.rejects(forwardLeaseRenew([a.url], 43n, 2000), (e) => e === Errors.LeaseNotFound);
  const ttl = await forwardLeaseTimeToLive([a.url], 42n, true, 2000);
  assert.deepEqual(ttl, { ttl: 7, grantedTtl: 10, keys: [Buffer.from("k1")] });
  const noKeys = await forwardLeaseTimeToLive([a.url], 42n, false, 2000);
  assert.deepEqual(noKeys.keys, []);
  await assert.rejects(forwardLeaseTimeToLive([a.url], 43n, false, 2000), (e) => e === Errors.LeaseNotFound);
  // a member that is not the primary lessor answers 400: retried until the request timeout
  a.services.primary = false;
  await assert.rejects(
    forwardLeaseRenew([a.url], 42n, 300),
    (e: Error) => e.message === Errors.Timeout.message,
  );
  a.services.primary = true;
  // an unreachable URL first, then the leader: the second one answers
  assert.equal(await forwardLeaseRenew(["http://127.0.0.1:1", a.url], 42n, 2000), 10);
});

test("peer client: promotion forwarding and its definitive errors", async () => {
  a.services.promote = async (id) => {
    if (id === 1n) throw new PeerServiceError(404, "membership: ID not found");
    if (id === 2n) throw new PeerServiceError(412, "membership: can only promote a learner member");
    if (id === 3n)
      throw new PeerServiceError(
        412,
        "etcdserver: can only promote a learner member which is in sync with leader",
      );
    if (id === 4n) throw new Error("boom");
    return a.services.memberList;
  };
  const members = await forwardPromote([a.url], B, 2000);
  assert.deepEqual(
    members.map((m) => m.id),
    [A, B],
  );
  await assert.rejects(forwardPromote([a.url], 1n, 2000), (e) => e === Errors.MemberNotFound);
  await assert.rejects(forwardPromote([a.url], 2n, 2000), (e) => e === Errors.MemberNotLearner);
  await assert.rejects(forwardPromote([a.url], 3n, 2000), (e) => e === Errors.LearnerNotReady);
  const r = await call("POST", "/members/promote/4");
  assert.deepEqual([r.status, r.body], [500, '{"message":"Internal Server Error"}']);
  const bad = await call("POST", "/members/promote/abc");
  assert.deepEqual([bad.status, bad.body], [404, "member abc not found in cluster\n"]);
});

test("peer client: members, version and hashkv", async () => {
  const got = await fetchMembers(["http://127.0.0.1:1", a.url], 2000);
  assert.ok(got);
  assert.equal(got.clusterId, CLUSTER);
  assert.deepEqual(
    got.members.map((m) => m.id),
    [A, B],
  );
  assert.equal(await fetchMembers(["http://127.0.0.1:1"], 500), undefined);
  assert.deepEqual(await fetchVersion(a.url, 2000), { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
  assert.equal(await fetchVersion("http://127.0.0.1:1", 500), undefined);
  assert.deepEqual(await fetchHashKV(a.url, 5, 2000), { revision: 6, hash: 2966679853, compactRevision: -1 });
  assert.equal(await fetchHashKV(a.url, 99, 2000), undefined, "future revision: no answer");
  const r = await call("GET", "/members/hashkv", {}, Buffer.from('{"revision":6}'));
  assert.equal(r.body, '{"header":{"revision":6},"hash":2966679853,"compact_revision":-1}');
  assert.equal(r.headers["x-etcd-cluster-id"], CLUSTER.toString(16));
  const empty = await call("GET", "/members/hashkv");
  assert.deepEqual([empty.status, empty.body], [400, "error unmarshalling request\n"]);
});

test("hashkv JSON as Go writes and reads it", () => {
  assert.equal(decodeHashKVRequest(Buffer.from("{}")), 0);
  assert.equal(decodeHashKVRequest(Buffer.from('{"revision":12,"x":1}')), 12);
  assert.equal(decodeHashKVRequest(Buffer.from('{"revision":"12"}')), undefined);
  assert.equal(decodeHashKVRequest(Buffer.from("")), undefined);
  assert.equal(encodeHashKVResponse({ revision: 0, hash: 0, compactRevision: 0 }), '{"header":{}}');
});
