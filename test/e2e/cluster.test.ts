// Three-member clusters of real processes on loopback, driven by Debian's etcdctl and the etcd3 client:
// election, replication, linearizable reads on every member, and a leader killed under write load.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, describe } from "node:test";
import { fileURLToPath } from "node:url";
import { Etcd3 } from "etcd3";
import { hashes } from "./cluster-checks.js";
import { Cluster, endpointStatus } from "./cluster-harness.js";
import { cappedWatchBackoff, destroyAllMembers, e2eTest, eventually, type Member, sleep } from "./harness.js";

interface MemberListJson {
  members: Array<{ ID: number | string; name: string; peerURLs: string[]; clientURLs?: string[] }>;
}

describe("a three-member cluster", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  after(destroyAllMembers);

  e2eTest("three members elect one leader and list three started members", { timeout: 90_000 }, async () => {
    cluster = await Cluster.start({ size: 3 });
    const leader = await cluster.leader();
    assert.ok(cluster.members.includes(leader));
    const r = await cluster.members[0].etcdctl(["member", "list", "-w", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as MemberListJson;
    assert.deepEqual(list.members.map((m) => m.name).sort(), ["m1", "m2", "m3"]);
    for (const m of cluster.members) {
      const entry = list.members.find((x) => x.name === m.name);
      assert.deepEqual(entry?.peerURLs, [m.peerUrl]);
      assert.deepEqual(entry?.clientURLs, [m.clientUrl], `${m.name} published its client URL`);
    }
    const table = await cluster.members[1].etcdctl(["member", "list"]);
    assert.equal(table.stdout.trim().split("\n").length, 3);
    assert.match(table.stdout, /started/);
  });

  e2eTest("a write through a follower is read linearizably on every member", {}, async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader) as Member;
    const put = await follower.etcdctl(["put", "through-follower", "v1"]);
    assert.equal(put.code, 0, put.stderr);
    for (const m of cluster.members) {
      const r = await m.etcdctl(["get", "through-follower", "--print-value-only"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "v1", `linearizable read on ${m.name}`);
    }
    // every member reports the same revision in its answers once it applied the write
    const revs = await Promise.all(
      cluster.members.map(async (m) => {
        const r = await m.etcdctl(["get", "through-follower", "-w", "json"]);
        return (JSON.parse(r.stdout) as { header: { revision: number } }).header.revision;
      }),
    );
    assert.equal(new Set(revs).size, 1, `revisions ${revs}`);
  });

  e2eTest("etcdctl reaches every member through --cluster", {}, async () => {
    const health = await cluster.members[0].etcdctl(["endpoint", "health", "--cluster"]);
    assert.equal(health.code, 0, health.stderr);
    assert.equal(health.stdout.match(/is healthy/g)?.length ?? health.stderr.match(/is healthy/g)?.length, 3);
    const status = await cluster.members[0].etcdctl(["endpoint", "status", "--cluster", "-w", "json"]);
    assert.equal(status.code, 0, status.stderr);
    const text = status.stdout.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"');
    const rows = JSON.parse(text) as Array<{ Status: { header: { member_id: string }; leader: string } }>;
    assert.equal(rows.length, 3);
    assert.equal(new Set(rows.map((r) => r.Status.leader)).size, 1, "one leader for all");
    assert.equal(rows.filter((r) => r.Status.header.member_id === r.Status.leader).length, 1);
  });

  e2eTest("a lease used through a follower is kept alive and timed by the leader", {}, async () => {
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader) as Member;
    const grant = await follower.etcdctl(["lease", "grant", "30"]);
    assert.equal(grant.code, 0, grant.stderr);
    const id = /lease ([0-9a-f]+) granted/.exec(grant.stdout)?.[1];
    assert.ok(id, grant.stdout);
    assert.equal((await follower.etcdctl(["put", "leased", "v", `--lease=${id}`])).code, 0);
    const ka = await follower.etcdctl(["lease", "keep-alive", "--once", id]);
    assert.equal(ka.code, 0, ka.stderr);
    assert.match(ka.stdout, new RegExp(`lease ${id} keepalived with TTL\\((\\d+)\\)`));
    const ttl = await follower.etcdctl(["lease", "timetolive", id, "--keys"]);
    assert.equal(ttl.code, 0, ttl.stderr);
    assert.match(ttl.stdout, /granted with TTL\(30s\), remaining\(\d+s\), attached keys\(\[leased\]\)/);
    const unknown = await follower.etcdctl(["lease", "timetolive", "1234abcd"]);
    assert.match(unknown.stdout, /lease 0*1234abcd already expired/);
    assert.equal((await follower.etcdctl(["lease", "revoke", id])).code, 0);
    const gone = await leader.etcdctl(["get", "leased", "-w", "json"]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(
      (JSON.parse(gone.stdout) as { count?: number }).count ?? 0,
      0,
      "the key went with its lease",
    );
  });

  e2eTest(
    "the leader killed under write load: a new leader, no acknowledged write lost, the old one catches up",
    { timeout: 150_000 },
    async () => {
      const oldLeader = await cluster.leader();
      const client = new Etcd3({
        hosts: cluster.members.map((m) => m.clientUrl),
        faultHandling: { watchBackoff: cappedWatchBackoff() },
        dialTimeout: 3000,
        defaultCallOptions: () => ({ deadline: Date.now() + 5000 }),
      });
      const acked = new Map<string, string>();
      let stop = false;
      let n = 0;
      const writer = async (w: number) => {
        while (!stop) {
          const key = `load/${w}/${n++}`;
          try {
            await client.put(key).value(key);
            acked.set(key, key);
          } catch {
            await sleep(50);
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      try {
        await eventually("writes before the kill", async () => (acked.size >= 50 ? true : undefined), 30_000);
        const killedAt = Date.now();
        await oldLeader.kill();
        const newLeader = await cluster.leader(30_000);
        assert.notEqual(newLeader, oldLeader);
        const before = acked.size;
        await eventually(
          "writes after the new leader",
          async () => (acked.size >= before + 50 ? true : undefined),
          30_000,
        );
        console.log(`new leader ${newLeader.name} in ${Date.now() - killedAt} ms after the kill`);
      } finally {
        stop = true;
        await Promise.all(writers);
        client.close();
      }
      const survivors = cluster.members.filter((m) => m.running);
      for (const m of survivors) {
        const got = new Map<string, string>();
        const r = await m.etcdctl(["get", "load/", "--prefix"], { timeoutMs: 30_000 });
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.split("\n");
        for (let i = 0; i + 1 < lines.length; i += 2) got.set(lines[i], lines[i + 1]);
        const lost = [...acked.keys()].filter((k) => got.get(k) !== k);
        assert.deepEqual(lost, [], `${m.name} lost acknowledged writes`);
      }
      await oldLeader.restart();
      await eventually(
        "equal HashKV on all three members",
        async () => {
          const hs = await hashes(cluster.members);
          const same = hs.every((h) => h.revision === hs[0].revision && h.hash === hs[0].hash);
          return same ? hs : undefined;
        },
        60_000,
      );
      const st = await endpointStatus(oldLeader);
      assert.ok(st && st.leader !== "0", "the restarted member knows the leader");
    },
  );
});

describe("a partitioned member", { timeout: 240_000 }, () => {
  let cluster: Cluster;
  after(async () => {
    await cluster?.closeProxies();
    await destroyAllMembers();
  });

  e2eTest(
    "the majority keeps committing, the minority's linearizable read fails with etcd's timeout, and it catches up after healing",
    { timeout: 200_000 },
    async () => {
      cluster = await Cluster.start({ size: 3, peerProxies: true });
      const leader = await cluster.leader();
      const minority = cluster.members.find((m) => m !== leader) as Member;
      const status = await endpointStatus(minority);
      assert.ok(status);
      const idHex = BigInt(status.memberId).toString(16);
      assert.equal((await leader.etcdctl(["put", "part", "before"])).code, 0);
      await eventually("the minority applied the first write", async () => {
        const r = await minority.etcdctl(["get", "part", "--print-value-only", "--consistency=s"]);
        return r.stdout.trim() === "before" ? true : undefined;
      });

      cluster.partition(minority, idHex);
      const majority = cluster.members.filter((m) => m !== minority);
      // the majority commits (a new leader among them if the minority led)
      await eventually(
        "a write on the majority",
        async () => ((await majority[0].etcdctl(["put", "part", "during"])).code === 0 ? true : undefined),
        30_000,
      );
      for (const m of majority) {
        const r = await m.etcdctl(["get", "part", "--print-value-only"]);
        assert.equal(r.stdout.trim(), "during", `${m.name} reads the majority's write`);
      }
      // the minority must not answer a linearizable read with what it has
      const read = await minority.etcdctl(["get", "part", "--print-value-only", "--command-timeout=20s"], {
        timeoutMs: 30_000,
      });
      assert.notEqual(read.code, 0, `stale linearizable read answered: ${read.stdout}`);
      assert.match(read.stderr, /etcdserver: request timed out/);
      const stale = await minority.etcdctl(["get", "part", "--print-value-only", "--consistency=s"]);
      assert.equal(stale.stdout.trim(), "before", "a serializable read shows the minority's own state");

      cluster.heal();
      await eventually(
        "the healed member reads the majority's write",
        async () => {
          const r = await minority.etcdctl(["get", "part", "--print-value-only"]);
          return r.code === 0 && r.stdout.trim() === "during" ? true : undefined;
        },
        60_000,
      );
    },
  );
});

describe("a cluster with TLS between its members", { timeout: 180_000 }, () => {
  after(destroyAllMembers);

  e2eTest(
    "members talk over https with the peer certificate and refuse plain peers",
    { timeout: 150_000 },
    async () => {
      const fixtures = fileURLToPath(new URL("../transport/fixtures/", import.meta.url));
      const cert = `${fixtures}peer-cert.pem`;
      const key = `${fixtures}peer-key.pem`;
      const tls = await Cluster.start({
        size: 3,
        peerScheme: "https",
        extraArgs: ["--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", cert],
      });
      const leader = await tls.leader();
      assert.equal((await leader.etcdctl(["put", "over-tls", "yes"])).code, 0);
      for (const m of tls.members) {
        const r = await m.etcdctl(["get", "over-tls", "--print-value-only"]);
        assert.equal(r.stdout.trim(), "yes", m.name);
      }
      // a plaintext request on a TLS peer port gets no raft answer
      const plain = await fetch(`http://127.0.0.1:${leader.peerPort}/members`).then(
        (res) => res.status,
        () => 0,
      );
      assert.notEqual(plain, 200);
      // a trusted CA makes the peer port require a client certificate, as etcd 3.4's does
      const viaTls = (withCert: boolean) =>
        import("node:https").then(
          (https) =>
            new Promise<number>((resolve) => {
              const options = {
                ca: readFileSync(cert),
                ...(withCert ? { cert: readFileSync(cert), key: readFileSync(key) } : {}),
              };
              https
                .get(`https://127.0.0.1:${leader.peerPort}/members`, options, (res) => {
                  res.resume();
                  resolve(res.statusCode ?? 0);
                })
                .on("error", () => resolve(0));
            }),
        );
      assert.equal(await viaTls(true), 200);
      assert.equal(await viaTls(false), 0, "a peer request without a client certificate was answered");
    },
  );
});
