// Snapshots leave rxetcd as etcd's bbolt file: `etcdctl snapshot save` from rxetcd, then `etcdctl snapshot
// status`, `etcdctl snapshot restore` and Debian's etcd serving the restored data (every key with its revisions,
// the leases). The same writes on rxetcd and on Debian's etcd give the same history bytes in their snapshots.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { Etcd3 } from "etcd3";
import { BboltReader } from "../../src/bbolt/index.js";
import { decodeLeaseRecord } from "../../src/lease/lessor.js";
import { importBbolt, KVStore } from "../../src/mvcc/index.js";
import {
  allKeys,
  expectedStatus,
  requireEtcd,
  restoreAndStart,
  snapshotStatus,
} from "../bbolt/etcd-tools.js";
import { cappedWatchBackoff, destroyAllMembers, e2eTest, Member, startMembersOnce } from "./harness.js";

const ETCD_BUCKETS = [
  "alarm",
  "auth",
  "authRoles",
  "authUsers",
  "cluster",
  "key",
  "lease",
  "members",
  "members_removed",
  "meta",
];

/** The same writes on any member: puts (one over a page), overwrites, a delete, a multi-put txn, a compaction. */
async function writeHistory(m: Member): Promise<void> {
  const client = new Etcd3({ hosts: m.clientUrl, faultHandling: { watchBackoff: cappedWatchBackoff() } });
  try {
    for (let i = 0; i < 50; i++) await client.put(`h/${String(i).padStart(3, "0")}`).value(`v${i}`);
    await client.put("h/big").value(Buffer.alloc(10_000, "x"));
    await client.put("h/000").value("again");
    await client.delete().key("h/001");
    await client
      .if("h/002", "Value", "==", "v2")
      .then(client.put("h/t1").value("1"), client.put("h/t2").value("2"), client.delete().key("h/003"))
      .commit();
  } finally {
    client.close();
  }
  const rev = (await allKeys(m)).revision;
  const compact = await m.etcdctl(["compact", String(rev - 5), "--physical"]);
  assert.equal(compact.code, 0, compact.stderr);
  await m.etcdctl(["put", "h/after", "compaction"]);
}

