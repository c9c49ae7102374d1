// A member applies its own puts from the requests it proposed, without decoding their bytes again. What
// that apply wrote must be what decoding the same entries writes: a second member rebuilt from the first
// one's WAL alone (every entry decoded and applied again) ends with the same keys, values, revisions and
// hash.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { RangeRequest } from "../../src/gen/etcdserverpb/rpc.js";
import { EtcdServer } from "../../src/server/etcd-server.js";
import type { ServerConfig } from "../../src/server/server-config.js";
import { mulberry32, withSeed } from "../seeded-random.js";
import { singleMemberConfig } from "./single-member-config.js";

const root = mkdtempSync(join(tmpdir(), "rxetcd-own-proposals-"));
const servers: EtcdServer[] = [];
after(async () => {
  for (const s of servers) await s.stop().catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

function config(dir: string): ServerConfig {
  return singleMemberConfig(dir);
}

async function start(dir: string): Promise<EtcdServer> {
  const s = await EtcdServer.start(config(dir));
  servers.push(s);
  await s.waitReady();
  return s;
}

test("puts applied from the proposed requests write what the decoded entries write", () =>
  withSeed("SEED", "test/server/own-proposals.test.ts", async (seed) => {
    const next = mulberry32(seed);
    const first = join(root, "first");
    const s = await start(first);
    const lease = (await s.api.leaseGrant({ TTL: 3600, ID: 0n })).ID;
    const answers: string[] = [];
    for (let i = 0; i < 300; i++) {
      const key = Buffer.from(`k${Math.floor(next() * 40)}`);
      const value = Buffer.from(`v${i}-${"x".repeat(Math.floor(next() * 300))}`);
      const r = next();
      // plain puts, prev_kv, a lease, and ignore_value / ignore_lease (refused on a missing key)
      const put = {
        key,
        value: r < 0.1 ? Buffer.alloc(0) : value,
        lease: r >= 0.1 && r < 0.3 ? lease : 0n,
        prevKv: next() < 0.3,
        ignoreValue: r < 0.1,
        ignoreLease: r >= 0.3 && r < 0.35,
      };
      const answer = await s.api.put(put).then(
        (a) => `${a.header?.revision} ${a.prevKv?.modRevision ?? "-"}`,
        (err: Error) => err.message,
      );
      answers.push(answer);
    }
    const revision = s.store.currentRev();
    assert.ok(revision > 200, `seed ${seed}: only revision ${revision} after 300 puts`);
    const all = { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
    const range = async (m: EtcdServer) =>
      (await m.api.range(RangeRequest.fromPartial({ ...all, serializable: true }))).kvs;
    const hash = async (m: EtcdServer) => (await m.api.hashKV({ revision: 0 })).hash;
    const [kvs, h] = [await range(s), await hash(s)];
    await s.stop();

    // the second member has the first one's WAL and no backend: every entry is decoded and applied again
    const second = join(root, "second");
    cpSync(join(first, "member", "wal"), join(second, "member", "wal"), { recursive: true });
    const t = await start(second);
    await t.waitReplayed();
    // the answers came from the first member's own apply; the second one only replays
    assert.equal(t.store.currentRev(), revision, `seed ${seed}`);
    assert.deepEqual(await range(t), kvs, `seed ${seed}`);
    assert.equal(await hash(t), h, `seed ${seed}`);
  }));
