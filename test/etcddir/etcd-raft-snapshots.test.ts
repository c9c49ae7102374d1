// An etcd data dir whose log went through raft snapshots (--snapshot-count small): rxetcd takes the newest
// `.snap` file the WAL vouches for, the entries after it and etcd's backend, and serves what etcd served.
// A member with --wal-dir elsewhere is converted from both places.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { etcdMemberPaths, readEtcdMemberDir } from "../../src/etcddir/index.js";
import { requireEtcd } from "../bbolt/etcd-tools.js";
import { destroyAllMembers, Member } from "../e2e/harness.js";

async function ok(m: Member, args: string[]): Promise<string> {
  const r = await m.etcdctl(args);
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

async function view(m: Member): Promise<{ revision: number; hash: number; kvs: string; leases: string }> {
  const got = JSON.parse(await ok(m, ["get", "", "--from-key", "-w", "json"]));
  const hashkv = JSON.parse(await ok(m, ["endpoint", "hashkv", "-w", "json"]))[0].HashKV;
  return {
    revision: got.header.revision,
    hash: hashkv.hash,
    kvs: (got.kvs ?? [])
      .map(
        (kv: Record<string, unknown>) => `${kv.key}@${kv.create_revision}/${kv.mod_revision}/${kv.version}`,
      )
      .join(" "),
    leases: (await ok(m, ["lease", "list"])).split("\n").slice(1).sort().join(","),
  };
}

describe("etcd data dirs with raft snapshots or a separate WAL dir", { timeout: 180_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "rxetcd-etcd-snaps-"));
  after(async () => {
    await destroyAllMembers();
    rmSync(work, { recursive: true, force: true });
  });

  test("the newest usable .snap, the entries after it and the backend give etcd's state", async () => {
    requireEtcd();
    const etcd = await Member.start({ binary: "etcd", name: "s", extraArgs: ["--snapshot-count", "5"] });
    for (let i = 0; i < 24; i++) await ok(etcd, ["put", `k${i % 7}`, `v${i}`]);
    await ok(etcd, ["del", "k3"]);
    await ok(etcd, ["lease", "grant", "300"]);
    await ok(etcd, ["put", "last", "x"]);
    const expected = await view(etcd);
    await etcd.stop();
    const pristine = join(work, "etcd");
    cpSync(etcd.dataDir, pristine, { recursive: true });

    const snaps = readdirSync(join(pristine, "member", "snap")).filter((n) => n.endsWith(".snap"));
    assert.ok(snaps.length >= 2, `etcd took raft snapshots (${snaps.join(", ")})`);
    const state = readEtcdMemberDir(etcdMemberPaths(pristine));
    const snapIndex = state.snapshot?.snapshot.metadata?.index ?? 0;
    assert.ok(snapIndex >= 20, `a late snapshot is used (index ${snapIndex})`);
    assert.equal(state.entries[0]?.index, snapIndex + 1, "the entries continue after it");
    assert.ok(state.backend.consistentIndex >= snapIndex);

    const rx = await Member.start({
      binary: "rxetcd",
      name: "s",
      prepare: async (m) => cpSync(pristine, m.dataDir, { recursive: true }),
    });
    assert.deepEqual(await view(rx), expected);
    const line = readFileSync(rx.logFile, "utf8")
      .split("\n")
      .find((l) => l.includes("converted etcd 3.4 data dir"));
    assert.ok(
      line?.includes(state.snapshot?.file.split("/").at(-1) ?? "?"),
      `the line names the .snap file: ${line}`,
    );
    assert.match(line ?? "", new RegExp(`"snapshot-index":${snapIndex}`));
    const put = JSON.parse(await ok(rx, ["put", "after", "1", "-w", "json"]));
    assert.equal(put.header.revision, expected.revision + 1);
    await rx.stop();
    await rx.restart();
    assert.equal(JSON.parse(await ok(rx, ["get", "after", "-w", "json"])).kvs.length, 1);
    await rx.stop();
  });

  test("an etcd member with a separate --wal-dir: converted from both, etcd's WAL dir left as it was", async () => {
    requireEtcd();
    const etcdWal = join(work, "etcd-wal");
    const etcd = await Member.start({ binary: "etcd", name: "w", extraArgs: ["--wal-dir", etcdWal] });
    for (let i = 0; i < 5; i++) await ok(etcd, ["put", `w${i}`, `v${i}`]);
    const expected = await view(etcd);
    await etcd.stop();
    const rxWal = join(work, "rx-wal");
    cpSync(etcdWal, rxWal, { recursive: true });
    const before = readdirSync(rxWal).sort();
    const rx = await Member.start({
      binary: "rxetcd",
      name: "w",
      extraArgs: ["--wal-dir", rxWal],
      prepare: async (m) => cpSync(etcd.dataDir, m.dataDir, { recursive: true }),
    });
    assert.deepEqual(await view(rx), expected);
    await rx.stop();
    assert.deepEqual(readdirSync(rxWal).sort(), before, "nothing added to etcd's WAL dir");
    assert.ok(readdirSync(join(rx.dataDir, "member", "rxetcd")).includes("wal"));
    await rx.restart();
    assert.equal(
      readFileSync(rx.logFile, "utf8").split("converted etcd 3.4 data dir").length - 1,
      1,
      "converted once",
    );
    assert.deepEqual(await view(rx), expected);
    await rx.stop();
  });
});
