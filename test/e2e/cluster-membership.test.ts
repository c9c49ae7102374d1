// Membership changes on a running three-member cluster, with Debian's etcdctl: a learner that joins after
// 6,000 writes catches up through a snapshot and is promoted, leadership moves to a chosen member, a
// removed voter stops by itself, and members with the wrong cluster are refused without touching it.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { hex, memberList, writeMany } from "./cluster-checks.js";
import { Cluster, endpointStatus, fastElections, memberAdd, memberRemove } from "./cluster-harness.js";
import { destroyAllMembers, e2eTest, eventually, Member, sleep } from "./harness.js";

describe("membership changes", { timeout: 400_000 }, () => {
  let cluster: Cluster | undefined;
  after(destroyAllMembers);
  /** The cluster of the first test, or a fresh one when that test did not get far. */
  const running = async (): Promise<Cluster> => {
    if (!cluster || cluster.members.filter((m) => m.running).length < 3)
      cluster = await Cluster.start({ size: 3 });
    return cluster;
  };

  e2eTest(
    "a learner added after 6,000 writes catches up through a snapshot, is promoted, and leads after move-leader",
    {
      timeout: 300_000,
    },
    async () => {
      const c = await Cluster.start({ size: 3, extraArgs: ["--snapshot-count", "1000"] });
      cluster = c;
      await writeMany(c, 6000);
      const before = await memberList(c.members[0]);
      assert.equal(before.length, 3);

      const learner = await Member.create({
        name: "m4",
        extraArgs: fastElections,
        startTimeoutMs: 120_000,
        clusterArgs: ["--initial-cluster-state", "existing"],
      });
      const add = await memberAdd(c.members[0], ["m4", "--learner", `--peer-urls=${learner.peerUrl}`]);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /Member +[0-9a-f]+ added to cluster +[0-9a-f]+/);
      const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1];
      assert.ok(initial, add.stdout);
      assert.match(add.stdout, /ETCD_INITIAL_CLUSTER_STATE="existing"/);
      learner.initialCluster = initial;
      await learner.launch();

      const listed = await memberList(c.members[0]);
      const entry = listed.find((m) => m.name === "m4");
      assert.ok(entry?.isLearner, "m4 is listed as a learner");
      // the learner holds every write, and serves serializable reads only
      await eventually(
        "the learner has applied the 6,000 writes",
        async () => {
          const r = await learner.etcdctl([
            "get",
            "bulk/",
            "--prefix",
            "--keys-only",
            "-w",
            "json",
            "--consistency=s",
          ]);
          return r.code === 0 && (JSON.parse(r.stdout) as { count: number }).count === 6000
            ? true
            : undefined;
        },
        60_000,
      );
      const linearizable = await learner.etcdctl(["get", "bulk/00001"]);
      assert.notEqual(linearizable.code, 0);
      assert.match(linearizable.stderr, /rpc not supported for learner/);
      assert.match(
        learner.logText(200_000),
        /applied snapshot from the leader/,
        "the learner started from a snapshot",
      );

      const id = entry.ID;
      await eventually(
        "the learner is promoted",
        async () => {
          const r = await c.members[1].etcdctl(["member", "promote", hex(id)]);
          if (r.code === 0) return r.stdout;
          assert.match(r.stderr, /can only promote a learner member which is in sync with leader/);
          return undefined;
        },
        30_000,
      );
      const promoted = (await memberList(c.members[0])).find((m) => m.name === "m4");
      assert.ok(promoted && !promoted.isLearner);
      c.members.push(learner);

      const leader = await c.leader();
      const move = await leader.etcdctl(["move-leader", hex(id)]);
      assert.equal(move.code, 0, move.stderr);
      assert.match(move.stdout, /Leadership transferred from [0-9a-f]+ to [0-9a-f]+/);
      const newLeader = await c.leader();
      assert.equal(newLeader, learner);
      assert.equal((await learner.etcdctl(["put", "after-move", "ok"])).code, 0);
    },
  );

  e2eTest("a removed voter stops by itself and the others keep serving", { timeout: 120_000 }, async () => {
    const cluster = await running();
    const leader = await cluster.leader();
    const victim = cluster.members.find((m) => m !== leader && m.running) as Member;
    const st = await endpointStatus(victim);
    assert.ok(st);
    const listedBefore = await memberList(leader);
    const r = await memberRemove(leader, hex(st.memberId));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Member +[0-9a-f]+ removed from cluster +[0-9a-f]+/);
    const exit = await victim.waitExit(30_000);
    assert.ok(exit, `the removed member still runs\n${victim.logText()}`);
    const left = await memberList(leader);
    assert.equal(left.length, listedBefore.length - 1);
    assert.ok(!left.some((m) => m.ID === st.memberId));
    const again = await leader.etcdctl(["member", "remove", hex(st.memberId)]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /member not found/);
    assert.equal((await leader.etcdctl(["put", "after-remove", "ok"])).code, 0);
  });

  e2eTest(
    "a leader asked to remove itself hands leadership over first, then stops",
    { timeout: 120_000 },
    async () => {
      const cluster = await running();
      const leader = await cluster.leader();
      const st = await endpointStatus(leader);
      assert.ok(st);
      const r = await memberRemove(leader, hex(st.memberId));
      assert.equal(r.code, 0, r.stderr);
      const exit = await leader.waitExit(30_000);
      assert.ok(exit, `the removed leader still runs\n${leader.logText()}`);
      assert.match(leader.logText(200_000), /handing leadership over before removing this member/);
      const next = await cluster.leader();
      assert.notEqual(next, leader);
      assert.equal((await next.etcdctl(["put", "after-leader-removal", "ok"])).code, 0);
    },
  );

  e2eTest(
    "members of another cluster are refused and the running cluster does not change",
    { timeout: 120_000 },
    async () => {
      const cluster = await running();
      const up = cluster.members.filter((m) => m.running);
      const before = await memberList(up[0]);
      // joining with an --initial-cluster that does not match the running members
      const wrong = await Member.create({
        name: "wrong",
        extraArgs: fastElections,
        clusterArgs: ["--initial-cluster-state", "existing"],
      });
      wrong.initialCluster = `wrong=${wrong.peerUrl},${up[0].name}=http://127.0.0.1:1`;
      wrong.spawnProcess();
      const exit = await wrong.waitExit(30_000);
      assert.ok(exit && exit.code !== 0, "the member with the wrong --initial-cluster exits");
      assert.match(wrong.logText(), /cannot fetch cluster info from peer urls|error validating peerURLs/);

      // a new cluster with another token that lists a running member: its peers answer cluster ID mismatch
      const stranger = await Member.create({
        name: "stranger",
        extraArgs: fastElections,
        clusterArgs: ["--initial-cluster-token", "another-cluster", "--initial-cluster-state", "new"],
      });
      stranger.initialCluster = `stranger=${stranger.peerUrl},${up[0].name}=${up[0].peerUrl}`;
      stranger.spawnProcess();
      await sleep(5000);
      const health = await fetch(`${stranger.clientUrl}/health`).then(
        (res) => res.status,
        () => 0,
      );
      assert.notEqual(health, 200, "a member without its cluster's quorum is not healthy");
      await stranger.kill();
      const after = await memberList(up[0]);
      assert.deepEqual(after.map((m) => m.ID).sort(), before.map((m) => m.ID).sort());
    },
  );
});
