// The event feed's credentials check over the auth store (wired by embed).
import assert from "node:assert/strict";
import { test } from "node:test";
import { AuthStore, PasswordHasher, SimpleTokenProvider } from "../../src/auth/index.js";
import { feedAuthenticator } from "../../src/embed/feed-auth.js";
import { Permission_Type } from "../../src/gen/authpb/auth.js";
import { Errors } from "../../src/rpctypes/errors.js";

test("feed connections: anyone while auth is off; then a token, and only readable keys", async () => {
  const tokens = new SimpleTokenProvider({
    ttlMs: 60_000,
    appliedIndex: () => 100,
    waitApplied: async () => {},
    applyWaitMs: 10,
  });
  const store = new AuthStore({ tokens, hasher: new PasswordHasher(4) });
  const check = feedAuthenticator(store);
  const anonymous = await check({ token: undefined, certificateCommonName: undefined });
  assert.equal(anonymous.canRead(Buffer.from("any")), true);

  store.applyUserAdd({
    name: "root",
    password: Buffer.from(""),
    hashedPassword: "",
    options: { noPassword: true },
  });
  store.applyUserGrantRole({ user: "root", role: "root" });
  store.applyUserAdd({
    name: "u",
    password: Buffer.from(""),
    hashedPassword: "",
    options: { noPassword: true },
  });
  store.applyRoleAdd({ name: "r" });
  store.applyRoleGrantPermission({
    name: "r",
    perm: { permType: Permission_Type.READ, key: Buffer.from("a/"), rangeEnd: Buffer.from("a0") },
  });
  store.applyUserGrantRole({ user: "u", role: "r" });
  store.applyAuthEnable();

  assert.equal(anonymous.canRead(Buffer.from("any")), false, "auth enabled later counts at once");
  await assert.rejects(check({ token: undefined, certificateCommonName: undefined }), Errors.UserEmpty);
  await assert.rejects(
    check({ token: "forged.1", certificateCommonName: undefined }),
    Errors.InvalidAuthToken,
  );
  const token = tokens.assign("u", store.revision, { index: 1, prefix: "p" });
  const u = await check({ token, certificateCommonName: undefined });
  assert.equal(u.name, "u");
  assert.equal(u.canRead(Buffer.from("a/x")), true);
  assert.equal(u.canRead(Buffer.from("b")), false);
  store.applyUserRevokeRole({ name: "u", role: "r" });
  assert.equal(u.canRead(Buffer.from("a/x")), false, "a revoked role counts at once");
  store.close();
});
