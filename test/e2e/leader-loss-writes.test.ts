// Writes through a follower while its leader is killed. A proposal the follower had forwarded to the dead leader
// is lost without a word, and proposals made while no leader is known cannot be placed. etcd holds the latter
// until a leader is elected; rxetcd does the same, and proposes the lost ones again once the new leader's first
// entry shows they were not kept. Clients see a delay, not errors: before, each such write failed ("request timed
// out", or "no leader"), and three errors in a row made the etcd3 client's circuit breaker shut the member out for
// five seconds more.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { WriteLoad } from "./cluster-checks.js";
import { Cluster } from "./cluster-harness.js";
import { destroyAllMembers, e2eTest } from "./harness.js";

describe("writes through a follower while the leader is killed", { timeout: 300_000 }, () => {
  after(destroyAllMembers);

  e2eTest(
    "every write succeeds: held while there is no leader, proposed again if lost",
    { timeout: 280_000 },
    async () => {
      const c = await Cluster.start({ size: 3 });
      for (let round = 0; round < 2; round++) {
        const leader = await c.leader();
        const follower = c.members.find((m) => m !== leader && m.running);
        assert.ok(follower);
        // a deadline well above an election and a request timeout, so that only a refusal counts as an error
        const load = new WriteLoad([follower.clientUrl], `loss${round}/`, 8, 20_000);
        try {
          await load.more(100);
          await leader.kill();
          await load.more(100, 60_000);
        } finally {
          await load.stop();
        }
        console.log(
          `round ${round}: longest wait for a write ${load.longestGapMs} ms, errors ${JSON.stringify([...load.errorKinds])}`,
        );
        assert.deepEqual([...load.errorKinds], [], "writes through the follower failed");
        // every acknowledged write is there
        for (const key of [...load.acked].slice(-20)) {
          const r = await follower.etcdctl(["get", key, "--print-value-only"]);
          assert.equal(r.stdout.trim(), key);
        }
        await leader.restart();
      }
    },
  );
});
