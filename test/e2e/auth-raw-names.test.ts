// User and role names that are not UTF-8, beside Debian's etcd 3.4: etcd keeps them as the bytes the
// client sent (gogo checks no UTF-8), so "a\xffb" and "a\u{fffd}b" are two users, answers give the
// bytes back, a simple token speaks for the raw name while a JWT's claims carry U+FFFD for each byte
// that is not UTF-8 (Go's encoding/json), and the gateway writes such a byte as `\ufffd`. The same
// raw gRPC calls, gateway requests and etcdctl commands (arguments of raw bytes through bash) run
// against both servers and must come back the same, headers and token values aside.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { Client, credentials } from "@grpc/grpc-js";
import { type Binary, destroyAllMembers, e2eTest, etcdctlPath, Member, needsDebianEtcd } from "./harness.js";
import { call, fieldsOf, msg } from "./raw-grpc.js";

const hex = (s: string) => Buffer.from(s.replace(/ /g, ""), "hex");
/** "a\xffb", "a\u{fffd}b" (the UTF-8 of U+FFFD), the encoded surrogate U+D800, "r\xff", "r\u{fffd}". */
const A_FF_B = hex("61 ff 62");
const A_FFFD_B = hex("61 ef bf bd 62");
const SURROGATE = hex("ed a0 80");
const R_FF = hex("72 ff");
const R_FFFD = hex("72 ef bf bd");

/** etcdctl run through bash, so that `$'\xff'` arguments reach it as raw bytes; its output as bytes (hex). */
function rawEtcdctl(m: Member, args: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `exec "${etcdctlPath()}" --endpoints=${m.endpoint} ${args}`], {
      env: { ...process.env, ETCDCTL_API: "3", ETCDCTL_COMMAND_TIMEOUT: "15s" },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve(
        // (of stderr, the last line: the lines before it are clientv3's log, with times and ids)
        `exit ${code} out ${Buffer.concat(out).toString("hex")} err ${Buffer.concat(err).toString().trim().split("\n").at(-1)}`,
      ),
    );
  });
}

const AUTH = "/etcdserverpb.Auth/";
const KV = "/etcdserverpb.KV/";

