// Users, roles, permissions, the enabled flag and the auth revision travel in snapshots as etcd keeps them:
// the `auth`, `authUsers` and `authRoles` buckets of an rxetcd snapshot hold etcd's bytes for the same
// commands (password hashes aside: each member salts its own), Debian's etcd restored from an rxetcd
// snapshot starts with auth on and the same users, and a member that catches up through a merged snapshot
// (an rxetcd follower of etcd, an etcd follower of rxetcd) authenticates the same users with the same rights.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { Client, credentials } from "@grpc/grpc-js";
import bcrypt from "bcryptjs";
import { Etcd3 } from "etcd3";
import { BboltReader } from "../../src/bbolt/index.js";
import { User } from "../../src/gen/authpb/auth.js";
import { requireEtcd, restoreAndStart } from "../bbolt/etcd-tools.js";
import { Cluster, fastElections, memberAdd } from "./cluster-harness.js";
import { type Binary, destroyAllMembers, e2eTest, eventually, Member } from "./harness.js";
import { call, msg } from "./raw-grpc.js";

const ROOT = ["--user", "root:rootpw"];
// (the user named 61 ff 62, as Buffer.toString reads its name)
const PASSWORDS: Record<string, string> = {
  root: "rootpw",
  alice: "alicepw",
  bob: "bobpw",
  "a\u{fffd}b": "rawpw",
};

async function ok(m: Member, args: string[], input?: string): Promise<string> {
  const res = await m.etcdctl(args, { timeoutMs: 30_000, ...(input === undefined ? {} : { input }) });
  assert.equal(res.code, 0, `${m.binary} ${m.name}: etcdctl ${args.join(" ")}: ${res.stderr}`);
  return res.stdout;
}

async function refused(m: Member, args: string[], message: RegExp): Promise<void> {
  const res = await m.etcdctl(args, { timeoutMs: 30_000 });
  assert.notEqual(res.code, 0, `${m.binary} ${m.name}: etcdctl ${args.join(" ")} should fail`);
  assert.match(res.stderr, message, `${m.binary} ${m.name}: etcdctl ${args.join(" ")}`);
}

/** Users with and without roles and password, roles with key, range and prefix permissions, auth on. */
async function setUpAuth(m: Member): Promise<void> {
  await ok(m, ["user", "add", "root:rootpw"]);
  await ok(m, ["role", "add", "r1"]);
  await ok(m, ["role", "grant-permission", "r1", "readwrite", "a/", "--prefix"]);
  await ok(m, ["role", "grant-permission", "r1", "read", "b", "d"]);
  await ok(m, ["role", "grant-permission", "r1", "write", "single"]);
  await ok(m, ["role", "add", "r2"]);
  await ok(m, ["role", "grant-permission", "r2", "read", "", "--from-key"]);
  await ok(m, ["role", "add", "empty"]);
  await ok(m, ["user", "add", "alice:alicepw"]);
  await ok(m, ["user", "grant-role", "alice", "r1"]);
  await ok(m, ["user", "add", "bob:bobpw"]);
  await ok(m, ["user", "grant-role", "bob", "r1"]);
  await ok(m, ["user", "grant-role", "bob", "r2"]);
  await ok(m, ["user", "add", "nopw", "--no-password"]);
  // a user and a role named by bytes that are not UTF-8 (the bucket keys are those bytes)
  const client = new Client(`127.0.0.1:${m.clientPort}`, credentials.createInsecure());
  try {
    const [user, role] = [Buffer.from("61ff62", "hex"), Buffer.from("72ff", "hex")];
    for (const [method, body] of [
      ["UserAdd", msg([1, user], [2, "rawpw"])],
      ["RoleAdd", msg([1, role])],
      ["RoleGrantPermission", msg([1, role], [2, Buffer.from([0x08, 0x02, 0x12, 0x03, 0x72, 0x61, 0x77])])],
      ["UserGrantRole", msg([1, user], [2, role])],
    ] as const)
      assert.equal(
        (await call(client, `/etcdserverpb.Auth/${method}`, body))[0],
        "ok ",
        `${m.binary}: ${method}`,
      );
  } finally {
    client.close();
  }
  await ok(m, ["user", "grant-role", "root", "root"]);
  await ok(m, ["auth", "enable"]);
  await ok(m, [...ROOT, "role", "revoke-permission", "r1", "single"]);
}

