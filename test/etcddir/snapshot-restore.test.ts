// `rxetcd snapshot restore` beside `etcdctl snapshot restore`: snapshots of Debian's etcd and of rxetcd
// (leases, deleted keys, compacted history, a value over 1 MiB) restore to members with the same ids,
// revisions and HashKV as etcdctl's restore gives etcd.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { etcdMemberPaths, readEtcdMemberDir } from "../../src/etcddir/index.js";
import { RaftCluster } from "../../src/membership/cluster.js";
import { clusterId, formatId, memberId } from "../../src/membership/ids.js";
import { decodeWalMetadata } from "../../src/server/bootstrap.js";
import { WAL } from "../../src/wal/index.js";
import { requireEtcd } from "../bbolt/etcd-tools.js";
import { destroyAllMembers, etcdctl, Member } from "../e2e/harness.js";
import { restoreInto } from "./etcd-tools.js";

const rxetcdBin = fileURLToPath(new URL("../../bin/rxetcd.js", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function rxetcd(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [rxetcdBin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `rxetcd snapshot restore` into a member's (not yet existing) data dir. */
async function rxRestore(file: string, m: Member, extra: string[] = []): Promise<void> {
  const r = await rxetcd([
    "snapshot",
    "restore",
    file,
    "--data-dir",
    m.dataDir,
    "--name",
    m.name,
    "--initial-cluster",
    `${m.name}=${m.peerUrl}`,
    "--initial-advertise-peer-urls",
    m.peerUrl,
    ...extra,
  ]);
  assert.equal(r.code, 0, `rxetcd snapshot restore: ${r.stderr}`);
  assert.match(r.stderr, /"msg":"restoring snapshot"/);
  assert.match(r.stderr, /"msg":"restored snapshot"/);
}

async function ok(m: Member, args: string[], input?: string): Promise<string> {
  const r = await m.etcdctl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

interface Seen {
  revision: number;
  hash: number;
  compactRevision: number;
  keys: string;
  leases: string;
  members: string;
  header: { clusterId: string; memberId: string };
}

async function seen(m: Member): Promise<Seen> {
  const get = await ok(m, ["get", "", "--from-key", "-w", "json"]);
  const hashkv = JSON.parse(await ok(m, ["endpoint", "hashkv", "-w", "json"]))[0].HashKV;
  const kvs = (JSON.parse(get).kvs ?? []) as Array<Record<string, unknown>>;
  return {
    revision: JSON.parse(get).header.revision,
    hash: hashkv.hash,
    compactRevision: hashkv.compact_revision,
    keys: kvs
      .map(
        (kv) =>
          `${kv.key} ${kv.create_revision} ${kv.mod_revision} ${kv.version} ${kv.lease ?? 0} ${String(kv.value ?? "").length}`,
      )
      .join("\n"),
    leases: (await ok(m, ["lease", "list"])).split("\n").slice(1).sort().join(","),
    members: (await ok(m, ["member", "list"])).split(", ").slice(0, 1).join(),
    header: {
      // the ids do not fit in JSON numbers: read from the text
      clusterId: /"cluster_id":(\d+)/.exec(get)?.[1] ?? "",
      memberId: /"member_id":(\d+)/.exec(get)?.[1] ?? "",
    },
  };
}

describe("rxetcd snapshot restore", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "rxetcd-restore-"));
  const etcdSnapshot = join(work, "etcd.snapshot");
  const etcdDb = join(work, "etcd-data-dir.db");
  let expected: Seen;

  before(async () => {
    requireEtcd();
    const etcd = await Member.start({ binary: "etcd", name: "src" });
    await ok(etcd, ["put", "a", "1"]);
    await ok(etcd, ["put", "b", "2"]);
    await ok(etcd, ["put", "a", "3"]);
    await ok(etcd, ["del", "b"]);
    await ok(etcd, ["put", "c", "4"]);
    await ok(etcd, ["compact", "4"]);
    const lease = /lease ([0-9a-f]+) granted/.exec(await ok(etcd, ["lease", "grant", "600"]))?.[1];
    await ok(etcd, ["put", "leased", "v", `--lease=${lease}`]);
    await ok(etcd, ["put", "big"], Buffer.alloc(1_100_000, "abcdefgh").toString("latin1"));
    await ok(etcd, ["snapshot", "save", etcdSnapshot]);
    expected = await seen(etcd);
    await etcd.stop();
    cpSync(join(etcd.dataDir, "member", "snap", "db"), etcdDb);
  });

  after(async () => {
    await destroyAllMembers();
    rmSync(work, { recursive: true, force: true });
  });

  test("etcd's snapshot: the member etcdctl's restore gives etcd, with the same ids, raft state, revisions and HashKV", async () => {
    const ours = await Member.create({
      binary: "rxetcd",
      name: "r1",
      prepare: (m) => rxRestore(etcdSnapshot, m),
    });
    // etcdctl's restore of the same file for the same member
    const theirsDir = join(work, "theirs");
    const r = await etcdctl([
      "snapshot",
      "restore",
      etcdSnapshot,
      "--data-dir",
      theirsDir,
      "--name",
      "r1",
      "--initial-cluster",
      `r1=${ours.peerUrl}`,
      "--initial-advertise-peer-urls",
      ours.peerUrl,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const theirs = readEtcdMemberDir(etcdMemberPaths(theirsDir));
    const opened = await WAL.open(join(ours.dataDir, "member", "wal"));
    await opened.wal.close();
    const ids = decodeWalMetadata(opened.metadata, "wal");
    const id = memberId([ours.peerUrl], "etcd-cluster");
    assert.deepEqual([ids.memberId, ids.clusterId], [theirs.memberId, theirs.clusterId]);
    assert.deepEqual([ids.memberId, ids.clusterId], [id, clusterId([id])]);
    assert.deepEqual(
      opened.hardState,
      theirs.hardState,
      "term 1, the lowest member voted for, commit = members",
    );
    const ourSnap = opened.snapshot;
    const theirSnap = theirs.snapshot?.snapshot;
    assert.deepEqual(ourSnap?.metadata, theirSnap?.metadata, "raft snapshot at index and term 1, the voters");
    const members = (data: Buffer | undefined) =>
      RaftCluster.fromSnapshotData(id, id, data ?? Buffer.alloc(0))
        .list()
        .map((m) => [m.id, m.peerUrls, m.isLearner]);
    assert.deepEqual(members(ourSnap?.data), members(theirSnap?.data));

    await ours.launch();
    const got = await seen(ours);
    await ours.stop();
    assert.equal(got.members, formatId(id));
    assert.deepEqual(
      { ...got, members: "", header: undefined },
      { ...expected, members: "", header: undefined },
    );

    const etcd = await Member.start({
      binary: "etcd",
      name: "r1",
      prepare: async (m) => cpSync(theirsDir, m.dataDir, { recursive: true }),
    });
    const onTheirs = await seen(etcd);
    await etcd.stop();
    assert.deepEqual(onTheirs, got, "etcd on etcdctl's restore serves what rxetcd serves on ours");
  });

  test("rxetcd's own snapshot and a data dir's db (--skip-hash-check) restore whole", async () => {
    const first = await Member.start({
      binary: "rxetcd",
      name: "r2",
      prepare: (m) => rxRestore(etcdSnapshot, m),
    });
    const rxSnapshot = join(work, "rxetcd.snapshot");
    await ok(first, ["snapshot", "save", rxSnapshot]);
    const fromFirst = await seen(first);
    await first.stop();
    const second = await Member.start({
      binary: "rxetcd",
      name: "r3",
      prepare: (m) => rxRestore(rxSnapshot, m),
    });
    const got = await seen(second);
    assert.deepEqual(
      { ...got, members: "", header: undefined },
      { ...fromFirst, members: "", header: undefined },
    );
    assert.deepEqual(
      { ...got, members: "", header: undefined },
      { ...expected, members: "", header: undefined },
    );
    // and etcd restores rxetcd's snapshot to the same content
    const etcd = await Member.start({
      binary: "etcd",
      name: "r4",
      prepare: (m) => restoreInto(rxSnapshot, m),
    });
    const onEtcd = await seen(etcd);
    assert.deepEqual(
      { ...onEtcd, members: "", header: undefined },
      { ...expected, members: "", header: undefined },
    );
    await etcd.stop();
    await second.stop();

    const fromDb = await Member.start({
      binary: "rxetcd",
      name: "r5",
      prepare: (m) => rxRestore(etcdDb, m, ["--skip-hash-check"]),
    });
    const dbState = await seen(fromDb);
    assert.deepEqual(
      { ...dbState, members: "", header: undefined },
      { ...expected, members: "", header: undefined },
    );
    await fromDb.stop();
  });
});
