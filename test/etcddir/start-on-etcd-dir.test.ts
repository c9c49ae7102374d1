// rxetcd started on data dirs Debian's etcd 3.4 wrote: it converts them beside etcd's files (which stay
// byte for byte as they were, so etcd starts on them again), and serves every key, lease, user, role,
// revision and member with etcd's ids.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { formatId, memberId } from "../../src/membership/ids.js";
import { requireEtcd } from "../bbolt/etcd-tools.js";
import { destroyAllMembers, Member } from "../e2e/harness.js";
import { fingerprints, type MemberState, memberState, ROOT, restoreInto } from "./etcd-tools.js";

const CONVERTED = "converted etcd 3.4 data dir";
const REUSED = "from its conversion made earlier";

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

async function ok(m: Member, args: string[], input?: string): Promise<string> {
  const r = await m.etcdctl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

describe("rxetcd on etcd 3.4 data dirs", { timeout: 300_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "rxetcd-etcddir-"));
  const pristine = join(work, "etcd-data");
  const snapshotFile = join(work, "etcd.snapshot");
  let expected: MemberState;
  let etcdMemberId: string;

  before(async () => {
    requireEtcd();
    const etcd = await Member.start({ binary: "etcd", name: "src" });
    await ok(etcd, ["put", "a", "1"]);
    await ok(etcd, ["put", "b", "2"]);
    await ok(etcd, ["put", "a", "3"]);
    await ok(etcd, ["del", "b"]);
    await ok(etcd, ["put", "gone", "x"]);
    await ok(etcd, ["put", "c", "4"]);
    const compactAt = Number(JSON.parse(await ok(etcd, ["get", "c", "-w", "json"])).header.revision);
    await ok(etcd, ["compact", String(compactAt)]);
    await ok(etcd, ["del", "gone"]);
    const lease = /lease ([0-9a-f]+) granted/.exec(await ok(etcd, ["lease", "grant", "600"]))?.[1];
    assert.ok(lease, "a lease id");
    await ok(etcd, ["put", "leased", "v", `--lease=${lease}`]);
    await ok(etcd, ["lease", "grant", "900"]);
    // a value over 1 MiB (etcd's default request limit is 1.5 MiB)
    await ok(etcd, ["put", "big"], Buffer.alloc(1_200_000, "0123456789abcdef").toString("latin1"));
    await ok(etcd, ["user", "add", "root:rootpw"]);
    await ok(etcd, ["user", "grant-role", "root", "root"]);
    await ok(etcd, ["role", "add", "reader"]);
    await ok(etcd, ["role", "grant-permission", "reader", "read", "a", "c"]);
    await ok(etcd, ["user", "add", "alice:alicepw"]);
    await ok(etcd, ["user", "grant-role", "alice", "reader"]);
    await ok(etcd, ["auth", "enable"]);
    await ok(etcd, [...ROOT, "put", "after-auth", "yes"]);
    await ok(etcd, [...ROOT, "snapshot", "save", snapshotFile]);
    expected = await memberState(etcd);
    etcdMemberId = expected.memberIds[0];
    assert.equal(expected.authEnabled, true);
    assert.equal(expected.leases.length, 2);
    assert.ok(expected.compactRevision > 0);
    await etcd.stop();
    cpSync(etcd.dataDir, pristine, { recursive: true });
  });

  after(async () => {
    await destroyAllMembers();
    rmSync(work, { recursive: true, force: true });
  });

  test("a data dir etcd wrote: served whole, etcd's files untouched, converted once, etcd starts on it again", async () => {
    const rx = await Member.start({
      binary: "rxetcd",
      name: "src",
      prepare: async (m) => cpSync(pristine, m.dataDir, { recursive: true }),
    });
    const state = await memberState(rx);
    assert.deepEqual(state, expected);
    assert.equal(state.memberIds[0], etcdMemberId, "etcd's member id");
    let log = readFileSync(rx.logFile, "utf8");
    assert.equal(count(log, CONVERTED), 1, "one line says what was converted");
    const line = log.split("\n").find((l) => l.includes(CONVERTED)) ?? "";
    assert.match(line, /"member-id":"[0-9a-f]+"/);
    assert.ok(line.includes(join(rx.dataDir, "member", "snap", "db")), "the line names etcd's db");

    // it goes on as the same member: writes continue the revisions
    const put = JSON.parse(await ok(rx, [...ROOT, "put", "by-rxetcd", "1", "-w", "json"]));
    assert.equal(put.header.revision, expected.revision + 1);
    const alice = await rx.etcdctl(["--user", "alice:alicepw", "get", "a", "--print-value-only"]);
    assert.equal(alice.stdout.trim(), "3", alice.stderr);
    await rx.stop();
    const ours = join(rx.dataDir, "member", "rxetcd");
    assert.deepEqual(
      fingerprints(rx.dataDir, ours),
      fingerprints(pristine, ""),
      "etcd's files are unchanged",
    );

    await rx.restart();
    log = readFileSync(rx.logFile, "utf8");
    assert.equal(count(log, CONVERTED), 1, "a second start does not convert again");
    assert.equal(count(log, REUSED), 1);
    const again = JSON.parse(await ok(rx, [...ROOT, "get", "by-rxetcd", "-w", "json"]));
    assert.equal(again.kvs.length, 1, "what was written after the conversion is kept");
    await rx.stop();
    assert.deepEqual(fingerprints(rx.dataDir, ours), fingerprints(pristine, ""));

    // back to etcd: it starts on its own files, as they were at the conversion
    const back = await Member.start({
      binary: "etcd",
      name: "src",
      prepare: async (m) => renameSync(rx.dataDir, m.dataDir),
    });
    const etcdAgain = await memberState(back);
    assert.deepEqual({ ...etcdAgain, leaseKeys: [] }, { ...expected, leaseKeys: [] });
    await back.stop();
  });

  test("a data dir from etcdctl snapshot restore of etcd's snapshot: every key, lease, user and revision", async () => {
    const rx = await Member.start({
      binary: "rxetcd",
      name: "restored",
      prepare: (m) => restoreInto(snapshotFile, m),
    });
    const state = await memberState(rx);
    const id = formatId(memberId([rx.peerUrl], "etcd-cluster"));
    assert.deepEqual(state.memberIds, [id], "the member id etcdctl derived from the new peer URL");
    assert.notEqual(state.clusterId, expected.clusterId, "a new cluster");
    const same = (s: MemberState) => ({ ...s, memberIds: [], clusterId: "" });
    assert.deepEqual(same(state), same(expected));
    assert.equal(count(readFileSync(rx.logFile, "utf8"), CONVERTED), 1);
    const snapDir = join(rx.dataDir, "member", "snap");
    assert.ok(
      readdirSync(snapDir).some((n) => n.endsWith(".snap")),
      "the restored dir has etcd's raft snapshot file",
    );
    const put = JSON.parse(await ok(rx, [...ROOT, "put", "next", "1", "-w", "json"]));
    assert.equal(put.header.revision, expected.revision + 1);
    await rx.stop();
  });
});
