import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, test } from "node:test";
import { pino } from "pino";
import { Entry, EntryType } from "../../src/gen/raftpb/raft.js";
import { memberPaths } from "../../src/server/bootstrap.js";
import { EtcdServer } from "../../src/server/etcd-server.js";
import type { ServerConfig } from "../../src/server/server-config.js";
import { encodeFrame, FrameKind } from "../../src/wal/frame.js";
import { editBytes, entryIndex, readRecords, segmentPaths } from "../wal/segment-edit.js";
import { singleMemberConfig } from "./single-member-config.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function config(dataDir: string, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return singleMemberConfig(dataDir, overrides);
}

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rxetcd-server-"));
  dirs.push(d);
  return d;
}

const put = (key: string, value: string, lease = 0n) => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  lease,
  prevKv: false,
  ignoreValue: false,
  ignoreLease: false,
});
const range = (key: string, serializable = false) => ({
  key: Buffer.from(key),
  rangeEnd: Buffer.alloc(0),
  limit: 0,
  revision: 0,
  sortOrder: 0,
  sortTarget: 0,
  serializable,
  keysOnly: false,
  countOnly: false,
  minModRevision: 0,
  maxModRevision: 0,
  minCreateRevision: 0,
  maxCreateRevision: 0,
});

test("a new single member elects itself, writes go through raft and reads see them", async () => {
  const dir = freshDir();
  const s = await EtcdServer.start(config(dir));
  try {
    await s.waitReady();
    assert.equal(s.memberId.toString(16), "8e9e05c52164694d");
    const p1 = await s.api.put(put("foo", "bar"));
    assert.equal(p1.header?.revision, 2, "an empty store is at revision 1, the first write makes 2");
    assert.equal(p1.header?.memberId, s.memberId);
    const r = await s.api.range(range("foo"));
    assert.equal(r.kvs.length, 1);
    assert.equal(r.kvs[0].value.toString(), "bar");
    assert.equal(r.header?.revision, 2);
    const rs = await s.api.range(range("foo", true));
    assert.equal(rs.kvs[0].value.toString(), "bar");
    await assert.rejects(s.api.put(put("", "x")), { message: "etcdserver: key is not provided" });
    await assert.rejects(s.api.put(put("k", "v", 123n)), {
      message: "etcdserver: requested lease not found",
    });
    // the refused requests changed nothing
    const after = await s.api.put(put("foo", "baz"));
    assert.equal(after.header?.revision, 3);
  } finally {
    await s.stop();
  }
});

test("a restarted member keeps every acknowledged write and continues the revision", async () => {
  const dir = freshDir();
  let s = await EtcdServer.start(config(dir));
  await s.waitReady();
  for (let i = 0; i < 50; i++) await s.api.put(put(`k${i}`, `v${i}`));
  await s.stop();
  s = await EtcdServer.start(config(dir));
  try {
    await s.waitReady();
    const r = await s.api.range({ ...range("k"), rangeEnd: Buffer.from("l") });
    assert.equal(r.count, 50);
    assert.equal(r.header?.revision, 51);
    const p = await s.api.put(put("k0", "again"));
    assert.equal(p.header?.revision, 52);
  } finally {
    await s.stop();
  }
});

