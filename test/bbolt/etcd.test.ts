// The bbolt codec against Debian's etcd 3.4: we read the snapshots etcd writes, and etcdctl and etcd accept the
// files we write (snapshot status figures, restore, a member serving the restored keys).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Etcd3 } from "etcd3";
import { type BboltBucketSource, BboltReader, writeBboltFile } from "../../src/bbolt/index.js";
import { decodeKeyValue } from "../../src/mvcc/kvcodec.js";
import { cappedWatchBackoff, destroyAllMembers, Member } from "../e2e/harness.js";
import {
  allKeys,
  appendSha256,
  expectedStatus,
  type JsonKv,
  requireEtcd,
  restoreAndStart,
  snapshotStatus,
  varintFields,
} from "./etcd-tools.js";

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

/** Every bucket of a bbolt file, read into memory (the test files are small). */
function readAll(file: string): BboltBucketSource[] {
  const reader = BboltReader.open(file);
  try {
    return reader.bucketNames().map((name) => {
      const entries = [...reader.entries([name])].map((e): [Buffer, Buffer] => [
        Buffer.from(e.key),
        Buffer.from(e.value),
      ]);
      return { name, entries: () => entries };
    });
  } finally {
    reader.close();
  }
}

const bigValue = Buffer.alloc(20_000, "0123456789abcdef").toString("latin1");

