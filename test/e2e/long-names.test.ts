// User and role names longer than an LMDB key (1,978 bytes) up to bbolt's longest key (32,768 bytes),
// as etcd 3.4 keeps them: added, granted, listed in byte order among short names, read, used to log in
// and checked, changed and deleted; the same after a restart, in a snapshot (read by our bbolt reader,
// restored by etcdctl and served by etcd 3.4), and answered alike by etcd 3.4 side by side when it is
// installed.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe } from "node:test";
import { BboltReader } from "../../src/bbolt/index.js";
import { User } from "../../src/gen/authpb/auth.js";
import { restoreAndStart } from "../bbolt/etcd-tools.js";
import {
  type CtlResult,
  debianEtcd,
  destroyAllMembers,
  e2eTest,
  Member,
  startMembersOnce,
} from "./harness.js";

const U2K = "u".repeat(2000);
const U32K = "u".repeat(32_768);
const R2K = "r".repeat(2000);
const R32K = "r".repeat(32_768);
/** Every user in byte order: the long names sort among the short ones. */
const USERS = ["root", "t", U2K, U32K, "ua", "v"].sort((a, b) =>
  Buffer.compare(Buffer.from(a), Buffer.from(b)),
);
const ROLES = ["ra", R2K, R32K, "root", "rz"].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
const ROOT = ["--user", "root:rootpw"];