/** Everything one server answers to the sequence, started with `authToken` (its --auth-token flag, or none). */
async function outcomes(binary: Binary, authToken: string[]): Promise<Record<string, string>> {
  const m = await Member.start({ binary, name: "n1", startTimeoutMs: 120_000, extraArgs: authToken });
  const client = new Client(`127.0.0.1:${m.clientPort}`, credentials.createInsecure());
  const seen: Record<string, string> = {};
  const step = async (label: string, path: string, body: Buffer, token?: string) => {
    const [s, answer] = await call(client, path, body, token);
    seen[label] = s;
    return answer;
  };
  try {
    await step("UserAdd a\\xffb", `${AUTH}UserAdd`, msg([1, A_FF_B], [2, "p"]));
    await step("UserAdd a\\ufffdb", `${AUTH}UserAdd`, msg([1, A_FFFD_B], [2, "q"]));
    await step("UserAdd a\\xffb again", `${AUTH}UserAdd`, msg([1, A_FF_B], [2, "p"]));
    await step("UserAdd ed a0 80", `${AUTH}UserAdd`, msg([1, SURROGATE], [2, "s"]));
    await step("RoleAdd r\\xff", `${AUTH}RoleAdd`, msg([1, R_FF]));
    await step("RoleAdd r\\ufffd", `${AUTH}RoleAdd`, msg([1, R_FFFD]));
    await step("RoleAdd r\\xff again", `${AUTH}RoleAdd`, msg([1, R_FF]));
    await step("UserGrantRole a\\xffb r\\xff", `${AUTH}UserGrantRole`, msg([1, A_FF_B], [2, R_FF]));
    await step("UserGrantRole a\\xffb r\\ufffd", `${AUTH}UserGrantRole`, msg([1, A_FF_B], [2, R_FFFD]));
    await step(
      "UserGrantRole a\\ufffdb r\\x80",
      `${AUTH}UserGrantRole`,
      msg([1, A_FFFD_B], [2, hex("7280")]),
    );
    await step("UserGet a\\xffb", `${AUTH}UserGet`, msg([1, A_FF_B]));
    await step("UserGet a\\ufffdb", `${AUTH}UserGet`, msg([1, A_FFFD_B]));
    // READWRITE on "k"
    const perm = Buffer.from([0x08, 0x02, 0x12, 0x01, 0x6b]);
    await step("RoleGrantPermission r\\xff", `${AUTH}RoleGrantPermission`, msg([1, R_FF], [2, perm]));
    await step("RoleGet r\\xff", `${AUTH}RoleGet`, msg([1, R_FF]));
    await step("RoleRevokePermission r\\xff", `${AUTH}RoleRevokePermission`, msg([1, R_FF], [2, "k"]));
    await step("RoleRevokePermission r\\ufffd", `${AUTH}RoleRevokePermission`, msg([1, R_FFFD], [2, "k"]));
    await step("RoleGrantPermission r\\xff again", `${AUTH}RoleGrantPermission`, msg([1, R_FF], [2, perm]));
    await step("RoleGet r\\ufffd", `${AUTH}RoleGet`, msg([1, R_FFFD]));
    await step("UserRevokeRole a\\xffb r\\ufffd", `${AUTH}UserRevokeRole`, msg([1, A_FF_B], [2, R_FFFD]));
    await step(
      "UserRevokeRole a\\xffb r\\ufffd again",
      `${AUTH}UserRevokeRole`,
      msg([1, A_FF_B], [2, R_FFFD]),
    );
    await step("UserChangePassword a\\xffb", `${AUTH}UserChangePassword`, msg([1, A_FF_B], [2, "p2"]));
    await step("UserChangePassword a\\x80b", `${AUTH}UserChangePassword`, msg([1, hex("618062")], [2, "x"]));
    await step("RoleAdd r\\xfe", `${AUTH}RoleAdd`, msg([1, hex("72fe")]));
    await step("RoleDelete r\\xfe", `${AUTH}RoleDelete`, msg([1, hex("72fe")]));
    await step("UserList", `${AUTH}UserList`, Buffer.alloc(0));
    await step("RoleList", `${AUTH}RoleList`, Buffer.alloc(0));
    // the gateway: JSON of names that are not UTF-8, and names sent as JSON
    for (const [path, body] of [
      ["/v3/auth/user/list", "{}"],
      ["/v3/auth/role/list", "{}"],
      ["/v3/auth/user/get", '{"name":"a\\ufffdb"}'],
      ["/v3/auth/user/get", '{"name":"a\\udcffb"}'],
      ["/v3/auth/role/get", '{"role":"r\\ufffd"}'],
    ]) {
      const r = await m.http(path, { body });
      seen[`gateway ${path} ${body}`] = `${r.status} ${r.text.replace(/"header":\{[^}]*\},?/, "")}`;
    }
    // etcdctl with arguments of raw bytes
    seen["etcdctl user add"] = await rawEtcdctl(m, `user add $'e\\xfef:epw'`);
    seen["etcdctl user list"] = await rawEtcdctl(m, "user list");
    seen["etcdctl user get"] = await rawEtcdctl(m, `user get $'a\\xffb'`);
    seen["etcdctl role list"] = await rawEtcdctl(m, "role list");
    seen["etcdctl role get"] = await rawEtcdctl(m, `role get $'r\\xff'`);
    // with auth on: log in under each name, and use the token
    await step("UserAdd root", `${AUTH}UserAdd`, msg([1, "root"], [2, "rootpw"]));
    await step("UserGrantRole root", `${AUTH}UserGrantRole`, msg([1, "root"], [2, "root"]));
    await step("AuthEnable", `${AUTH}AuthEnable`, Buffer.alloc(0));
    const login = await step("Authenticate a\\xffb", `${AUTH}Authenticate`, msg([1, A_FF_B], [2, "p2"]));
    await step("Authenticate a\\xffb, old password", `${AUTH}Authenticate`, msg([1, A_FF_B], [2, "p"]));
    await step("Authenticate a\\ufffdb", `${AUTH}Authenticate`, msg([1, A_FFFD_B], [2, "q"]));
    await step("Authenticate a\\x80b", `${AUTH}Authenticate`, msg([1, hex("618062")], [2, "q"]));
    const token =
      fieldsOf(login ?? Buffer.alloc(0))
        .get(2)
        ?.toString() ?? "";
    // a JWT's claims (a simple token has none)
    const claims = token.split(".").length === 3 ? token.split(".")[1] : undefined;
    if (claims !== undefined) {
      const text = Buffer.from(claims, "base64url").toString();
      seen["the token's claims"] = text.replace(/"exp":\d+,"revision":\d+/, "");
      seen["the token's claims: username"] = JSON.stringify(JSON.parse(text).username);
    }
    await step("Put k as a\\xffb", `${KV}Put`, msg([1, "k"], [2, "v"]), token);
    await step("Range k as a\\xffb", `${KV}Range`, msg([1, "k"]), token);
    await step("Put z as a\\xffb", `${KV}Put`, msg([1, "z"], [2, "v"]), token);
    await step("UserGet a\\xffb as a\\xffb", `${AUTH}UserGet`, msg([1, A_FF_B]), token);
    await step("UserList as a\\xffb", `${AUTH}UserList`, Buffer.alloc(0), token);
    seen["etcdctl get k as a\\xffb"] = await rawEtcdctl(m, `--user $'a\\xffb:p2' get k`);
    seen["etcdctl user get as e\\xfef"] = await rawEtcdctl(m, `--user $'e\\xfef:epw' user get $'e\\xfef'`);
    const root = await step("Authenticate root", `${AUTH}Authenticate`, msg([1, "root"], [2, "rootpw"]));
    const rootToken =
      fieldsOf(root ?? Buffer.alloc(0))
        .get(2)
        ?.toString() ?? "";
    await step("UserDelete a\\xffb", `${AUTH}UserDelete`, msg([1, A_FF_B]), rootToken);
    await step("Put k as the deleted a\\xffb", `${KV}Put`, msg([1, "k"], [2, "v"]), token);
    await step("UserList as root", `${AUTH}UserList`, Buffer.alloc(0), rootToken);
    await step("RoleDelete r\\xff", `${AUTH}RoleDelete`, msg([1, R_FF]), rootToken);
    await step("UserGet a\\ufffdb as root", `${AUTH}UserGet`, msg([1, A_FFFD_B]), rootToken);
  } finally {
    client.close();
  }
  // the names survive a restart (the auth buckets' keys and the users' role lists)
  await m.stop();
  await m.launch();
  const again = new Client(`127.0.0.1:${m.clientPort}`, credentials.createInsecure());
  try {
    const root = await call(again, `${AUTH}Authenticate`, msg([1, "root"], [2, "rootpw"]));
    const rootToken =
      fieldsOf(root[1] ?? Buffer.alloc(0))
        .get(2)
        ?.toString() ?? "";
    seen["UserList after a restart"] = (await call(again, `${AUTH}UserList`, Buffer.alloc(0), rootToken))[0];
    seen["UserGet a\\ufffdb after a restart"] = (
      await call(again, `${AUTH}UserGet`, msg([1, A_FFFD_B]), rootToken)
    )[0];
  } finally {
    again.close();
  }
  await m.stop();
  await m.destroy();
  return seen;
}