describe("snapshots from rxetcd as etcd's bbolt file", { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-e2e-snap-"));
  let rx: Member;
  let etcd: Member;
  const files = { rx: join(dir, "rx-history.db"), etcd: join(dir, "etcd-history.db") };

  startMembersOnce(async () => {
    requireEtcd();
    [rx, etcd] = await Promise.all([Member.start({ binary: "rxetcd" }), Member.start({ binary: "etcd" })]);
  });
  after(async () => {
    await destroyAllMembers();
    rmSync(dir, { recursive: true, force: true });
  });

  e2eTest("the same writes give the same history and compaction marks as etcd's snapshot", {}, async () => {
    await Promise.all([writeHistory(rx), writeHistory(etcd)]);
    for (const [name, m] of [
      ["rx", rx],
      ["etcd", etcd],
    ] as const) {
      const r = await m.etcdctl(["snapshot", "save", files[name]]);
      assert.equal(r.code, 0, r.stderr);
    }
    const read = (file: string) => {
      const reader = BboltReader.open(file);
      try {
        const bucket = (name: string) =>
          [...reader.entries([name])].map((e) => `${e.key.toString("hex")}=${e.value.toString("hex")}`);
        const names = reader.bucketNames().map(String);
        const meta = bucket("meta").filter(
          (e) => !e.startsWith(Buffer.from("consistent_index").toString("hex")),
        );
        return { names, key: bucket("key"), meta };
      } finally {
        reader.close();
      }
    };
    const ours = read(files.rx);
    const theirs = read(files.etcd);
    assert.deepEqual(ours.names, ETCD_BUCKETS);
    assert.deepEqual(ours.names, theirs.names);
    assert.equal(ours.key.length, theirs.key.length);
    assert.deepEqual(ours.key, theirs.key, "key bucket: revision keys and KeyValue bytes");
    assert.deepEqual(ours.meta, theirs.meta, "meta bucket: compaction marks");
  });

  e2eTest("rxetcd imports etcd's snapshot: the same reads, HashKV, compaction and leases", {}, async () => {
    const client = new Etcd3({
      hosts: etcd.clientUrl,
      faultHandling: { watchBackoff: cappedWatchBackoff() },
    });
    let leaseId: bigint;
    try {
      const lease = client.lease(700, { autoKeepAlive: false });
      leaseId = BigInt(await lease.grant());
      await lease.put("i/leased").value("l");
      lease.release();
    } finally {
      client.close();
    }
    const file = join(dir, "etcd-import.db");
    const saved = await etcd.etcdctl(["snapshot", "save", file]);
    assert.equal(saved.code, 0, saved.stderr);
    const expected = await allKeys(etcd);
    const hashkv = await etcd.etcdctl(["endpoint", "hashkv", "-w", "json"]);
    const etcdHash = Number(/"hash":(\d+)/.exec(hashkv.stdout)?.[1]);
    const etcdCompact = Number(/"compact_revision":(-?\d+)/.exec(hashkv.stdout)?.[1]);

    const backendFile = join(dir, "imported", "member", "snap", "db");
    const result = await importBbolt(file, backendFile);
    assert.ok(result.consistentIndex > 0);
    const store = KVStore.open(backendFile);
    try {
      assert.equal(store.currentRev(), expected.revision);
      assert.equal(store.compactRev(), etcdCompact);
      assert.equal(store.hashKV(0).hash, etcdHash, "HashKV of the imported history equals etcd's");
      const kvs = store.range(Buffer.from([0]), Buffer.from([0])).kvs.map((kv) => ({
        key: Buffer.from(kv.key).toString("latin1"),
        value: Buffer.from(kv.value).toString("latin1"),
        create_revision: kv.createRevision,
        mod_revision: kv.modRevision,
        version: kv.version,
        ...(kv.lease === 0n ? {} : { lease: Number(kv.lease) }),
      }));
      assert.deepEqual(kvs, expected.kvs);
      const leases = store.records("lease").map(([, v]) => decodeLeaseRecord(v));
      assert.deepEqual(leases, [{ id: leaseId, ttl: 700, remainingTtl: 0 }]);
    } finally {
      await store.close();
    }
  });

  e2eTest("etcdctl snapshot status reads rxetcd's snapshot: revision, hash and keys", {}, async () => {
    const file = join(dir, "rx-status.db");
    assert.equal((await rx.etcdctl(["snapshot", "save", file])).code, 0);
    const status = await snapshotStatus(file);
    assert.deepEqual(status, expectedStatus(file));
    assert.equal(status.revision, (await allKeys(rx)).revision);
  });

  e2eTest(
    "snapshot save from rxetcd, restore, and Debian's etcd serves every key and lease",
    {},
    async () => {
      const client = new Etcd3({
        hosts: rx.clientUrl,
        faultHandling: { watchBackoff: cappedWatchBackoff() },
      });
      let leaseId: string;
      try {
        const lease = client.lease(900, { autoKeepAlive: false });
        leaseId = BigInt(await lease.grant()).toString(16);
        await lease.put("r/leased-1").value("a");
        await lease.put("r/leased-2").value("b");
        lease.release();
        for (let i = 0; i < 300; i++) await client.put(`r/${String(i).padStart(4, "0")}`).value(`value-${i}`);
        await client.put("r/big").value(Buffer.alloc(50_000, "y"));
        await client.put("r/0007").value("v2");
        await client.delete().key("r/0008");
      } finally {
        client.close();
      }
      const before = await allKeys(rx);
      const file = join(dir, "rx-restore.db");
      const saved = await rx.etcdctl(["snapshot", "save", file]);
      assert.equal(saved.code, 0, saved.stderr);

      const restored = await restoreAndStart(file);
      try {
        const after_ = await allKeys(restored);
        assert.equal(after_.revision, before.revision);
        assert.equal(after_.kvs.length, before.kvs.length);
        assert.deepEqual(after_.kvs, before.kvs, "keys, values, create/mod revisions, versions, leases");
        const ttl = await restored.etcdctl(["lease", "timetolive", leaseId, "--keys"]);
        assert.equal(ttl.code, 0, ttl.stderr);
        assert.match(
          ttl.stdout,
          /granted with TTL\(900s\), remaining\(\d+s\), attached keys\(\[(r\/leased-1 r\/leased-2|r\/leased-2 r\/leased-1)\]\)/,
        );
        const put = await restored.etcdctl(["put", "r/next", "1", "-w", "json"]);
        assert.equal(put.code, 0, put.stderr);
        assert.equal(
          (JSON.parse(put.stdout) as { header: { revision: number } }).header.revision,
          before.revision + 1,
        );
      } finally {
        await restored.destroy();
      }
    },
  );
});
