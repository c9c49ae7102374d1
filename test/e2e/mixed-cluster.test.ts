// Clusters that mix Debian's etcd 3.4 and rxetcd members, as real processes on loopback: both shapes elect,
// replicate and read linearizably on every member, leadership moves either way, a killed leader of either kind
// is replaced with no acknowledged write lost, and the members' HashKV stay equal. etcd members must log no
// error about anything an rxetcd member sent.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { Client, credentials } from "@grpc/grpc-js";
import { assertHasAll, equalHashes, etcdErrorLines, hex, memberList, WriteLoad } from "./cluster-checks.js";
import { Cluster } from "./cluster-harness.js";
import {
  type Binary,
  type CtlResult,
  destroyAllMembers,
  e2eTest,
  eventually,
  type Member,
  needsDebianEtcd,
  sleep,
} from "./harness.js";
import { call, msg } from "./raw-grpc.js";

/** Each member's id (decimal, as etcdctl prints it), read from a member list. */
async function idsByName(c: Cluster): Promise<Map<string, string>> {
  const running = c.members.find((m) => m.running);
  assert.ok(running, "a running member");
  return new Map((await memberList(running)).map((m) => [m.name, m.ID]));
}

/** Moves leadership to `to` through the current leader and waits until every member agrees. */
async function moveLeader(c: Cluster, to: Member): Promise<void> {
  const ids = await idsByName(c);
  const from = await c.leader();
  if (from === to) return;
  const r = await from.etcdctl(["move-leader", hex(ids.get(to.name) ?? "0")], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, `${r.stderr}\n${from.logText()}`);
  assert.match(r.stdout, /Leadership transferred from [0-9a-f]+ to [0-9a-f]+/);
  assert.equal(await c.leader(), to, `${to.binary} ${to.name} leads after move-leader`);
}

/** Kills the leader (of the given kind, moved there first) under write load and checks nothing is lost. */
async function killLeaderUnderLoad(c: Cluster, kind: Binary): Promise<void> {
  const candidate = c.members.find((m) => m.binary === kind && m.running);
  assert.ok(candidate, `a running ${kind} member`);
  await moveLeader(c, candidate);
  const load = new WriteLoad(c.members.map((m) => m.clientUrl));
  try {
    await load.more(50);
    const killedAt = Date.now();
    await candidate.kill();
    const next = await c.leader(30_000);
    assert.notEqual(next, candidate);
    await load.more(50);
    console.log(
      `${kind} leader killed: ${next.binary} ${next.name} leads ${Date.now() - killedAt} ms later; ` +
        `longest gap between acknowledged writes ${load.longestGapMs} ms`,
    );
  } finally {
    await load.stop();
  }
  for (const m of c.members.filter((x) => x.running)) await assertHasAll(m, load);
  await candidate.restart();
  await eventually("equal HashKV on every member", () => equalHashes(c.members), 60_000);
  await assertHasAll(candidate, load);
}

function assertEtcdLoggedNoErrors(c: Cluster): void {
  for (const m of c.members.filter((x) => x.binary === "etcd")) {
    assert.deepEqual(etcdErrorLines(m).slice(0, 5), [], `etcd member ${m.name} logged errors`);
  }
}

