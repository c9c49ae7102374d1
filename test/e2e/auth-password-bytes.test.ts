// Passwords are the bytes the client sent, not UTF-8 text: over raw gRPC, a password that is not valid
// UTF-8 logs in only with exactly those bytes (a string decoding would turn 0xff and 0xfe both into
// U+FFFD, and either would log in). The same holds after a restart that re-applies the entries from the
// WAL (the backend removed), where the member hashes the password it reads from the raft entry again.
// Debian's etcd 3.4, when installed, gives the same answers to the same requests.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { type Binary, debianEtcd, destroyAllMembers, Member } from "./harness.js";
import { RawGrpc } from "./hostile.js";

after(destroyAllMembers);

/** A message of two length-delimited fields: 1 (name) and 2 (password), as etcd's auth requests are. */
function namePassword(name: string, password: Buffer): Buffer {
  const n = Buffer.from(name);
  assert.ok(n.length < 128 && password.length < 128);
  return Buffer.concat([Buffer.from([0x0a, n.length]), n, Buffer.from([0x12, password.length]), password]);
}

const hex = (s: string) => Buffer.from(s, "hex");
const AUTH_FAILED = "etcdserver: authentication failed, invalid user ID or password";

/** The logins tried, and what each must answer: [user, password bytes, logs in]. */
const LOGINS: Array<[string, Buffer, boolean]> = [
  ["u", hex("fe"), false],
  ["u", hex("ff"), true],
  ["u", Buffer.from("\ufffd"), false],
  ["v", hex("61fe62"), false],
  ["v", hex("61ff62"), true],
  ["v", Buffer.from("a"), false],
  ["w", hex("c3"), false],
  ["w", hex("c328"), true],
];

async function logins(grpc: RawGrpc): Promise<string[]> {
  const answers: string[] = [];
  for (const [name, password] of LOGINS) {
    const r = await grpc.unary(
      "/etcdserverpb.Auth/Authenticate",
      namePassword(name, password),
      undefined,
      30_000,
    );
    answers.push(`${name} ${password.toString("hex")}: ${r.code} ${r.details}`);
  }
  return answers;
}

const expected = LOGINS.map(
  ([name, password, ok]) => `${name} ${password.toString("hex")}: ${ok ? "0 " : `3 ${AUTH_FAILED}`}`,
);

/** Sets the users up with raw requests, then answers the logins before and after a replay from the WAL. */
async function scenario(binary: Binary): Promise<{ before: string[]; replayed: string[] }> {
  const m = await Member.start({ binary, name: "n1", startTimeoutMs: 120_000 });
  let grpc = new RawGrpc(m.endpoint);
  const call = async (method: string, body: Buffer) => {
    const r = await grpc.unary(`/etcdserverpb.Auth/${method}`, body, undefined, 30_000);
    assert.equal(r.code, 0, `${binary} ${method}: ${r.details}\n${m.logText()}`);
  };
  await call("UserAdd", namePassword("u", hex("ff")));
  await call("UserAdd", namePassword("v", Buffer.from("a")));
  await call("UserChangePassword", namePassword("v", hex("61ff62")));
  await call("UserAdd", namePassword("w", hex("c328")));
  for (const args of [
    ["user", "add", "root:rootpw"],
    ["user", "grant-role", "root", "root"],
    ["auth", "enable"],
  ]) {
    const res = await m.etcdctl(args);
    assert.equal(res.code, 0, `${binary}: etcdctl ${args.join(" ")}: ${res.stderr}`);
  }
  const before = await logins(grpc);
  grpc.close();
  await m.stop();
  // without its backend the member applies every entry of its WAL again, hashing the passwords in them
  rmSync(join(m.dataDir, "member", "snap", "db"));
  await m.restart();
  grpc = new RawGrpc(m.endpoint);
  const replayed = await logins(grpc);
  grpc.close();
  await m.destroy();
  return { before, replayed };
}

test("a password that is not UTF-8 logs in with exactly its bytes, also after a replay of the WAL", {
  timeout: 300_000,
}, async () => {
  const rx = await scenario("rxetcd");
  assert.deepEqual(rx.before, expected);
  assert.deepEqual(rx.replayed, expected);
});

test("Debian's etcd 3.4 answers the same logins the same way", {
  timeout: 300_000,
  skip: debianEtcd ? false : "needs Debian's etcd (/usr/bin/etcd)",
}, async () => {
  const etcd = await scenario("etcd");
  assert.deepEqual(etcd.before, expected);
  assert.deepEqual(etcd.replayed, expected);
});
