// A member of one implementation joins a running cluster of the other with `etcdctl member add` and
// --initial-cluster-state existing, after enough writes that the leader has compacted its log past the new
// member and must send it a merged snapshot (raft snapshot + bbolt backend). The newcomer then serves every
// key, leads after move-leader, and every member keeps the same HashKV.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import {
  assertHasAll,
  equalHashes,
  etcdErrorLines,
  hex,
  memberList,
  WriteLoad,
  writeMany,
} from "./cluster-checks.js";
import { Cluster, fastElections, memberAdd } from "./cluster-harness.js";
import { type Binary, destroyAllMembers, e2eTest, eventually, Member, needsDebianEtcd } from "./harness.js";

const other = (b: Binary): Binary => (b === "etcd" ? "rxetcd" : "etcd");

/** What each implementation logs once it has installed a snapshot received from its leader. */
const snapshotInstalled: Record<Binary, RegExp> = {
  rxetcd: /applied snapshot from the leader/,
  etcd: /"msg":"applied snapshot"/,
};

for (const existing of ["etcd", "rxetcd"] as Binary[]) {
  const joiner = other(existing);
  describe(`${joiner} joins a two-member ${existing} cluster`, { timeout: 400_000 }, () => {
    after(destroyAllMembers);

    e2eTest(
      `after 6,000 writes the ${joiner} learner catches up through a snapshot, is promoted, leads, and HashKV stays equal`,
      { timeout: 300_000 },
      async () => {
        assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
        const c = await Cluster.start({
          binaries: [existing, existing],
          extraArgs: ["--snapshot-count", "1000"],
        });
        await writeMany(c, 6000);

        const newcomer = await Member.create({
          binary: joiner,
          name: "m3",
          extraArgs: [...fastElections, "--snapshot-count", "1000"],
          startTimeoutMs: 120_000,
          clusterArgs: ["--initial-cluster-state", "existing"],
        });
        // as a learner: the leader of the other kind must find it in sync before promoting it
        const add = await memberAdd(c.members[0], ["m3", "--learner", `--peer-urls=${newcomer.peerUrl}`]);
        assert.equal(add.code, 0, add.stderr);
        const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1];
        assert.ok(initial, add.stdout);
        newcomer.initialCluster = initial;
        await newcomer.launch();
        c.members.push(newcomer);

        const listed = await memberList(c.members[0]);
        assert.deepEqual(listed.map((m) => m.name).sort(), ["m1", "m2", "m3"]);
        const id = listed.find((m) => m.name === "m3")?.ID ?? "0";
        assert.ok(listed.find((m) => m.name === "m3")?.isLearner, "m3 joined as a learner");
        await eventually(
          "the learner is promoted",
          async () => {
            const r = await c.members[1].etcdctl(["member", "promote", hex(id)]);
            if (r.code === 0) return r.stdout;
            assert.match(r.stderr, /can only promote a learner member which is in sync with leader/);
            return undefined;
          },
          60_000,
        );
        assert.equal((await memberList(c.members[0])).find((m) => m.name === "m3")?.isLearner, undefined);
        assert.match(
          newcomer.logText(10_000_000),
          snapshotInstalled[joiner],
          `the ${joiner} member got a snapshot`,
        );
        await eventually("equal HashKV on all three members", () => equalHashes(c.members), 90_000);
        const count = await newcomer.etcdctl(["get", "bulk/", "--prefix", "--keys-only", "-w", "json"]);
        assert.equal(count.code, 0, count.stderr);
        assert.equal((JSON.parse(count.stdout) as { count: number }).count, 6000);

        // the newcomer leads a write load, then every member holds it
        const from = await c.leader();
        const move = await from.etcdctl(["move-leader", hex(id)], { timeoutMs: 30_000 });
        assert.equal(move.code, 0, move.stderr);
        assert.equal(await c.leader(), newcomer);
        const load = new WriteLoad(c.members.map((m) => m.clientUrl));
        try {
          await load.more(200);
        } finally {
          await load.stop();
        }
        for (const m of c.members) await assertHasAll(m, load);
        await eventually("equal HashKV after the load", () => equalHashes(c.members), 60_000);
        for (const m of c.members.filter((x) => x.binary === "etcd"))
          assert.deepEqual(etcdErrorLines(m).slice(0, 5), [], `etcd member ${m.name} logged errors`);
      },
    );
  });
}