describe("user and role names longer than an LMDB key", () => {
  let rx: Member;
  let ref: Member | undefined;

  startMembersOnce(async () => {
    [rx, ref] = await Promise.all([
      Member.start({ name: "long" }),
      debianEtcd ? Member.start({ binary: "etcd", name: "long" }) : undefined,
    ]);
  });
  after(async () => {
    await destroyAllMembers();
  });

  const members = () => (ref ? [rx, ref] : [rx]);
  const brief = (r: CtlResult) => `code ${r.code}: ${r.stderr.slice(0, 300)}`;

  /** Runs etcdctl on rxetcd (and etcd): both must succeed (or fail) alike and print the same. */
  async function ctl(args: string[], expectOk = true, input?: string): Promise<CtlResult> {
    const [mine, theirs] = await Promise.all(
      members().map((m) => m.etcdctl(args, { timeoutMs: 60_000, ...(input === undefined ? {} : { input }) })),
    );
    assert.equal(mine.code === 0, expectOk, `etcdctl ${args[0]} ${args[1] ?? ""}: ${brief(mine)}`);
    if (theirs) {
      assert.equal(theirs.code, mine.code, `etcd 3.4 (expected) ${brief(theirs)}; rxetcd ${brief(mine)}`);
      assert.equal(
        mine.stdout,
        theirs.stdout,
        `etcdctl ${args[0]} ${args[1] ?? ""}: rxetcd differs from etcd 3.4`,
      );
      if (!expectOk) assert.equal(mine.stderr.split("\n").at(-2), theirs.stderr.split("\n").at(-2));
    }
    return mine;
  }

  const lines = (r: CtlResult) => r.stdout.split("\n").filter((l) => l !== "");

  async function checkListsAndLogins(): Promise<void> {
    assert.deepEqual(lines(await ctl([...ROOT, "user", "list"])), USERS);
    assert.deepEqual(lines(await ctl([...ROOT, "role", "list"])), ROLES);
    assert.deepEqual(lines(await ctl([...ROOT, "user", "get", U2K])), [
      `User: ${U2K}`,
      `Roles: ${R2K} ${R32K}`,
    ]);
    // logins with the long names, and their roles' permissions checked
    assert.equal((await ctl(["--user", `${U2K}:pw2k`, "put", "k2", "two"])).stdout.trim(), "OK");
    assert.deepEqual(lines(await ctl(["--user", `${U32K}:pw32k`, "get", "k32"])), ["k32", "thirty-two"]);
    await ctl(["--user", `${U32K}:pw32k`, "put", "k32", "x"], false);
    await ctl(["--user", `${U32K}:wrong`, "get", "k32"], false);
  }

  e2eTest(
    "added, granted, listed in byte order, logged in with and checked, after a restart too",
    {},
    async () => {
      for (const name of USERS)
        await ctl([
          "user",
          "add",
          `${name}:${name === "root" ? "rootpw" : name === U2K ? "pw2k" : name === U32K ? "pw32k" : "pw"}`,
        ]);
      for (const name of ROLES) await ctl(["role", "add", name]);
      await ctl(["user", "grant-role", "root", "root"]);
      await ctl(["role", "grant-permission", R2K, "readwrite", "k2"]);
      await ctl(["role", "grant-permission", R32K, "read", "k32"]);
      await ctl(["user", "grant-role", U2K, R32K]);
      await ctl(["user", "grant-role", U2K, R2K]);
      await ctl(["user", "grant-role", U32K, R32K]);
      assert.deepEqual(lines(await ctl(["role", "get", R32K])), [
        `Role ${R32K}`,
        "KV Read:",
        "\tk32",
        "KV Write:",
      ]);
      await ctl(["put", "k32", "thirty-two"]);
      await ctl(["auth", "enable"]);
      await checkListsAndLogins();

      await rx.stop();
      await rx.restart();
      await checkListsAndLogins();
    },
  );

  e2eTest(
    "a snapshot holds the long names whole, and etcd 3.4 serves them once it is restored",
    { timeout: 120_000 },
    async () => {
      const file = join(rx.dataDir, "..", "long-names.db");
      const save = await rx.etcdctl([...ROOT, "snapshot", "save", file]);
      assert.equal(save.code, 0, brief(save));
      const reader = BboltReader.open(file);
      try {
        const users = [...reader.entries(["authUsers"])];
        assert.deepEqual(
          users.map((e) => e.key.toString()),
          USERS,
        );
        for (const e of users) assert.equal(User.decode(e.value).name.toString(), e.key.toString());
        assert.deepEqual(
          [...reader.entries(["authRoles"])].map((e) => e.key.toString()),
          ROLES,
        );
      } finally {
        reader.close();
      }
      if (!debianEtcd) return;
      const restored = await restoreAndStart(file);
      try {
        const list = await restored.etcdctl([...ROOT, "user", "list"]);
        assert.equal(list.code, 0, brief(list));
        assert.deepEqual(lines(list), USERS);
        const login = await restored.etcdctl(["--user", `${U32K}:pw32k`, "get", "k32"]);
        assert.deepEqual(lines(login), ["k32", "thirty-two"], brief(login));
      } finally {
        await restored.destroy();
      }
    },
  );

  e2eTest("changed, revoked and deleted by their long names", {}, async () => {
    await ctl([...ROOT, "user", "passwd", U32K, "--interactive=false"], true, "newpw\n");
    await ctl(["--user", `${U32K}:pw32k`, "get", "k32"], false);
    assert.deepEqual(lines(await ctl(["--user", `${U32K}:newpw`, "get", "k32"])), ["k32", "thirty-two"]);
    await ctl([...ROOT, "user", "revoke-role", U2K, R32K]);
    assert.deepEqual(lines(await ctl([...ROOT, "user", "get", U2K])), [`User: ${U2K}`, `Roles: ${R2K}`]);
    await ctl([...ROOT, "role", "revoke-permission", R2K, "k2"]);
    await ctl(["--user", `${U2K}:pw2k`, "put", "k2", "two"], false);
    await ctl([...ROOT, "role", "delete", R32K]);
    await ctl([...ROOT, "user", "delete", U32K]);
    await ctl(["--user", `${U32K}:newpw`, "get", "k32"], false);
    assert.deepEqual(
      lines(await ctl([...ROOT, "user", "list"])),
      USERS.filter((u) => u !== U32K),
    );
    assert.deepEqual(
      lines(await ctl([...ROOT, "role", "list"])),
      ROLES.filter((r) => r !== R32K),
    );
    await ctl([...ROOT, "user", "get", U32K], false);
    await ctl([...ROOT, "role", "get", R32K], false);
    await rx.stop();
    await rx.restart();
    assert.deepEqual(
      lines(await ctl([...ROOT, "user", "list"])),
      USERS.filter((u) => u !== U32K),
    );
  });
});
