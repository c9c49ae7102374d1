// netutil.URLStringsEqual as etcd 3.4.23 has it: text first, then host names resolved (never
// "localhost" or an IP), retried until one deadline; and a joining member matched through it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RaftCluster } from "../../src/membership/cluster.js";
import { type HostResolver, resolveWithDns, urlStringsEqual } from "../../src/membership/url-equality.js";

/** A resolver over a fixed table that records what it was asked. */
function table(entries: Record<string, string>): HostResolver & { asked: string[] } {
  const asked: string[] = [];
  const resolve = async (h: string) => {
    asked.push(h);
    const a = entries[h];
    if (a === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${h}`), { code: "ENOTFOUND" });
    return a;
  };
  return Object.assign(resolve, { asked });
}

test("equal text needs no resolving, in any order", async () => {
  const resolve = table({});
  const r = await urlStringsEqual(
    ["http://b.example:2380", "http://a.example:2380"],
    ["http://a.example:2380", "http://b.example:2380"],
    { resolve },
  );
  assert.deepEqual(r, { equal: true });
  assert.deepEqual(resolve.asked, []);
});

test("host names that resolve to the same addresses are equal", async () => {
  const resolve = table({ "node-a.example": "10.0.0.1", "node-b.example": "10.0.0.2" });
  assert.deepEqual(
    await urlStringsEqual(
      ["http://node-a.example:2380", "http://10.0.0.2:2380"],
      ["http://10.0.0.1:2380", "http://node-b.example:2380"],
      { resolve },
    ),
    { equal: true },
  );
  assert.deepEqual(
    resolve.asked.sort(),
    ["node-a.example", "node-b.example"],
    "IP addresses are not looked up",
  );
});

test("localhost is left as written, as etcd 3.4 leaves it: localhost and 127.0.0.1 differ", async () => {
  const resolve = table({ localhost: "127.0.0.1" });
  assert.deepEqual(await urlStringsEqual(["http://localhost:2380"], ["http://127.0.0.1:2380"], { resolve }), {
    equal: false,
    why: 'resolved urls: "http://localhost:2380" != "http://127.0.0.1:2380"',
  });
  assert.deepEqual(resolve.asked, []);
});

test("different addresses, ports or lengths are told apart in etcd's words", async () => {
  const resolve = table({ "node-a.example": "10.0.0.1", "v6.example": "fd00::1" });
  assert.deepEqual(
    await urlStringsEqual(["http://node-a.example:2380"], ["http://10.0.0.9:2380"], { resolve }),
    {
      equal: false,
      why: 'resolved urls: "http://10.0.0.1:2380" != "http://10.0.0.9:2380"',
    },
  );
  assert.deepEqual(
    await urlStringsEqual(["http://node-a.example:2380"], ["http://10.0.0.1:2381"], { resolve }),
    {
      equal: false,
      why: 'resolved urls: "http://10.0.0.1:2380" != "http://10.0.0.1:2381"',
    },
  );
  assert.deepEqual(
    await urlStringsEqual(["http://v6.example:2380"], ["http://[fd00::1]:2380"], { resolve }),
    {
      equal: true,
    },
  );
  assert.deepEqual(await urlStringsEqual(["http://a:1"], ["http://a:1", "http://b:1"], { resolve }), {
    equal: false,
    why: 'len(["http://a:1"]) != len(["http://a:1" "http://b:1"])',
  });
});

test("a name that does not resolve is tried again until the deadline, then named", async () => {
  const resolve = table({});
  const started = Date.now();
  const r = await urlStringsEqual(["http://nosuch.example:2380"], ["http://10.0.0.1:2380"], {
    resolve,
    deadlineAt: started + 200,
    retryMs: 40,
  });
  assert.deepEqual(r, {
    equal: false,
    why: 'failed to resolve "http://nosuch.example:2380" (lookup nosuch.example: no such host)',
  });
  assert.ok(resolve.asked.length >= 2, `tried ${resolve.asked.length} times`);
  // past the deadline nothing is tried any more
  const late = table({ "node-a.example": "10.0.0.1" });
  const r2 = await urlStringsEqual(["http://node-a.example:2380"], ["http://10.0.0.1:2380"], {
    resolve: late,
    deadlineAt: Date.now() - 1,
  });
  assert.equal(r2.equal, false);
  assert.deepEqual(late.asked, []);
});

test("the system resolver answers localhost with a loopback address", async () => {
  assert.match(await resolveWithDns("localhost"), /^(127\.|::1$)/);
});

test("a joining member whose --initial-cluster names hosts matches the cluster's addresses", async () => {
  const remote = {
    clusterId: 0xabcdefn,
    members: [
      { id: 0x10n, peerURLs: ["http://10.0.0.1:2380"], name: "a", clientURLs: ["http://10.0.0.1:2379"] },
      { id: 0x20n, peerURLs: ["http://10.0.0.2:2380"], name: "b", clientURLs: ["http://10.0.0.2:2379"] },
    ],
  };
  const initial = new Map([
    ["a", ["http://node-a.example:2380"]],
    ["b", ["http://node-b.example:2380"]],
  ]);
  const resolve = table({ "node-a.example": "10.0.0.1", "node-b.example": "10.0.0.2" });
  const c = await RaftCluster.forJoin("b", initial, "tok", remote, { resolve });
  assert.equal(c.localId, 0x20n);
  assert.deepEqual(
    c.list().map((m) => [m.id, m.peerUrls[0]]),
    [
      [0x10n, "http://node-a.example:2380"],
      [0x20n, "http://node-b.example:2380"],
    ],
    "the member keeps its --initial-cluster URLs under the cluster's ids",
  );
  const wrong = table({ "node-a.example": "10.0.0.1", "node-b.example": "10.0.0.3" });
  await assert.rejects(
    () => RaftCluster.forJoin("b", initial, "tok", remote, { resolve: wrong }),
    // the last comparison made is the one reported (local members in id order, as etcd)
    /PeerURLs: no match found for existing member \(20, \[http:\/\/10\.0\.0\.2:2380\]\), last resolver error \(resolved urls: "http:\/\/10\.0\.0\.2:2380" != "http:\/\/10\.0\.0\.[13]:2380"\)/,
  );
});