for (const shape of [
  { binaries: ["etcd", "etcd", "rxetcd"] as Binary[], preVote: false },
  { binaries: ["etcd", "rxetcd", "rxetcd"] as Binary[], preVote: true },
]) {
  const title = `${shape.binaries.join(" + ")}${shape.preVote ? ", with --pre-vote" : ""}`;
  describe(`a mixed cluster: ${title}`, { timeout: 400_000 }, () => {
    let cluster: Cluster;
    after(destroyAllMembers);

    e2eTest(
      "elects one leader, lists three started members and reads every write linearizably everywhere",
      { timeout: 120_000 },
      async () => {
        assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
        cluster = await Cluster.start({
          binaries: shape.binaries,
          extraArgs: shape.preVote ? ["--pre-vote"] : [],
        });
        await cluster.leader();
        const listed = await memberList(cluster.members[0]);
        assert.deepEqual(listed.map((m) => m.name).sort(), ["m1", "m2", "m3"]);
        for (const m of listed)
          assert.equal(m.clientURLs?.length, 1, `${m.name} has published its client URL`);
        for (const writer of cluster.members) {
          const put = await writer.etcdctl(["put", `from/${writer.name}`, writer.binary]);
          assert.equal(put.code, 0, put.stderr);
          for (const reader of cluster.members) {
            const got = await reader.etcdctl(["get", `from/${writer.name}`, "--print-value-only"]);
            assert.equal(got.code, 0, got.stderr);
            assert.equal(got.stdout.trim(), writer.binary, `${reader.name} reads ${writer.name}'s write`);
          }
        }
        await eventually("equal HashKV on every member", () => equalHashes(cluster.members), 30_000);
        for (const m of cluster.members) {
          const v = await eventually(
            `${m.binary} ${m.name} reports the decided cluster version`,
            async () => {
              const body = (await m.http("/version")).json() as { etcdcluster: string };
              // the leader may first set 3.0.0 while it does not know every member's version yet, then 3.4.0
              return body.etcdcluster === "3.4.0" ? body : undefined;
            },
            30_000,
          );
          assert.deepEqual(v, { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
        }
      },
    );

    e2eTest(
      "user and role names that are not UTF-8 are applied alike by members of both kinds",
      { timeout: 60_000 },
      async () => {
        // "a\xffb" through one member, "a\u{fffd}b" through another: two users on every member (etcd
        // keeps the bytes), given back as sent, whoever proposed them
        const clients = cluster.members.map(
          (m) => new Client(`127.0.0.1:${m.clientPort}`, credentials.createInsecure()),
        );
        const AUTH = "/etcdserverpb.Auth/";
        const [first, , last] = clients;
        try {
          const steps: [Client, string, Buffer][] = [
            [first, "UserAdd", msg([1, Buffer.from("61ff62", "hex")], [2, "p"])],
            [last, "UserAdd", msg([1, Buffer.from("61efbfbd62", "hex")], [2, "q"])],
            [last, "RoleAdd", msg([1, Buffer.from("72ff", "hex")])],
            [first, "UserGrantRole", msg([1, Buffer.from("61ff62", "hex")], [2, Buffer.from("72ff", "hex")])],
          ];
          for (const [client, method, body] of steps)
            assert.equal((await call(client, `${AUTH}${method}`, body))[0], "ok ", method);
          for (const [i, client] of clients.entries()) {
            const name = `${cluster.members[i].binary} ${cluster.members[i].name}`;
            assert.equal(
              (await call(client, `${AUTH}UserList`, Buffer.alloc(0)))[0],
              "ok 120561efbfbd62120361ff62",
              name,
            );
            const got = await call(client, `${AUTH}UserGet`, msg([1, Buffer.from("61ff62", "hex")]));
            assert.equal(got[0], "ok 120272ff", name);
          }
          for (const [client, method, body] of [
            [first, "UserDelete", msg([1, Buffer.from("61ff62", "hex")])],
            [last, "UserDelete", msg([1, Buffer.from("61efbfbd62", "hex")])],
            [first, "RoleDelete", msg([1, Buffer.from("72ff", "hex")])],
          ] as const)
            assert.equal((await call(client, `${AUTH}${method}`, body))[0], "ok ", method);
          assert.equal((await call(last, `${AUTH}UserList`, Buffer.alloc(0)))[0], "ok ");
        } finally {
          for (const c of clients) c.close();
        }
        await eventually("equal HashKV on every member", () => equalHashes(cluster.members), 30_000);
        assertEtcdLoggedNoErrors(cluster);
      },
    );

    e2eTest(
      "leadership moves to an rxetcd member and back to an etcd member",
      { timeout: 120_000 },
      async () => {
        const rx = cluster.members.find((m) => m.binary === "rxetcd");
        const etcd = cluster.members.find((m) => m.binary === "etcd");
        assert.ok(rx && etcd);
        await moveLeader(cluster, rx);
        assert.equal((await rx.etcdctl(["put", "led-by", "rxetcd"])).code, 0);
        await moveLeader(cluster, etcd);
        assert.equal((await etcd.etcdctl(["put", "led-by", "etcd"])).code, 0);
        const got = await rx.etcdctl(["get", "led-by", "--print-value-only"]);
        assert.equal(got.stdout.trim(), "etcd");
      },
    );

    e2eTest(
      "a lease granted, kept alive and timed through a member of the other kind than the leader expires everywhere",
      { timeout: 120_000 },
      async () => {
        for (const leaderKind of ["rxetcd", "etcd"] as Binary[]) {
          const leader = cluster.members.find((m) => m.binary === leaderKind);
          const via = cluster.members.find((m) => m.binary !== leaderKind);
          assert.ok(leader && via);
          await moveLeader(cluster, leader);
          const grant = await via.etcdctl(["lease", "grant", "4"]);
          assert.equal(grant.code, 0, grant.stderr);
          const id = /lease ([0-9a-f]+) granted with TTL\(4s\)/.exec(grant.stdout)?.[1];
          assert.ok(id, grant.stdout);
          assert.equal((await via.etcdctl(["put", `leased/${leaderKind}`, "x", `--lease=${id}`])).code, 0);
          // kept alive through the follower (forwarded to the leader over /leases) for longer than the TTL
          for (let i = 0; i < 4; i++) {
            const ka: CtlResult = await via.etcdctl(["lease", "keep-alive", "--once", id]);
            assert.equal(ka.code, 0, ka.stderr);
            assert.match(ka.stdout, new RegExp(`lease ${id} keepalived with TTL\\(4\\)`));
            await sleep(1500);
          }
          const ttl = await via.etcdctl(["lease", "timetolive", id]);
          assert.equal(ttl.code, 0, ttl.stderr);
          assert.match(ttl.stdout, new RegExp(`lease ${id} granted with TTL\\(4s\\), remaining\\([1-4]s\\)`));
          for (const m of cluster.members) {
            const got = await m.etcdctl(["get", `leased/${leaderKind}`, "--print-value-only"]);
            assert.equal(got.stdout.trim(), "x", `${m.name} still holds the leased key`);
          }
          // left alone, the leader revokes it and every member deletes the key
          for (const m of cluster.members) {
            await eventually(
              `${m.binary} ${m.name} has dropped the expired lease's key`,
              async () => {
                const r = await m.etcdctl([
                  "get",
                  `leased/${leaderKind}`,
                  "--print-value-only",
                  "--consistency=s",
                ]);
                return r.code === 0 && r.stdout.trim() === "" ? true : undefined;
              },
              20_000,
            );
          }
          const gone = await via.etcdctl(["lease", "timetolive", id]);
          assert.match(gone.stdout, /already expired/);
        }
        await eventually("equal HashKV on every member", () => equalHashes(cluster.members), 30_000);
      },
    );

    e2eTest(
      "users, roles and passwords set through one kind authenticate and authorize on every member",
      { timeout: 120_000 },
      async () => {
        const rx = cluster.members.find((m) => m.binary === "rxetcd");
        const etcd = cluster.members.find((m) => m.binary === "etcd");
        assert.ok(rx && etcd);
        const ok = async (m: Member, args: string[]) => {
          const r = await m.etcdctl(args);
          assert.equal(r.code, 0, `${m.binary} ${args.join(" ")}: ${r.stderr}`);
          return r.stdout;
        };
        // each password is hashed by every member when it applies the entry (etcd 3.4 proposes it in clear)
        await ok(rx, ["user", "add", "root:rootpw"]);
        await ok(etcd, ["user", "add", "reader:readpw"]);
        await ok(rx, ["role", "add", "read-app"]);
        await ok(etcd, ["role", "grant-permission", "read-app", "read", "app/", "--prefix"]);
        await ok(rx, ["user", "grant-role", "reader", "read-app"]);
        await ok(etcd, ["put", "app/x", "1"]);
        await ok(etcd, ["auth", "enable"]);
        try {
          for (const m of cluster.members) {
            const got = await ok(m, ["--user", "reader:readpw", "get", "app/x", "--print-value-only"]);
            assert.equal(got.trim(), "1", `${m.binary} ${m.name} lets reader read`);
            const put = await m.etcdctl(["--user", "reader:readpw", "put", "app/x", "2"]);
            assert.notEqual(put.code, 0);
            assert.match(put.stderr, /etcdserver: permission denied/);
            const bad = await m.etcdctl(["--user", "reader:wrong", "get", "app/x"]);
            assert.notEqual(bad.code, 0);
            assert.match(bad.stderr, /etcdserver: authentication failed, invalid user ID or password/);
          }
          const passwd = await rx.etcdctl(
            ["--user", "root:rootpw", "user", "passwd", "reader", "--interactive=false"],
            {
              input: "newpw\n",
            },
          );
          assert.equal(passwd.code, 0, passwd.stderr);
          for (const m of cluster.members) {
            const old = await m.etcdctl(["--user", "reader:readpw", "get", "app/x"]);
            assert.match(
              old.stderr,
              /authentication failed/,
              `${m.binary} ${m.name} refuses the old password`,
            );
            await ok(m, ["--user", "reader:newpw", "get", "app/x"]);
          }
        } finally {
          await etcd.etcdctl(["--user", "root:rootpw", "auth", "disable"]);
        }
      },
    );

    e2eTest("a killed rxetcd leader is replaced and nothing acknowledged is lost", { timeout: 180_000 }, () =>
      killLeaderUnderLoad(cluster, "rxetcd"),
    );

    e2eTest(
      "a killed etcd leader is replaced and nothing acknowledged is lost",
      { timeout: 180_000 },
      async () => {
        await killLeaderUnderLoad(cluster, "etcd");
        assertEtcdLoggedNoErrors(cluster);
      },
    );
  });
}
