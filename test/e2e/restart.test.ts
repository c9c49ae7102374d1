// Crash safety end to end: SIGKILL the member under write load at seeded random moments, restart it on the same
// data dir, and check that every acknowledged write is there with its revision and that revisions continue.
// Replay a failure with the printed seed: E2E_SEED=<seed> node --import tsx --test test/e2e/restart.test.ts
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { Etcd3 } from "etcd3";
import { mulberry32 } from "../seeded-random.js";
import {
  cappedWatchBackoff,
  destroyAllMembers,
  e2eTest,
  eventually,
  Member,
  sleep,
  startMembersOnce,
} from "./harness.js";

const seed = process.env.E2E_SEED ? Number(process.env.E2E_SEED) : Math.floor(Math.random() * 2 ** 31);
const replay = `E2E_SEED=${seed} node --import tsx --test test/e2e/restart.test.ts`;

interface Ack {
  key: string;
  value: string;
  revision: number;
}

const ROUNDS = 5;
const WRITERS = 4;

function newClient(m: Member): Etcd3 {
  return new Etcd3({
    hosts: m.clientUrl,
    faultHandling: { watchBackoff: cappedWatchBackoff() },
    dialTimeout: 3000,
    defaultCallOptions: () => ({ deadline: Date.now() + 3000 }),
  });
}

/** Checks that every acknowledged write is stored with its value and revision; returns the store revision. */
async function verifyAcked(client: Etcd3, acked: Ack[], context: string): Promise<number> {
  const res = await client.getAll().prefix("crash/").exec();
  const stored = new Map(res.kvs.map((kv) => [kv.key.toString(), kv]));
  const lost: string[] = [];
  for (const a of acked) {
    const kv = stored.get(a.key);
    if (!kv) lost.push(`${a.key}@${a.revision} missing`);
    else if (kv.value.toString() !== a.value || Number(kv.mod_revision) !== a.revision)
      lost.push(`${a.key}: acked ${a.value}@${a.revision}, stored ${kv.value}@${kv.mod_revision}`);
  }
  // whatever landed (acknowledged or not) has distinct revisions no later than the store's
  const modRevs = res.kvs.map((kv) => Number(kv.mod_revision));
  assert.equal(new Set(modRevs).size, modRevs.length, `${context}: two stored keys share a put revision`);
  assert.ok(
    modRevs.every((r) => r <= Number(res.header.revision)),
    `${context}: a stored key is newer than the store revision`,
  );
  assert.deepEqual(
    lost.slice(0, 10),
    [],
    `${context}: ${lost.length} acknowledged writes lost or changed (seed ${seed}; replay: ${replay})`,
  );
  return Number(res.header.revision);
}

