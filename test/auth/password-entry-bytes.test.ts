// The password in a UserAdd / UserChangePassword raft entry is kept as the bytes the client sent, both
// ways: what rxetcd writes is what etcd 3.4 writes for those bytes (its string fields keep any bytes),
// and an entry an etcd 3.4 member wrote is read back with the same bytes, which the apply then hashes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { passwordToHash } from "../../src/auth/password-entries.js";
import { InternalRaftRequest } from "../../src/gen/etcdserverpb/raft_internal.js";
import { AuthenticateRequest } from "../../src/gen/etcdserverpb/rpc.js";

const ff = Buffer.from([0xff]);
const fe = Buffer.from([0xfe]);

// field 1100 (auth_user_add) / 1103 (auth_user_change_password), length-delimited; inside, name "u" as
// field 1 and the password as field 2
const USER_ADD_FF = Buffer.from("e244060a0175" + "1201ff", "hex");
const CHANGE_PASSWORD_FE = Buffer.from("fa44060a0175" + "1201fe", "hex");

test("UserAdd and UserChangePassword entries carry the password's bytes as sent", () => {
  const add = InternalRaftRequest.fromPartial({
    authUserAdd: { name: "u", password: ff, options: undefined, hashedPassword: "" },
  });
  assert.equal(
    Buffer.from(InternalRaftRequest.encode(add).finish()).toString("hex"),
    USER_ADD_FF.toString("hex"),
  );
  const change = InternalRaftRequest.fromPartial({
    authUserChangePassword: { name: "u", password: fe, hashedPassword: "" },
  });
  assert.equal(
    Buffer.from(InternalRaftRequest.encode(change).finish()).toString("hex"),
    CHANGE_PASSWORD_FE.toString("hex"),
  );

  const readAdd = InternalRaftRequest.decode(USER_ADD_FF);
  assert.deepEqual(readAdd.authUserAdd?.password, ff);
  assert.deepEqual(passwordToHash(readAdd), ff, "the apply hashes the bytes");
  const readChange = InternalRaftRequest.decode(CHANGE_PASSWORD_FE);
  assert.deepEqual(readChange.authUserChangePassword?.password, fe);
  assert.deepEqual(passwordToHash(readChange), fe);
});

test("an Authenticate request keeps the password's bytes; a valid UTF-8 one encodes as before", () => {
  const raw = Buffer.from("0a01751202c328", "hex"); // "u", then 0xc3 0x28: not UTF-8
  assert.deepEqual(AuthenticateRequest.decode(raw).password, Buffer.from([0xc3, 0x28]));
  const utf8 = AuthenticateRequest.fromPartial({ name: "u", password: Buffer.from("pä") });
  assert.equal(Buffer.from(AuthenticateRequest.encode(utf8).finish()).toString("hex"), "0a0175120370c3a4");
});
