// New passwords travel in the raft entry (as etcd 3.4 proposes them) and are hashed with bcrypt when
// applied: the hashing happens before the batch's transaction, and entries still apply strictly in
// log order around it. Entries that carry a hash already (written by earlier releases) keep working.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import bcrypt from "bcryptjs";
import type { AuthUserAddRequest } from "../../src/gen/etcdserverpb/rpc.js";
import { EtcdServer } from "../../src/server/etcd-server.js";
import type { ServerConfig } from "../../src/server/server-config.js";
import { singleMemberConfig } from "./single-member-config.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function config(): ServerConfig {
  const dataDir = mkdtempSync(join(tmpdir(), "rxetcd-password-apply-"));
  dirs.push(dataDir);
  return singleMemberConfig(dataDir);
}

const put = (key: string, value: string) => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  lease: 0n,
  prevKv: false,
  ignoreValue: false,
  ignoreLease: false,
});

const userAdd = (name: string, password: string): AuthUserAddRequest => ({
  name,
  password: Buffer.from(password),
  options: undefined,
  hashedPassword: "",
});

async function matches(s: EtcdServer, name: string, password: string): Promise<boolean> {
  const { hash } = s.auth.passwordOf(name);
  assert.ok(hash, `${name} has a stored hash`);
  return s.auth.hasher.verify(Buffer.from(password), hash);
}

test("entries interleaved with password hashing apply in log order, each exactly once", async () => {
  const s = await EtcdServer.start(config());
  try {
    await s.waitReady();
    const auth = s.api.auth;
    assert.ok(auth);
    const applied: number[] = [];
    const sub = s.applied$.subscribe((b) => {
      for (const e of b.entries) applied.push(e.index);
    });
    const first = s.appliedIndex.index;
    // all in flight at once: hashes are pending while later entries are committed
    const results = await Promise.all([
      auth.userAdd(userAdd("alice", "one")),
      s.api.put(put("k", "1")),
      auth.userChangePassword({ name: "alice", password: Buffer.from("two"), hashedPassword: "" }),
      s.api.put(put("k", "2")),
      auth.userAdd(userAdd("bob", "three")),
      auth.userChangePassword({ name: "alice", password: Buffer.from("four"), hashedPassword: "" }),
      s.api.put(put("k", "3")),
    ]);
    sub.unsubscribe();
    assert.equal(results.length, 7);
    const revisions = [results[1], results[3], results[6]].map((r) => r.header?.revision);
    assert.deepEqual(revisions, [2, 3, 4], "the puts applied in their order");
    const ours = applied.filter((i) => i > first);
    assert.deepEqual(
      ours,
      Array.from({ length: ours.length }, (_, i) => first + 1 + i),
      "every entry once, in index order",
    );
    // the change password entries applied after the add (else: user not found), the last one last
    assert.equal(await matches(s, "alice", "four"), true);
    assert.equal(await matches(s, "alice", "two"), false);
    assert.equal(await matches(s, "bob", "three"), true);
    // every member hashes with its own salt: the stored hash is bcrypt at the configured cost
    const { hash } = s.auth.passwordOf("bob");
    assert.equal(bcrypt.getRounds((hash as Buffer).toString("latin1")), 10);
  } finally {
    await s.stop();
  }
});

test("a client's hashedPassword is not proposed; an entry that carries one stores it as is", async () => {
  const s = await EtcdServer.start(config());
  try {
    await s.waitReady();
    const auth = s.api.auth;
    assert.ok(auth);
    const planted = Buffer.from(bcrypt.hashSync("planted", 4), "latin1").toString("base64");
    await auth.userAdd({ ...userAdd("carol", "real"), hashedPassword: planted });
    assert.equal(await matches(s, "carol", "real"), true, "the password the client sent counts");
    assert.equal(await matches(s, "carol", "planted"), false);
    // an entry written by an earlier release: the hash travels in it and nothing is hashed again
    const stored = bcrypt.hashSync("earlier", 4);
    const r = await s.propose({
      authUserAdd: {
        name: "dave",
        password: Buffer.from(""),
        options: undefined,
        hashedPassword: btoa(stored),
      },
    });
    assert.equal(r.err, undefined);
    assert.equal(s.auth.passwordOf("dave").hash?.toString("latin1"), stored);
    const later = bcrypt.hashSync("later", 4);
    const c = await s.propose({
      authUserChangePassword: { name: "dave", password: Buffer.from(""), hashedPassword: btoa(later) },
    });
    assert.equal(c.err, undefined);
    assert.equal(await matches(s, "dave", "later"), true);
    assert.equal(await matches(s, "dave", "earlier"), false);
  } finally {
    await s.stop();
  }
});