describe("user and role names that are not UTF-8, beside etcd", { timeout: 400_000 }, () => {
  after(destroyAllMembers);

  e2eTest("simple tokens: gRPC, the gateway and etcdctl answer as etcd's", { timeout: 200_000 }, async () => {
    assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
    const etcd = await outcomes("etcd", []);
    const rxetcd = await outcomes("rxetcd", []);
    // what etcd answered, so that the comparison is of something: two users, the bytes given back
    assert.equal(etcd["UserAdd a\\ufffdb"], "ok ");
    assert.equal(etcd.UserList, "ok 120561efbfbd62120361ff621203eda080");
    assert.equal(etcd["Put k as a\\xffb"], "ok ");
    assert.equal(
      etcd["gateway /v3/auth/user/list {}"],
      '200 {"users":["a\u{fffd}b","a\\ufffdb","\\ufffd\\ufffd\\ufffd"]}',
    );
    assert.deepEqual(rxetcd, etcd);
  });

  e2eTest("JWT tokens: the claims carry U+FFFD for the bytes, as etcd's", { timeout: 200_000 }, async () => {
    assert.ok(!needsDebianEtcd, needsDebianEtcd || "");
    const dir = mkdtempSync(join(tmpdir(), "raw-names-jwt-"));
    try {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      writeFileSync(join(dir, "jwt.key"), privateKey.export({ type: "pkcs1", format: "pem" }));
      writeFileSync(join(dir, "jwt.pub"), publicKey.export({ type: "spki", format: "pem" }));
      const flags = [
        "--auth-token",
        `jwt,pub-key=${join(dir, "jwt.pub")},priv-key=${join(dir, "jwt.key")},sign-method=RS256,ttl=10m`,
      ];
      const etcd = await outcomes("etcd", flags);
      const rxetcd = await outcomes("rxetcd", flags);
      // the token of "a\xffb" speaks for "a\u{fffd}b", who holds no permission on "k"
      assert.equal(etcd["the token's claims: username"], '"a\u{fffd}b"');
      assert.equal(etcd["the token's claims"], '{,"username":"a\\ufffdb"}');
      assert.equal(etcd["Put k as a\\xffb"], "status 7 etcdserver: permission denied");
      assert.deepEqual(rxetcd, etcd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
