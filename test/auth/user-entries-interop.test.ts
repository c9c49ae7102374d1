// The raft entries for UserAdd and UserChangePassword (and, for the header's place, Put and DeleteRange) are the ones etcd 3.4.23 proposes, byte for byte
// (all but the request ID, which each member draws itself): the same etcdctl commands are run against
// Debian's etcd and against rxetcd, and the entries are read back from each one's WAL. An etcd member
// of a mixed cluster applies rxetcd's entries as its own, and rxetcd stores the same users.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { readWalEntries } from "../../src/etcddir/index.js";
import { InternalRaftRequest } from "../../src/gen/etcdserverpb/raft_internal.js";
import { type Entry, EntryType } from "../../src/gen/raftpb/raft.js";
import { WireCursor } from "../../src/membership/gogo-wire.js";
import { WAL } from "../../src/wal/index.js";
import { type Binary, debianEtcd, destroyAllMembers, etcdctlPath, Member } from "../e2e/harness.js";

after(destroyAllMembers);

const ROOT = ["--user", "root:rootpw"];

async function ok(m: Member, args: string[], input?: string): Promise<string> {
  const res = await m.etcdctl(args, input === undefined ? {} : { input });
  assert.equal(res.code, 0, `${m.binary}: etcdctl ${args.join(" ")}: ${res.stderr}\n${m.logText()}`);
  return res.stdout;
}

/** The same commands against either server: users with and without password, changes with and without auth. */
async function userCommands(m: Member): Promise<void> {
  await ok(m, ["user", "add", "root:rootpw"]);
  await ok(m, ["user", "add", "alice:alicepw"]);
  await ok(m, ["user", "add", "nopw", "--no-password"]);
  await ok(m, ["user", "add", "carol", "--new-user-password=a:b c"]);
  await ok(m, ["user", "passwd", "alice", "--interactive=false"], "changed1\n");
  await ok(m, ["user", "grant-role", "root", "root"]);
  await ok(m, ["auth", "enable"]);
  await ok(m, [...ROOT, "user", "passwd", "alice", "--interactive=false"], "changed2\n");
  await ok(m, [...ROOT, "user", "add", "bob:bobpw"]);
  // a KV request's header goes after the request (etcd writes fields in number order)
  await ok(m, [...ROOT, "put", "k", "v"]);
  await ok(m, [...ROOT, "del", "k", "--prev-kv"]);
  // the passwords the member hashed when applying are the ones that log in (a user may read itself)
  for (const [name, password] of [
    ["alice", "changed2"],
    ["bob", "bobpw"],
    ["carol", "a:b c"],
  ])
    assert.match(
      await ok(m, ["--user", `${name}:${password}`, "user", "get", name]),
      new RegExp(`User: ${name}`),
    );
  const refused = await m.etcdctl(["--user", "alice:changed1", "user", "get", "alice"]);
  assert.notEqual(refused.code, 0, "the replaced password no longer logs in");
  assert.match(refused.stderr, /authentication failed, invalid user ID or password/);
}

/** The entry's bytes with the header's request ID (field 1 of field 100) left out, everything else as written. */
function withoutRequestId(data: Uint8Array): Buffer {
  const out: Buffer[] = [];
  const top = new WireCursor(data);
  while (!top.done) {
    const start = top.pos;
    const { field, wireType } = top.tag("InternalRaftRequest");
    if (field !== 100) {
      top.skip(wireType);
      out.push(Buffer.from(data.subarray(start, top.pos)));
      continue;
    }
    const header = top.delimited();
    const kept: Buffer[] = [];
    const h = new WireCursor(header);
    while (!h.done) {
      const at = h.pos;
      const t = h.tag("RequestHeader");
      if (t.field === 1) assert.notEqual(h.varint(), 0n, "the request carries an ID");
      else {
        h.skip(t.wireType);
        kept.push(Buffer.from(header.subarray(at, h.pos)));
      }
    }
    const body = Buffer.concat(kept);
    assert.ok(body.length < 128, "a short header");
    out.push(Buffer.from([0xa2, 0x06, body.length]), body);
  }
  return Buffer.concat(out);
}

/** The UserAdd, UserChangePassword, Put and DeleteRange entries of a log, in order. */
function comparedEntries(entries: Entry[]): Buffer[] {
  return entries
    .filter((e) => e.type === EntryType.EntryNormal && e.data.length > 0)
    .filter((e) => {
      try {
        const r = InternalRaftRequest.decode(e.data);
        return (
          r.authUserAdd !== undefined ||
          r.authUserChangePassword !== undefined ||
          r.put !== undefined ||
          r.deleteRange !== undefined
        );
      } catch {
        return false; // a bare v2 request
      }
    })
    .map((e) => withoutRequestId(e.data));
}

async function entriesOf(binary: Binary): Promise<Buffer[]> {
  // a loaded machine starts rxetcd from its sources slowly
  const m = await Member.start({ binary, name: "n1", startTimeoutMs: 120_000 });
  await userCommands(m);
  await m.stop();
  const walDir = join(m.dataDir, "member", "wal");
  if (binary === "etcd") return comparedEntries(readWalEntries(walDir));
  const opened = await WAL.open(walDir);
  try {
    return comparedEntries(opened.entries);
  } finally {
    await opened.wal.close();
  }
}

test("UserAdd, UserChangePassword, Put and DeleteRange entries equal etcd 3.4's; the passwords in them log in", async () => {
  assert.ok(
    debianEtcd,
    "this test needs Debian's etcd (apt-get install etcd-server): /usr/bin/etcd was not found",
  );
  etcdctlPath();
  const [etcd, rxetcd] = await Promise.all([entriesOf("etcd"), entriesOf("rxetcd")]);
  assert.equal(etcd.length, 9, "etcd proposed seven user entries, a put and a delete");
  const hex = (bs: Buffer[]) => bs.map((b) => b.toString("hex"));
  assert.deepEqual(hex(rxetcd), hex(etcd));
  // and they are what etcd 3.4 knows: the password in clear, no hash field
  const changed = InternalRaftRequest.decode(rxetcd[5]);
  assert.deepEqual(changed.authUserChangePassword, {
    name: "alice",
    password: Buffer.from("changed2"),
    hashedPassword: "",
  });
  assert.equal(changed.header?.username, "root");
});
