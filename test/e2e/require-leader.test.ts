// Watches opened with clientv3's `hasleader` metadata (etcdctl watch opens them so) on a member cut off
// from its cluster: etcd cancels them with "etcdserver: no leader" once the member has gone without a
// leader for a few election timeouts, so the client can move to a member that still serves; watches on
// the majority keep delivering.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { Cluster, endpointStatus } from "./cluster-harness.js";
import { destroyAllMembers, e2eTest, eventually, type Member } from "./harness.js";

describe("hasleader watches and a partitioned member", { timeout: 240_000 }, () => {
  let cluster: Cluster | undefined;
  after(async () => {
    await cluster?.closeProxies();
    await destroyAllMembers();
  });

  e2eTest(
    "the minority's watch is cancelled with etcdserver: no leader, the majority's goes on",
    { timeout: 200_000 },
    async () => {
      cluster = await Cluster.start({ size: 3, peerProxies: true });
      const leader = await cluster.leader();
      const minority = cluster.members.find((m) => m !== leader) as Member;
      const status = await endpointStatus(minority);
      assert.ok(status);
      const idHex = BigInt(status.memberId).toString(16);

      assert.equal((await leader.etcdctl(["put", "w", "before"])).code, 0);
      // from revision 1: each watch replays the first put however late it starts
      const cutOff = minority.spawnEtcdctl(["watch", "w", "--rev", "1"]);
      const kept = leader.spawnEtcdctl(["watch", "w", "--rev", "1"]);
      try {
        // both watches are live before the cut: each sees the first put (PUT, key, value)
        assert.deepEqual(await cutOff.waitForLines(3, 20_000), ["PUT", "w", "before"]);
        assert.deepEqual(await kept.waitForLines(3, 20_000), ["PUT", "w", "before"]);

        const cutAt = Date.now();
        cluster.partition(minority, idHex);
        // 1 s election timeout: leaderless after about one, cancelled three later
        const code = await Promise.race([
          cutOff.closed,
          new Promise<"running">((r) => setTimeout(() => r("running"), 60_000).unref()),
        ]);
        assert.notEqual(code, "running", `the minority's watch still runs; stderr: ${cutOff.stderr}`);
        assert.notEqual(code, 0);
        assert.match(cutOff.stderr, /watch was canceled \(etcdserver: no leader\)/);
        assert.ok(
          Date.now() - cutAt >= 3_000,
          "cancelled only after three election timeouts without a leader",
        );

        const majority = cluster.members.filter((m) => m !== minority);
        await eventually(
          "a write on the majority",
          async () => ((await majority[0]?.etcdctl(["put", "w", "during"]))?.code === 0 ? true : undefined),
          30_000,
        );
        assert.deepEqual((await kept.waitForLines(6, 20_000)).slice(3), ["PUT", "w", "during"]);
      } finally {
        await cutOff.stop();
        await kept.stop();
        cluster.heal();
      }
    },
  );
});