test("a restart after a crash cut the last WAL write short mends the tail, says so, and keeps every write", async () => {
  const dir = freshDir();
  let s = await EtcdServer.start(config(dir));
  await s.waitReady();
  for (let i = 0; i < 20; i++) await s.api.put(put(`k${i}`, `v${i}`));
  await s.stop();
  // a crash in the middle of the next write: its record's first sector reached the disk, the rest did not
  const segment = segmentPaths(memberPaths(dir, "").walDir).at(-1)!;
  const records = readRecords(segment);
  const last = Math.max(...records.map((r) => entryIndex(r) ?? 0));
  const tail = records.at(-1)!.end;
  const torn = encodeFrame(
    FrameKind.entry,
    Entry.encode({
      term: 2,
      index: last + 1,
      type: EntryType.EntryNormal,
      data: Buffer.alloc(4000, 7),
    }).finish(),
  );
  editBytes(segment, (buf) => {
    torn.copy(buf, tail);
    buf.fill(0, Math.ceil((tail + 600) / 512) * 512, tail + torn.length);
  });
  const lines: { level: number; msg: string; path?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  s = await EtcdServer.start(config(dir, { logger: pino({ level: "warn" }, sink) }));
  try {
    await s.waitReady();
    const repaired = lines.filter((l) => l.msg.startsWith("repaired the WAL"));
    assert.equal(repaired.length, 1, JSON.stringify(lines));
    assert.equal(repaired[0].level, 40);
    assert.equal(repaired[0].path, segment);
    const r = await s.api.range({ ...range("k"), rangeEnd: Buffer.from("l") });
    assert.equal(r.count, 20);
    assert.equal(r.header?.revision, 21);
  } finally {
    await s.stop();
  }
});

test("a first start is refused when --initial-cluster does not list the advertised peer URLs; a restart is not checked", async () => {
  const dir = freshDir();
  await assert.rejects(
    EtcdServer.start(config(dir, { peerUrls: ["http://localhost:2390"] })),
    (err: Error) => {
      assert.equal(
        err.message,
        '--initial-cluster has default=http://localhost:2380 but missing from --initial-advertise-peer-urls=http://localhost:2390 (resolved urls: "http://localhost:2390" != "http://localhost:2380")',
      );
      return true;
    },
  );
  // as etcd: the checks guard a first start only; a member with a WAL restarts whatever the flags say
  let s = await EtcdServer.start(config(dir));
  await s.waitReady();
  await s.stop();
  s = await EtcdServer.start(config(dir, { peerUrls: ["http://localhost:2390"] }));
  try {
    await s.waitReady();
  } finally {
    await s.stop();
  }
});

test("a restarted single member leads at once, without waiting an election timeout", async () => {
  // an election timeout of 30 s: a member that waited one could not be ready within 15 s
  const slow = { tickMs: 100, electionTicks: 300 };
  const dir = freshDir();
  let s = await EtcdServer.start(config(dir, slow));
  await s.waitReady();
  await s.api.put(put("k", "v"));
  await s.stop();
  const restartedAt = performance.now();
  s = await EtcdServer.start(config(dir, slow));
  try {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), 15_000);
    });
    const ready = await Promise.race([s.waitReady().then(() => "ready" as const), limit]);
    clearTimeout(timer);
    assert.equal(
      ready,
      "ready",
      `not leading ${((performance.now() - restartedAt) / 1000).toFixed(1)} s after restart`,
    );
    assert.equal((await s.api.range(range("k"))).count, 1);
  } finally {
    await s.stop();
  }
});

test("leases: grant with the minimum TTL, attach keys, revoke deletes them in one revision", async () => {
  const s = await EtcdServer.start(config(freshDir()));
  try {
    await s.waitReady();
    const g = await s.api.leaseGrant({ TTL: 1, ID: 0n });
    assert.ok(g.ID > 0n);
    assert.equal(g.TTL, Math.max(1, s.lessor.minTtl));
    await s.api.put(put("a", "1", g.ID));
    await s.api.put(put("b", "2", g.ID));
    const ttl = await s.api.leaseTimeToLive({ ID: g.ID, keys: true });
    assert.deepEqual(
      ttl.keys.map((k) => k.toString()),
      ["a", "b"],
    );
    const before = (await s.api.range(range("a"))).header!.revision;
    await s.api.leaseRevoke({ ID: g.ID });
    const r = await s.api.range({ ...range("a"), rangeEnd: Buffer.from("c") });
    assert.equal(r.count, 0);
    assert.equal(r.header?.revision, before + 1);
    assert.equal((await s.api.leaseTimeToLive({ ID: g.ID, keys: false })).TTL, -1);
    await assert.rejects(s.api.leaseRevoke({ ID: g.ID }), {
      message: "etcdserver: requested lease not found",
    });
    assert.equal((await s.api.leaseKeepAlive(g.ID)).ttl, 0);
  } finally {
    await s.stop();
  }
});

test("leases, their keys and the cluster survive a restart", async () => {
  const dir = freshDir();
  let s = await EtcdServer.start(config(dir));
  await s.waitReady();
  const g = await s.api.leaseGrant({ TTL: 600, ID: 0n });
  await s.api.put(put("leased", "v", g.ID));
  const gone = await s.api.leaseGrant({ TTL: 600, ID: 0n });
  await s.api.leaseRevoke({ ID: gone.ID });
  await s.stop();
  s = await EtcdServer.start(config(dir));
  try {
    await s.waitReady();
    const leases = (await s.api.leaseLeases()).leases.map((l) => l.ID);
    assert.deepEqual(leases, [g.ID]);
    const ttl = await s.api.leaseTimeToLive({ ID: g.ID, keys: true });
    assert.equal(ttl.grantedTTL, 600);
    assert.deepEqual(
      ttl.keys.map((k) => k.toString()),
      ["leased"],
    );
    const members = (await s.api.memberList()).members;
    assert.equal(members.length, 1);
    assert.equal(members[0].ID, s.memberId);
    assert.deepEqual(members[0].peerURLs, ["http://localhost:2380"]);
  } finally {
    await s.stop();
  }
});