/** What a member says about users and roles, and what it lets them do; `s`: serve reads locally. */
async function authView(m: Member, consistency: "l" | "s" = "l"): Promise<string[]> {
  const c = `--consistency=${consistency}`;
  await refused(m, ["get", "a/x", c], /etcdserver: user name is empty/);
  await refused(
    m,
    ["--user", "alice:wrong", "get", "a/x", c],
    /authentication failed, invalid user ID or password/,
  );
  await refused(m, ["--user", "alice:alicepw", "get", "zzz", c], /etcdserver: permission denied/);
  await refused(m, ["--user", "alice:alicepw", "put", "b", "1"], /etcdserver: permission denied/);
  const view = [
    await ok(m, ["--user", "alice:alicepw", "get", "a/", "--prefix", c]),
    await ok(m, ["--user", "bob:bobpw", "get", "zzz", c]),
    await ok(m, [...ROOT, "user", "list"]),
    await ok(m, [...ROOT, "role", "list"]),
  ];
  for (const u of ["root", "alice", "bob", "nopw"]) view.push(await ok(m, [...ROOT, "user", "get", u]));
  for (const r of ["r1", "r2", "empty"]) view.push(await ok(m, [...ROOT, "role", "get", r]));
  return view;
}

/** A bucket's entries as hex, with the bytes of each bcrypt hash (checked against its password) zeroed. */
function bucket(file: string, name: string): Array<[string, string]> {
  const reader = BboltReader.open(file);
  try {
    return [...reader.entries([name])].map((e) => {
      const value = Buffer.from(e.value);
      if (name === "authUsers") {
        const u = User.decode(value);
        const user = u.name.toString();
        if (u.password.length > 0) {
          const hash = u.password.toString("latin1");
          assert.ok(bcrypt.compareSync(PASSWORDS[user] ?? "", hash), `${file}: ${user}'s hash matches`);
          value.fill(0, value.indexOf(u.password), value.indexOf(u.password) + u.password.length);
        }
      }
      return [Buffer.from(e.key).toString("hex"), value.toString("hex")];
    });
  } finally {
    reader.close();
  }
}

