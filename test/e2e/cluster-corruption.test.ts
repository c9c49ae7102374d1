// etcd's KV-hash corruption checks on a three-member cluster: one follower's stored value is changed
// behind raft's back (same revisions, other bytes). With --experimental-initial-corrupt-check it then
// refuses to start; without it, the leader's periodic check raises the CORRUPT alarm for the cluster.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe } from "node:test";
import { Backend } from "../../src/mvcc/backend.js";
import { Cluster } from "./cluster-harness.js";
import { destroyAllMembers, e2eTest, eventually, type Member } from "./harness.js";

/** Rewrites, in a stopped member's backend, every stored copy of `from` into `to` (same length). */
function corruptValue(m: Member, from: string, to: string): number {
  assert.equal(from.length, to.length);
  const backend = Backend.open(join(m.dataDir, "member", "snap", "db"));
  let changed = 0;
  try {
    const writes: Array<[Buffer, Buffer]> = [];
    for (const { key, value } of backend.history.getRange({})) {
      const at = Buffer.from(value).indexOf(from);
      if (at < 0) continue;
      const copy = Buffer.from(value);
      copy.write(to, at);
      writes.push([Buffer.from(key), copy]);
    }
    backend.write(() => {
      for (const [k, v] of writes) backend.history.put(k, v);
    });
    changed = writes.length;
  } finally {
    void backend.close();
  }
  return changed;
}

describe("corruption checks", { timeout: 300_000 }, () => {
  after(destroyAllMembers);

  e2eTest(
    "a follower whose data differs refuses to start with the initial check, and the leader raises CORRUPT",
    { timeout: 240_000 },
    async () => {
      const cluster = await Cluster.start({
        size: 3,
        extraArgs: ["--experimental-corrupt-check-time", "2s"],
      });
      const leader = await cluster.leader();
      assert.equal((await leader.etcdctl(["put", "victim", "original-value"])).code, 0);
      const follower = cluster.members.find((m) => m !== leader) as Member;
      await eventually("the follower applied the write", async () => {
        const r = await follower.etcdctl(["get", "victim", "--print-value-only", "--consistency=s"]);
        return r.stdout.trim() === "original-value" ? true : undefined;
      });
      await follower.stop();
      assert.ok(
        corruptValue(follower, "original-value", "tampered-value") > 0,
        "the value was found and changed",
      );

      // the initial check compares hashes at the same revision and refuses to serve
      follower.spawnProcess(["--experimental-initial-corrupt-check"]);
      const exit = await follower.waitExit(60_000);
      assert.ok(exit && exit.code !== 0, "the member with different data did not stop");
      assert.match(follower.logText(), /found data inconsistency with peers/);

      // without the check it starts, and the leader's periodic check raises the alarm
      // (not waiting for /health: with the alarm raised, etcd's /health answers false on every member)
      follower.spawnProcess();
      await eventually(
        "the CORRUPT alarm",
        async () => {
          const r = await leader.etcdctl(["alarm", "list"]);
          return /alarm:CORRUPT/.test(r.stdout) ? r.stdout : undefined;
        },
        60_000,
      );
      const blocked = await leader.etcdctl(["put", "after-corrupt", "x"]);
      assert.notEqual(blocked.code, 0, "writes are refused while the cluster is corrupt");
      assert.match(blocked.stderr, /corrupt/i);
    },
  );
});