test("a lease revoked without keys stays revoked across a restart when later writes follow it", async () => {
  const dir = freshDir();
  let s = await EtcdServer.start(config(dir));
  await s.waitReady();
  const gone = await s.api.leaseGrant({ TTL: 600, ID: 0n });
  const kept = await s.api.leaseGrant({ TTL: 600, ID: 0n });
  await s.api.leaseRevoke({ ID: gone.ID });
  // a later write persists a consistent index past the revoke: the revoke is not replayed on restart
  await s.api.put(put("after", "revoke"));
  await s.stop();
  s = await EtcdServer.start(config(dir));
  try {
    await s.waitReady();
    const leases = (await s.api.leaseLeases()).leases.map((l) => l.ID);
    assert.deepEqual(leases, [kept.ID]);
    assert.equal((await s.api.leaseTimeToLive({ ID: gone.ID, keys: false })).TTL, -1);
  } finally {
    await s.stop();
  }
});

test("an expired lease is revoked by the leader and its keys deleted", async () => {
  const s = await EtcdServer.start(config(freshDir(), { tickMs: 10, electionTicks: 10 }));
  try {
    await s.waitReady();
    const g = await s.api.leaseGrant({ TTL: 1, ID: 0n });
    await s.api.put(put("short", "lived", g.ID));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await s.api.range(range("short"))).count > 0) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await s.api.range(range("short"))).count, 0, "the key went with its lease");
    assert.equal((await s.api.leaseTimeToLive({ ID: g.ID, keys: false })).TTL, -1);
  } finally {
    await s.stop();
  }
});

test("snapshots every snapshot-count entries compact the log, and a restart starts from the newest one", async () => {
  const dir = freshDir();
  const cfg = config(dir, { snapshotCount: 10, snapshotCatchUpEntries: 5, maxSnapshots: 2 });
  let s = await EtcdServer.start(cfg);
  await s.waitReady();
  for (let i = 0; i < 60; i++) await s.api.put(put(`s${i}`, `v${i}`));
  const first = s.raft.storage.firstIndex();
  assert.ok(first > 40, `the in-memory log was compacted (first index ${first})`);
  await s.stop();
  s = await EtcdServer.start(cfg);
  try {
    await s.waitReady();
    const r = await s.api.range({ ...range("s"), rangeEnd: Buffer.from("t") });
    assert.equal(r.count, 60);
    assert.equal((await s.api.put(put("after", "restart"))).header?.revision, 62);
    assert.equal((await s.api.memberList()).members[0].name, "default");
  } finally {
    await s.stop();
  }
});

test("compaction makes old revisions unreadable with etcd's error, and HashKV reports it", async () => {
  const s = await EtcdServer.start(config(freshDir()));
  try {
    await s.waitReady();
    for (let i = 0; i < 20; i++) await s.api.put(put("ac", `v${i}`));
    await s.api.compact({ revision: s.store.currentRev() - 5, physical: true });
    await assert.rejects(s.api.range({ ...range("ac"), revision: 3 }), {
      code: 11,
      grpcMessage: "etcdserver: mvcc: required revision has been compacted",
    } as object);
    await assert.rejects(s.api.compact({ revision: 3, physical: false }), {
      grpcMessage: "etcdserver: mvcc: required revision has been compacted",
    } as object);
    const h = await s.api.hashKV({ revision: 0 });
    assert.equal(h.compactRevision, s.store.currentRev() - 5);
  } finally {
    await s.stop();
  }
});