describe("restart after SIGKILL under write load, and after SIGTERM", () => {
  let m: Member;

  startMembersOnce(async () => {
    console.log(`restart test seed ${seed}; replay: ${replay}`);
    // a short election timeout shortens every restart (the member must elect itself before it serves)
    m = await Member.start({ extraArgs: ["--election-timeout", "500", "--heartbeat-interval", "50"] });
  });
  after(async () => {
    await destroyAllMembers();
  });

  e2eTest(
    `${ROUNDS} rounds of kill -9 while writing keep every acknowledged write (seed ${seed})`,
    { timeout: 120_000 },
    async () => {
      const rand = mulberry32(seed);
      const acked: Ack[] = [];
      let seq = 0;
      for (let round = 1; round <= ROUNDS; round++) {
        const client = newClient(m);
        let stop = false;
        let writeErrors = 0;
        const ackedBefore = acked.length;
        const writer = async (w: number) => {
          while (!stop) {
            const i = ++seq;
            const key = `crash/r${round}/w${w}/${i}`;
            const value = `v${i}`;
            try {
              const res = await client.put(key).value(value).exec();
              acked.push({ key, value, revision: Number(res.header.revision) });
            } catch {
              writeErrors++;
              if (!stop) await sleep(20);
            }
          }
        };
        const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
        // the kill moment counts from the first acknowledged write of the round, so every round writes under load
        const killAfterMs = Math.floor(rand() * 1500);
        const firstAckBy = Date.now() + 10_000;
        while (acked.length === ackedBefore && Date.now() < firstAckBy) await sleep(5);
        await sleep(killAfterMs);
        const st = await m.kill();
        stop = true;
        await Promise.all(writers);
        client.close();
        assert.equal(st.signal, "SIGKILL");
        const roundAcks = acked.length - ackedBefore;
        assert.ok(
          roundAcks > 0,
          `round ${round}: no write was acknowledged in ${killAfterMs} ms (errors ${writeErrors})`,
        );
        const revs = acked.map((a) => a.revision);
        assert.equal(new Set(revs).size, revs.length, "every acknowledged put has its own revision");

        await m.restart();
        const after = newClient(m);
        try {
          const storeRev = await verifyAcked(
            after,
            acked,
            `round ${round} (killed ${killAfterMs} ms after its first ack)`,
          );
          const maxAcked = Math.max(...revs);
          assert.ok(storeRev >= maxAcked, `store revision ${storeRev} below acknowledged ${maxAcked}`);
          const next = Number((await after.put("crash-next").value(String(round)).exec()).header.revision);
          assert.equal(next, storeRev + 1, "the next put continues the revision sequence");
        } finally {
          after.close();
        }
        console.log(
          `round ${round}: killed ${killAfterMs} ms after its first ack, ${roundAcks} acked, ${writeErrors} failed in flight`,
        );
      }
    },
  );

  e2eTest("a watch resumes across a restart without gaps or duplicates", { timeout: 90_000 }, async () => {
    const client = newClient(m);
    try {
      const seen: number[] = [];
      const watcher = await client.watch().prefix("resume/").create();
      watcher.on("put", (kv) => seen.push(Number(kv.value.toString())));
      for (let i = 1; i <= 5; i++) await client.put(`resume/${i}`).value(String(i));
      await eventually("events before the restart", async () => (seen.length >= 5 ? true : undefined));
      await m.stop();
      await m.restart();
      // the client reconnects its watch stream from the last revision it saw
      const writer = newClient(m);
      try {
        for (let i = 6; i <= 10; i++) await writer.put(`resume/${i}`).value(String(i));
      } finally {
        writer.close();
      }
      await eventually(
        "events after the restart",
        async () => (seen.length >= 10 ? true : undefined),
        // the client's reconnect backoff grows while the member is down (exponential, jittered)
        45_000,
      );
      await sleep(200);
      assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await watcher.cancel();
    } finally {
      client.close();
    }
  });

  e2eTest("leases survive kill -9: a long lease keeps its key, a short one still expires", {}, async () => {
    const client = newClient(m);
    let shortId = "";
    let longId = "";
    try {
      shortId = await client.lease(3, { autoKeepAlive: false }).grant();
      longId = await client.lease(600, { autoKeepAlive: false }).grant();
      await client.put("lease-crash/short").value("s").lease(shortId);
      await client.put("lease-crash/long").value("l").lease(longId);
    } finally {
      client.close();
    }
    await m.kill();
    await m.restart();
    const after = newClient(m);
    try {
      const long = await after.leaseClient.leaseTimeToLive({ ID: longId, keys: true });
      assert.equal(long.grantedTTL, "600");
      assert.ok(Number(long.TTL) > 500, `long lease TTL after restart: ${long.TTL}`);
      assert.deepEqual(
        long.keys.map((k) => k.toString()),
        ["lease-crash/long"],
      );
      // a restarted leader refreshes remaining TTLs to the granted TTL, so the short lease ends within ~3 s
      await eventually(
        "short lease expiry after restart",
        async () => ((await after.get("lease-crash/short").string()) === null ? true : undefined),
        15_000,
      );
      const short = await after.leaseClient.leaseTimeToLive({ ID: shortId });
      assert.equal(short.TTL, "-1", "expired lease is gone");
      assert.equal(await after.get("lease-crash/long").string(), "l");
    } finally {
      after.close();
    }
  });

  e2eTest("SIGTERM stops gracefully and a restart keeps everything", {}, async () => {
    const client = newClient(m);
    const acked: Ack[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const key = `crash/term/${i}`;
        const res = await client.put(key).value(`t${i}`).exec();
        acked.push({ key, value: `t${i}`, revision: Number(res.header.revision) });
      }
      const lease = await client.lease(600, { autoKeepAlive: false }).grant();
      await client.put("term-leased").value("l").lease(lease);
    } finally {
      client.close();
    }
    const st = await m.stop();
    if (m.binary === "rxetcd") assert.deepEqual(st, { code: 0, signal: null }, "rxetcd exits 0 on SIGTERM");
    else assert.ok(st.code === 0 || st.signal === "SIGTERM", JSON.stringify(st));
    await m.restart();
    const after = newClient(m);
    try {
      const rev = await verifyAcked(after, acked, "after SIGTERM");
      assert.equal(
        rev,
        acked[acked.length - 1].revision + 1,
        "nothing written after the last put but the leased key",
      );
      const leased = await after.get("term-leased").exec();
      assert.equal(leased.kvs[0]?.value.toString(), "l", "leased key survives a restart");
      const ttl = await after.leaseClient.leaseTimeToLive({ ID: leased.kvs[0].lease });
      assert.ok(Number(ttl.TTL) > 500, `lease still alive with its TTL after restart (TTL ${ttl.TTL})`);
    } finally {
      after.close();
    }
  });
});