describe("auth in snapshots", { timeout: 600_000 }, () => {
  after(destroyAllMembers);
  const dir = mkdtempSync(join(tmpdir(), "auth-snapshot-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  e2eTest(
    "an rxetcd snapshot's auth buckets are etcd's, and Debian's etcd restored from it has auth on and the same users",
    { timeout: 300_000 },
    async () => {
      requireEtcd();
      const files: Partial<Record<Binary, string>> = {};
      const views: Partial<Record<Binary, string[]>> = {};
      for (const binary of ["etcd", "rxetcd"] as Binary[]) {
        const m = await Member.start({ binary, name: "n1", startTimeoutMs: 120_000 });
        await setUpAuth(m);
        await ok(m, ["--user", "alice:alicepw", "put", "a/x", "1"]);
        const file = join(dir, `${binary}.db`);
        await ok(m, [...ROOT, "snapshot", "save", file]);
        files[binary] = file;
        views[binary] = await authView(m);
        await m.destroy();
      }
      const [etcdFile, rxFile] = [files.etcd as string, files.rxetcd as string];
      for (const name of ["auth", "authUsers", "authRoles"])
        assert.deepEqual(bucket(rxFile, name), bucket(etcdFile, name), `the ${name} bucket`);
      assert.deepEqual(views.rxetcd, views.etcd, "rxetcd answers as etcd");

      const restored = await restoreAndStart(rxFile);
      try {
        assert.deepEqual(await authView(restored), views.etcd, "etcd restored from rxetcd's snapshot");
      } finally {
        await restored.destroy();
      }
    },
  );

  for (const existing of ["etcd", "rxetcd"] as Binary[]) {
    const joiner: Binary = existing === "etcd" ? "rxetcd" : "etcd";
    e2eTest(
      `an ${joiner} member that catches up from ${existing} members through a snapshot authenticates the same users`,
      { timeout: 300_000 },
      async () => {
        requireEtcd();
        const c = await Cluster.start({
          binaries: [existing, existing],
          extraArgs: ["--snapshot-count", "1000"],
          startTimeoutMs: 120_000,
        });
        await setUpAuth(c.members[0]);
        const expected = await authView(c.members[0]);
        // past the leader's snapshot and the entries it keeps for followers, so the newcomer gets a snapshot
        const client = new Etcd3({
          hosts: c.members.map((m) => m.clientUrl),
          auth: { username: "root", password: "rootpw" },
        });
        try {
          let next = 0;
          const worker = async () => {
            while (next < 6000) {
              const i = next++;
              await client.put(`bulk/${i}`).value("v");
            }
          };
          await Promise.all(Array.from({ length: 32 }, worker));
        } finally {
          client.close();
        }
        const newcomer = await Member.create({
          binary: joiner,
          name: "m3",
          extraArgs: [...fastElections, "--snapshot-count", "1000"],
          startTimeoutMs: 120_000,
          clusterArgs: ["--initial-cluster-state", "existing"],
        });
        const add = await memberAdd(c.members[0], ["m3", `--peer-urls=${newcomer.peerUrl}`, ...ROOT]);
        assert.equal(add.code, 0, add.stderr);
        const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1];
        assert.ok(initial, add.stdout);
        newcomer.initialCluster = initial;
        await newcomer.launch();
        c.members.push(newcomer);
        await eventually(
          "the newcomer applied the writes",
          async () => {
            const r = await newcomer.etcdctl([
              ...ROOT,
              "get",
              "bulk/5999",
              "--consistency=s",
              "--print-value-only",
            ]);
            return r.code === 0 && r.stdout === "v\n" ? true : undefined;
          },
          120_000,
        );
        const installed =
          joiner === "rxetcd" ? /applied snapshot from the leader/ : /"msg":"applied snapshot"/;
        assert.match(newcomer.logText(10_000_000), installed, `the ${joiner} member got a snapshot`);
        const members = await ok(newcomer, [...ROOT, "member", "list"]);
        assert.equal(members.trim().split("\n").length, 3, members);
        // served from the newcomer's own auth store: password checks, permissions, serializable reads
        assert.deepEqual(await authView(newcomer, "s"), expected);
        assert.deepEqual(await authView(newcomer), expected);

        // users added and passwords changed now reach the newcomer as entries the other implementation
        // proposed, with the password in them: the newcomer hashes it and checks logins against its own store
        await ok(c.members[0], [...ROOT, "user", "add", "dave:davepw"]);
        await ok(c.members[0], [...ROOT, "user", "grant-role", "dave", "r1"]);
        await ok(c.members[0], [...ROOT, "user", "passwd", "bob", "--interactive=false"], "bobpw2\n");
        await ok(c.members[0], ["--user", "dave:davepw", "put", "a/dave", "d"]);
        const viaNewcomer = (user: string, password: string) =>
          newcomer.etcdctl([
            "--user",
            `${user}:${password}`,
            "get",
            "a/dave",
            "--consistency=s",
            "--print-value-only",
          ]);
        await eventually(
          "the newcomer serves dave",
          async () => ((await viaNewcomer("dave", "davepw")).stdout === "d\n" ? true : undefined),
          30_000,
        );
        assert.equal((await viaNewcomer("bob", "bobpw2")).stdout, "d\n");
        const stale = await viaNewcomer("bob", "bobpw");
        assert.notEqual(stale.code, 0);
        assert.match(stale.stderr, /authentication failed, invalid user ID or password/);
      },
    );
  }
});
