// Membership against a real etcd 3.4.23: its WAL replayed through RaftCluster gives the v2 store of its
// newest snapshot byte for byte, its snapshot Data recovers to what `etcdctl member list` shows, and
// etcd itself restarts from snapshot Data that rxetcd wrote.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { isLosslessNumber, parse } from "lossless-json";
import { newestSnapFile, readSnapFile, readWalEntries, writeSnapFile } from "../../src/etcddir/index.js";
import { ConfChange, EntryType } from "../../src/gen/raftpb/raft.js";
import {
  bootstrapContext,
  memberAddContext,
  memberUpdateContext,
  newMemberId,
  RaftCluster,
} from "../../src/membership/cluster.js";
import { parseGoTime } from "../../src/membership/go-time.js";
import { formatId } from "../../src/membership/ids.js";
import { decodeEntryData, encodeV2Request } from "../../src/membership/v2-request.js";
import { debianEtcd, destroyAllMembers, etcdctlPath, freePort, Member } from "../e2e/harness.js";

after(destroyAllMembers);

const TOKEN = "membership-interop";

interface ListedMember {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

async function memberList(m: Member): Promise<ListedMember[]> {
  const res = await m.etcdctl(["member", "list", "-w", "json"]);
  assert.equal(res.code, 0, res.stderr);
  const doc = parse(res.stdout) as { members: Array<Record<string, unknown>> };
  return doc.members
    .map((x) => {
      assert.ok(isLosslessNumber(x.ID));
      return {
        id: BigInt(x.ID.value),
        name: (x.name as string | undefined) ?? "",
        peerUrls: (x.peerURLs as string[] | undefined) ?? [],
        clientUrls: (x.clientURLs as string[] | undefined) ?? [],
        isLearner: x.isLearner === true,
      };
    })
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

async function ctl(m: Member, args: string[]): Promise<string> {
  const res = await m.etcdctl(args);
  assert.equal(res.code, 0, `etcdctl ${args.join(" ")}: ${res.stderr}`);
  return res.stdout;
}

async function v2(m: Member, method: string, key: string, form?: Record<string, string>): Promise<void> {
  const res = await fetch(`${m.clientUrl}/v2/keys${key}`, {
    method,
    ...(form
      ? {
          body: new URLSearchParams(form).toString(),
          headers: { "content-type": "application/x-www-form-urlencoded" },
        }
      : {}),
  });
  assert.ok(res.status < 300, `v2 ${method} ${key}: ${res.status} ${await res.text()}`);
}

/** The Root of a v2 store document as written, with every ExpireTime in nanoseconds (zones differ). */
function rootOf(data: string): string {
  const end = data.includes(',"WatcherHub":')
    ? data.indexOf(',"WatcherHub":')
    : data.indexOf(',"CurrentIndex":');
  assert.ok(data.startsWith('{"Root":') && end > 0, "a v2 store document");
  return data
    .slice(8, end)
    .replace(/"ExpireTime":"([^"]+)"/g, (_, t: string) => `"ExpireTime":${parseGoTime(t)}`);
}

/** The id in etcdctl's "Member %16x added to cluster %16x" (space-padded below 16 digits). */
function addedId(out: string): bigint {
  const hexId = /Member\s+([0-9a-f]+) added/.exec(out)?.[1];
  if (!hexId) assert.fail(`no member id in: ${out}`);
  return BigInt(`0x${hexId}`);
}

const currentIndexOf = (data: string) => /"CurrentIndex":(\d+)/.exec(data)?.[1];

test("a real etcd's WAL, snapshot and member list agree with RaftCluster, and etcd restarts from our Data", async () => {
  assert.ok(
    debianEtcd,
    "this test needs Debian's etcd (apt-get install etcd-server): /usr/bin/etcd was not found",
  );
  etcdctlPath();
  const etcd = await Member.start({
    binary: "etcd",
    name: "n1",
    extraArgs: ["--snapshot-count", "5", "--initial-cluster-token", TOKEN, "--enable-v2"],
  });
  const memberDir = join(etcd.dataDir, "member");

  for (let i = 0; i < 6; i++) await ctl(etcd, ["put", `k${i}`, `v${i}`]);
  await v2(etcd, "PUT", "/dir/foo", { value: "bar" });
  await v2(etcd, "PUT", "/dir/gone", { value: "x" });
  await v2(etcd, "DELETE", "/dir/gone");
  await v2(etcd, "POST", "/queue", { value: "job" });
  await v2(etcd, "PUT", "/dir/foo", { value: "baz", prevValue: "bar" });
  await v2(etcd, "PUT", "/dir/created", { value: "c", prevExist: "false" });
  await v2(etcd, "PUT", "/ttl", { value: "t", ttl: "600" });

  const learnerUrl = `http://127.0.0.1:${await freePort()}`;
  const movedUrl = `http://127.0.0.1:${await freePort()}`;
  const learner2Url = `http://127.0.0.1:${await freePort()}`;
  const t0 = Math.floor(Date.now() / 1000);
  const added = await ctl(etcd, ["member", "add", "lrn", "--learner", `--peer-urls=${learnerUrl}`]);
  const t1 = Math.ceil(Date.now() / 1000);
  const learnerId = addedId(added);
  await ctl(etcd, ["member", "update", formatId(learnerId), `--peer-urls=${movedUrl}`]);
  // etcd 3.4's quirk: the update replaced the raft attributes, so the learner is a voter now
  const afterUpdate = (await memberList(etcd)).find((m) => m.id === learnerId);
  assert.deepEqual([afterUpdate?.peerUrls, afterUpdate?.isLearner], [[movedUrl], false]);
  await ctl(etcd, ["member", "remove", formatId(learnerId)]);
  const added2 = await ctl(etcd, ["member", "add", "lrn2", "--learner", `--peer-urls=${learner2Url}`]);
  const learner2Id = addedId(added2);
  for (let i = 0; i < 12; i++) await ctl(etcd, ["put", `later${i}`, `v${i}`]);

  const listed = await memberList(etcd);
  const version = (await etcd.http("/version")).json() as { etcdcluster: string };
  await etcd.stop();

  // the member id of `member add`: SHA-1 of the URLs and the time, no token
  const candidates = [];
  for (let s = t0 - 1; s <= t1 + 1; s++) candidates.push(newMemberId([learnerUrl], s));
  assert.ok(candidates.includes(learnerId), "newMemberId reproduces the id etcd gave the learner");

  // ---- the snapshot Data etcd wrote, read by RaftCluster ----
  const snapPath = newestSnapFile(join(memberDir, "snap"));
  const snapshot = readSnapFile(snapPath);
  const etcdData = snapshot.data.toString("utf8");
  const snapIndex = snapshot.metadata?.index ?? 0;
  assert.ok(snapIndex > 20, `a snapshot late in the log (index ${snapIndex})`);
  const fromEtcd = RaftCluster.fromSnapshotData(0n, 0n, snapshot.data);
  const view = (ms: ListedMember[]) =>
    ms.map((m) => [formatId(m.id), m.name, m.peerUrls, m.clientUrls, m.isLearner]);
  assert.deepEqual(view(fromEtcd.list()), view(listed));
  assert.equal(fromEtcd.version(), version.etcdcluster);
  assert.equal(fromEtcd.version(), "3.4.0");
  assert.deepEqual(fromEtcd.removedIds(), [learnerId]);
  assert.deepEqual(fromEtcd.learnerIds(), [learner2Id]);
  assert.equal(fromEtcd.hasTtlKeys(), true);
  assert.equal(
    rootOf(fromEtcd.toSnapshotData().toString()),
    rootOf(etcdData),
    "etcd's tree survives our round trip",
  );

  // ---- etcd's WAL replayed through RaftCluster gives the same tree at the snapshot's index ----
  const initial = new Map([["n1", [etcd.peerUrl]]]);
  const replica = RaftCluster.fromInitialCluster("n1", initial, TOKEN);
  const entries = readWalEntries(join(memberDir, "wal")).filter((e) => e.index <= snapIndex);
  assert.equal(entries[0]?.index, 1, "the WAL still starts at index 1");
  const contexts: string[] = [];
  const methods = new Set<string>();
  let v3 = 0;
  for (const e of entries) {
    if (e.type === EntryType.EntryConfChange) {
      const change = ConfChange.decode(e.data);
      contexts.push(change.context.toString());
      assert.equal(replica.validateConfChange(change), undefined, `entry ${e.index}`);
      replica.applyConfChange(change);
    } else if (e.data.length > 0) {
      const decoded = decodeEntryData(e.data);
      if (decoded.kind === "v3") {
        v3++;
        continue;
      }
      methods.add(decoded.req.Method);
      assert.equal(
        encodeV2Request(decoded.req).toString("hex"),
        e.data.toString("hex"),
        `entry ${e.index} re-encodes`,
      );
      replica.applyV2(decoded.req);
    }
  }
  assert.ok(v3 >= 6, "the puts are v3 requests");
  for (const m of ["DELETE", "POST", "PUT"])
    assert.ok(methods.has(m), `a v2 ${m} in the WAL (saw ${[...methods]})`);
  assert.deepEqual(contexts, [
    bootstrapContext({ id: replica.localId, peerUrls: [etcd.peerUrl], name: "n1" }).toString(),
    memberAddContext({ id: learnerId, peerUrls: [learnerUrl], isLearner: true }).toString(),
    memberUpdateContext(learnerId, [movedUrl]).toString(),
    "",
    memberAddContext({ id: learner2Id, peerUrls: [learner2Url], isLearner: true }).toString(),
  ]);
  const ours = replica.toSnapshotData().toString();
  assert.equal(rootOf(ours), rootOf(etcdData), "the replayed tree equals etcd's, byte for byte");
  assert.equal(currentIndexOf(ours), currentIndexOf(etcdData));

  // ---- etcd restarts from snapshot Data that rxetcd wrote ----
  writeSnapFile(snapPath, { ...snapshot, data: replica.toSnapshotData() });
  await etcd.restart();
  assert.deepEqual(view(await memberList(etcd)), view(listed));
  assert.equal(((await etcd.http("/version")).json() as { etcdcluster: string }).etcdcluster, "3.4.0");
  const foo = await fetch(`${etcd.clientUrl}/v2/keys/dir/foo`);
  assert.equal(((await foo.json()) as { node: { value: string } }).node.value, "baz");
  await ctl(etcd, ["put", "after-restart", "ok"]);
  await etcd.stop();
});