describe("bbolt files and Debian's etcd", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-bbolt-"));
  const snapshot = join(dir, "etcd-snapshot.db");
  let source: Member;
  let before_: { revision: number; kvs: JsonKv[] };
  let leaseId: bigint;

  before(async () => {
    requireEtcd();
    source = await Member.start({ binary: "etcd", name: "source" });
    const client = new Etcd3({
      hosts: source.clientUrl,
      faultHandling: { watchBackoff: cappedWatchBackoff() },
    });
    try {
      await client.put("foo").value("bar");
      for (let i = 0; i < 300; i++) await client.put(`k/${String(i).padStart(4, "0")}`).value(`value ${i}`);
      await client.put("big").value(bigValue);
      await client.delete().key("k/0001");
      await client.put("foo").value("bar2");
      const lease = client.lease(600, { autoKeepAlive: false });
      leaseId = BigInt(await lease.grant());
      await lease.put("leased").value("l");
      await lease.release();
    } finally {
      client.close();
    }
    before_ = await allKeys(source);
    const r = await source.etcdctl(["snapshot", "save", snapshot]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await destroyAllMembers();
    rmSync(dir, { recursive: true, force: true });
  });

  test("reads etcd's snapshot: ten buckets, the key history in revision order, leases", () => {
    const reader = BboltReader.open(snapshot);
    try {
      assert.deepEqual(
        reader.bucketNames().map((n) => n.toString()),
        ETCD_BUCKETS,
      );
      assert.equal(statSync(snapshot).size, reader.size + 32, "SHA-256 trailer after the pages in use");
      const history = [...reader.entries(["key"])];
      let prev = 0n;
      const latest = new Map<string, { kv: ReturnType<typeof decodeKeyValue>; tombstone: boolean }>();
      for (const e of history) {
        assert.ok(e.key.length === 17 || (e.key.length === 18 && e.key[17] === 0x74), "revision key layout");
        const at = (e.key.readBigUInt64BE(0) << 16n) | e.key.readBigUInt64BE(9);
        assert.ok(at > prev, "revision order");
        prev = at;
        const kv = decodeKeyValue(e.value);
        latest.set(Buffer.from(kv.key).toString("latin1"), { kv, tombstone: e.key.length === 18 });
        if (e.key.length === 17) assert.equal(kv.modRevision, Number(e.key.readBigUInt64BE(0)));
      }
      assert.equal(latest.get("k/0001")?.tombstone, true, "the deleted key ends in a tombstone");
      const live = [...latest].filter(([, v]) => !v.tombstone).sort(([a], [b]) => (a < b ? -1 : 1));
      assert.deepEqual(
        live.map(([key, { kv }]) => ({
          key,
          value: Buffer.from(kv.value).toString("latin1"),
          create_revision: kv.createRevision,
          mod_revision: kv.modRevision,
          version: kv.version,
          ...(kv.lease === 0n ? {} : { lease: Number(kv.lease) }),
        })),
        before_.kvs,
      );
      assert.equal(
        latest.get("big")?.kv.value.length,
        bigValue.length,
        "a value over a page (overflow pages)",
      );
      const leases = [...reader.entries(["lease"])];
      assert.equal(leases.length, 1);
      assert.equal(leases[0].key.readBigInt64BE(0), leaseId);
      const lease = varintFields(leases[0].value);
      assert.equal(lease.get(1), leaseId);
      assert.equal(lease.get(2), 600n);
      const meta = new Map([...reader.entries(["meta"])].map((e) => [e.key.toString(), e.value]));
      assert.equal(meta.get("consistent_index")?.length, 8);
    } finally {
      reader.close();
    }
  });

  test("our reader computes the figures etcdctl snapshot status prints for etcd's snapshot", async () => {
    assert.deepEqual(await snapshotStatus(snapshot), expectedStatus(snapshot));
  });

  test("a file we write from etcd's buckets: same hash, revision and keys; restore serves every key", async () => {
    const ours = join(dir, "rewritten.db");
    const layout = writeBboltFile(ours, readAll(snapshot));
    assert.equal(statSync(ours).size, layout.size);
    const theirs = await snapshotStatus(snapshot);
    const status = await snapshotStatus(ours);
    assert.deepEqual({ ...status, totalSize: 0 }, { ...theirs, totalSize: 0 });
    assert.equal(status.totalSize, layout.size);

    appendSha256(ours);
    const restored = await restoreAndStart(ours);
    try {
      const after_ = await allKeys(restored);
      assert.deepEqual(after_.kvs, before_.kvs);
      assert.equal(after_.revision, before_.revision);
      const ttl = await restored.etcdctl(["lease", "timetolive", leaseId.toString(16), "--keys"]);
      assert.equal(ttl.code, 0, ttl.stderr);
      assert.match(ttl.stdout, /granted with TTL\(600s\), remaining\(\d+s\), attached keys\(\[leased\]\)/);
      // and the restored member keeps writing on top of our pages
      const put = await restored.etcdctl(["put", "after", "restore", "-w", "json"]);
      assert.equal(put.code, 0, put.stderr);
      assert.equal(
        (JSON.parse(put.stdout) as { header: { revision: number } }).header.revision,
        before_.revision + 1,
      );
    } finally {
      await restored.destroy();
    }
  });

  test("a large file we write (multi-level trees, overflow runs, no trailer) is accepted", async () => {
    const file = join(dir, "large.db");
    const n = 30_000;
    const rev = (main: number) => {
      const k = Buffer.alloc(17);
      k.writeBigUInt64BE(BigInt(main));
      k[8] = 0x5f;
      return k;
    };
    const kv = (main: number) => {
      const key = Buffer.from(`large/${String(main).padStart(6, "0")}`);
      const value = Buffer.alloc(main % 1000 === 0 ? 9000 : 20 + (main % 50), main % 251);
      // mvccpb.KeyValue: key, create_revision, mod_revision, version 1, value
      return Buffer.concat([
        Buffer.from([0x0a, key.length]),
        key,
        Buffer.from([0x10]),
        varint(main),
        Buffer.from([0x18]),
        varint(main),
        Buffer.from([0x20, 1, 0x2a]),
        varint(value.length),
        value,
      ]);
    };
    const history = function* (): Generator<[Buffer, Buffer]> {
      for (let main = 2; main < n + 2; main++) yield [rev(main), kv(main)];
    };
    const consistentIndex = Buffer.alloc(8);
    consistentIndex.writeBigUInt64BE(7n);
    writeBboltFile(
      file,
      ETCD_BUCKETS.map((name) => ({
        name,
        entries:
          name === "key"
            ? history
            : name === "meta"
              ? () => [[Buffer.from("consistent_index"), consistentIndex] as const]
              : () => [],
      })),
    );
    const status = await snapshotStatus(file);
    assert.deepEqual(status, expectedStatus(file));
    assert.equal(status.revision, n + 1);
    assert.equal(status.totalKey, n + 1);

    const restored = await restoreAndStart(file, { skipHashCheck: true });
    try {
      const count = await restored.etcdctl(["get", "large/", "--prefix", "--limit", "1", "-w", "json"]);
      assert.equal(count.code, 0, count.stderr);
      const out = JSON.parse(count.stdout) as { count: number; header: { revision: number } };
      assert.equal(out.count, n);
      assert.equal(out.header.revision, n + 1);
      const one = await restored.etcdctl(["get", "large/003000", "-w", "json"]);
      const got = (JSON.parse(one.stdout) as { kvs: JsonKv[] }).kvs[0];
      assert.equal(got.mod_revision, 3000);
      assert.equal(Buffer.from(got.value, "base64").length, 9000);
    } finally {
      await restored.destroy();
    }
  });
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}