test("periodic auto-compaction on the leader keeps one retention window of history", async () => {
  const s = await EtcdServer.start(
    config(freshDir(), { autoCompaction: { mode: "periodic", retentionMs: 600 } }),
  );
  try {
    await s.waitReady();
    const deadline = Date.now() + 15_000;
    let i = 0;
    // the first compaction may reach back to the revision seen at start-up (1): wait for one past it
    while (s.store.compactRev() <= 1 && Date.now() < deadline) {
      await s.api.put(put("pc", `v${i++}`));
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(s.store.compactRev() > 1, `compacted to ${s.store.compactRev()} after ${i} writes`);
    assert.ok(s.store.compactRev() < s.store.currentRev(), "the newest revisions are kept");
  } finally {
    await s.stop();
  }
});

test("defragment while writes keep coming loses nothing", async () => {
  const s = await EtcdServer.start(config(freshDir()));
  try {
    await s.waitReady();
    for (let i = 0; i < 50; i++) await s.api.put(put(`d${i}`, "x".repeat(1000)));
    const writes = Array.from({ length: 50 }, (_, i) => s.api.put(put(`w${i}`, "y")));
    await Promise.all([s.api.defragment(), ...writes]);
    const r = await s.api.range({ ...range("d"), rangeEnd: Buffer.from("x") });
    assert.equal(r.count, 100);
  } finally {
    await s.stop();
  }
});

test("lease checkpoints persist the remaining TTL, which a restarted leader honours", async () => {
  const dir = freshDir();
  const cfg = config(dir, { leaseCheckpoint: { intervalMs: 100, persist: true } });
  let s = await EtcdServer.start(cfg);
  await s.waitReady();
  const g = await s.api.leaseGrant({ TTL: 600, ID: 0n });
  await new Promise((r) => setTimeout(r, 1500));
  await s.stop();
  s = await EtcdServer.start(cfg);
  try {
    await s.waitReady();
    const ttl = await s.api.leaseTimeToLive({ ID: g.ID, keys: false });
    assert.equal(ttl.grantedTTL, 600);
    assert.ok(ttl.TTL < 600 && ttl.TTL >= 590, `remaining ${ttl.TTL} s continues from the checkpoint`);
  } finally {
    await s.stop();
  }
});

const metricValue = (text: string, name: string) =>
  Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);

test("metrics: WAL fsyncs and backend commits are observed, proposals counted", async () => {
  // one change per batch: every applied write is its own backend commit
  const s = await EtcdServer.start(config(freshDir(), { backendBatchLimit: 1 }));
  try {
    await s.waitReady();
    for (let i = 0; i < 5; i++) await s.api.put(put(`m${i}`, "v"));
    await s.store.backend.whenCommitted();
    const text = await s.metrics.metrics();
    const value = (name: string) => metricValue(text, name);
    assert.ok(value("etcd_disk_wal_fsync_duration_seconds_count") >= 5);
    assert.ok(value("etcd_disk_backend_commit_duration_seconds_count") >= 5);
    assert.ok(value("etcd_server_proposals_committed_total") >= value("etcd_server_proposals_applied_total"));
    assert.ok(value("etcd_server_proposals_applied_total") >= 5);
    assert.equal(value("etcd_server_has_leader"), 1);
    assert.equal(value("etcd_server_is_leader"), 1);
  } finally {
    await s.stop();
  }
});

test("--backend-batch-interval reaches the backend: no commit before the interval, the commit times LMDB's", async () => {
  const s = await EtcdServer.start(config(freshDir(), { backendBatchIntervalMs: 60_000 }));
  try {
    await s.waitReady();
    const before = metricValue(await s.metrics.metrics(), "etcd_disk_backend_commit_duration_seconds_count");
    for (let i = 0; i < 5; i++) await s.api.put(put(`b${i}`, "v"));
    await new Promise((r) => setTimeout(r, 300));
    const text = await s.metrics.metrics();
    assert.equal(
      metricValue(text, "etcd_disk_backend_commit_duration_seconds_count"),
      before,
      "applied writes wait for the batch interval",
    );
    const got = await s.api.range(range("b4"));
    assert.equal(got.kvs[0]?.value.toString(), "v", "staged writes are read");
    await s.store.backend.whenCommitted();
    assert.equal(
      metricValue(await s.metrics.metrics(), "etcd_disk_backend_commit_duration_seconds_count"),
      before + 1,
      "the five writes went in one commit",
    );
  } finally {
    await s.stop();
  }
});

test("observers see every applied change on events$ and every Ready on readyBatches$", async () => {
  const s = await EtcdServer.start(config(freshDir()));
  try {
    await s.waitReady();
    const seen: number[] = [];
    const readies: number[] = [];
    const subs = [
      s.events$.subscribe((e) => seen.push(e.revision)),
      s.raft.readyBatches$.subscribe((r) => readies.push(r.committedEntries)),
    ];
    await s.api.put(put("e1", "a"));
    await s.api.txn({
      compare: [],
      success: [{ requestPut: put("e2", "b") }, { requestPut: put("e3", "c") }],
      failure: [],
    });
    await s.api.deleteRange({ key: Buffer.from("e1"), rangeEnd: Buffer.alloc(0), prevKv: false });
    for (const sub of subs) sub.unsubscribe();
    assert.deepEqual(seen, [2, 3, 4], "one emission per revision, in order");
    assert.ok(readies.reduce((a, b) => a + b, 0) >= 3, "the three proposals were committed through Readys");
  } finally {
    await s.stop();
  }
});
