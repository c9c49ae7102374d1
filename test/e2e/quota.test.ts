// The quota path end to end, beside etcd 3.4.23: fill a small --quota-backend-bytes, see the write
// refused and the NOSPACE alarm raised, reads, deletes and delete-only txns still served, then recover
// with compaction, defragmentation and `alarm disarm`.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe } from "node:test";
import {
  type CtlResult,
  debianEtcd,
  destroyAllMembers,
  e2eTest,
  Member,
  maskVolatile,
  startMembersOnce,
} from "./harness.js";

const QUOTA = 4_000_000;
/** ~133 KB per value: the quota is reached after a few dozen puts. */
const value = randomBytes(100_000).toString("base64");

function errorLines(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("Error:"))
    .join("\n");
}

const masked = (r: CtlResult) => ({
  code: r.code,
  stdout: maskVolatile(r.stdout).replace(/memberID:\d+/g, "memberID:N"),
  error: errorLines(r.stderr),
});

describe("backend quota", () => {
  const members: Member[] = [];
  startMembersOnce(async () => {
    const args = { extraArgs: ["--quota-backend-bytes", String(QUOTA)] };
    members.push(await Member.start(args));
    if (debianEtcd) members.push(await Member.start({ ...args, binary: "etcd" }));
  });
  after(async () => {
    await destroyAllMembers();
  });

  /** The same command on every member; their outputs must agree. */
  async function each(args: string[], input?: string): Promise<CtlResult> {
    const results = await Promise.all(
      members.map((m) => m.etcdctl(args, input === undefined ? {} : { input })),
    );
    for (const r of results.slice(1)) {
      assert.deepEqual(
        masked(results[0]),
        masked(r),
        `etcdctl ${args.join(" ")}: rxetcd differs from etcd 3.4.23`,
      );
    }
    return results[0];
  }

  e2eTest(
    "filling the quota raises NOSPACE; reads and deletes work; compact, defrag and disarm recover",
    { timeout: 180_000 },
    async () => {
      // fill each member until its first refused put (the exact count depends on the backend's pages)
      for (const m of members) {
        let refused: CtlResult | undefined;
        for (let i = 0; i < 200 && !refused; i++) {
          const r = await m.etcdctl(["put", `big/${i}`], { input: value });
          if (r.code !== 0) refused = r;
        }
        assert.ok(refused, `${m.binary} never refused a put under a ${QUOTA}-byte quota`);
        assert.equal(errorLines(refused.stderr), "Error: etcdserver: mvcc: database space exceeded");
      }
      const alarms = await each(["alarm", "list"]);
      assert.match(alarms.stdout, /^memberID:\d+ alarm:NOSPACE \n$/);
      const put = await each(["put", "small", "v"]);
      assert.equal(errorLines(put.stderr), "Error: etcdserver: mvcc: database space exceeded");
      const lease = await each(["lease", "grant", "100"]);
      assert.equal(
        errorLines(lease.stderr),
        "Error: failed to grant lease (etcdserver: mvcc: database space exceeded)",
      );
      assert.equal((await each(["get", "big/0", "--keys-only"])).stdout, "big/0\n\n");
      assert.equal((await each(["del", "big/0"])).stdout, "1\n");
      assert.equal((await each(["txn"], "\ndel big/1\n\n\n")).stdout, "SUCCESS\n\n1\n");

      // recover: drop the data, compact, defragment, disarm
      for (const m of members) {
        // how many keys fit differs with the backend's page layout, so this count is not compared
        assert.equal((await m.etcdctl(["del", "big/", "--prefix"])).code, 0);
        const status = JSON.parse((await m.etcdctl(["endpoint", "status", "-w", "json"])).stdout) as Array<{
          Status: { header: { revision: number } };
        }>;
        const rev = status[0].Status.header.revision;
        assert.equal((await m.etcdctl(["compaction", String(rev)])).code, 0);
        assert.equal((await m.etcdctl(["defrag"])).code, 0);
      }
      assert.match((await each(["alarm", "disarm"])).stdout, /^memberID:\d+ alarm:NOSPACE \n$/);
      assert.equal((await each(["alarm", "list"])).stdout, "");
      assert.equal((await each(["put", "small", "v"])).stdout, "OK\n");
    },
  );
});
