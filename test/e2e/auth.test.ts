// Auth end to end: the `etcd3` npm client and Debian's etcdctl against rxetcd with simple and JWT
// tokens; stale tokens, expiring tokens, restarts, the gateway's Authorization header and watches.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { Etcd3, EtcdPermissionDeniedError, EtcdUserNotFoundError } from "etcd3";
import {
  AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  AuthClient,
  type AuthenticateRequest,
  type AuthenticateResponse,
  type HashRequest,
  type HashResponse,
  KVClient,
  MaintenanceClient,
  PutRequest,
  RangeRequest,
  type RangeResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { cappedWatchBackoff, destroyAllMembers, e2eTest, Member, sleep } from "./harness.js";

function errorLines(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("Error:"))
    .join("\n");
}

/** Runs etcdctl on a member; the command must succeed. */
async function ok(m: Member, args: string[], input?: string): Promise<string> {
  const r = await m.etcdctl(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** root (password rootpw) and a user u1 (u1pw) that may read and write keys under `prefix`; auth enabled. */
async function setUpUsers(m: Member, prefix: string): Promise<void> {
  await ok(m, ["user", "add", "root:rootpw"]);
  await ok(m, ["user", "grant-role", "root", "root"]);
  await ok(m, ["role", "add", "r1"]);
  await ok(m, ["role", "grant-permission", "r1", "readwrite", prefix, "--prefix"]);
  await ok(m, ["user", "add", "u1:u1pw"]);
  await ok(m, ["user", "grant-role", "u1", "r1"]);
  assert.equal(await ok(m, ["auth", "enable"]), "Authentication Enabled\n");
}

/** A raw generated client call that resolves with the answer or the gRPC error. */
function call<Req, Res>(
  fn: (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  token?: string,
): Promise<Res> {
  const md = new Metadata();
  if (token !== undefined) md.set("token", token);
  return new Promise((resolve, reject) => {
    fn(req, md, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

after(async () => {
  await destroyAllMembers();
});

describe("auth with simple tokens", () => {
  let member: Promise<Member> | undefined;
  // tokens live 2 s without use, so expiry is observable
  const started = () =>
    (member ??= Member.start({
      extraArgs: ["--auth-token-ttl", "2", "--election-timeout", "500", "--heartbeat-interval", "50"],
    }).then(async (m) => {
      await setUpUsers(m, "e3/");
      return m;
    }));
  const clients: Etcd3[] = [];
  const client = (m: Member, auth?: { username: string; password: string }) => {
    const c = new Etcd3({
      hosts: m.clientUrl,
      ...(auth ? { auth } : {}),
      faultHandling: { watchBackoff: cappedWatchBackoff() },
    });
    clients.push(c);
    return c;
  };
  after(() => {
    for (const c of clients) c.close();
  });

  e2eTest("etcd3 client: a limited user writes inside its prefix and is refused outside", {}, async () => {
    const m = await started();
    const u1 = client(m, { username: "u1", password: "u1pw" });
    await u1.put("e3/a").value("1");
    assert.equal(await u1.get("e3/a").string(), "1");
    await assert.rejects(u1.put("elsewhere").value("x").exec(), EtcdPermissionDeniedError);
    await assert.rejects(u1.get("elsewhere").string(), EtcdPermissionDeniedError);
    await assert.rejects(u1.getAll().prefix("e3").keys(), EtcdPermissionDeniedError, "e3 is wider than e3/");
    const anonymous = client(m);
    await assert.rejects(anonymous.get("e3/a").string(), /user name is empty/);
  });

  e2eTest("etcd3 client: root manages roles, users and permissions", {}, async () => {
    const m = await started();
    const root = client(m, { username: "root", password: "rootpw" });
    const role = await root.role("e3reader").create();
    await role.grant({ permission: "Read", range: root.range({ prefix: "e3/" }) });
    await role.grant({ permission: "Write", key: "e3/w" });
    const perms = await role.permissions();
    assert.deepEqual(
      perms.map((p) => p.permission),
      ["Read", "Write"],
    );
    const user = await root.user("e3user").create("e3pw");
    await user.addRole("e3reader");
    assert.deepEqual(
      (await user.roles()).map((r) => r.name),
      ["e3reader"],
    );
    assert.ok((await root.getUsers()).map((u) => u.name).includes("e3user"));
    assert.ok((await root.getRoles()).map((r) => r.name).includes("e3reader"));

    const reader = client(m, { username: "e3user", password: "e3pw" });
    assert.equal(await reader.get("e3/a").string(), "1");
    await reader.put("e3/w").value("mine");
    await assert.rejects(reader.put("e3/a").value("no").exec(), EtcdPermissionDeniedError);
    await assert.rejects(reader.getUsers(), EtcdPermissionDeniedError, "only root lists users");

    await role.revoke({ permission: "Write", key: "e3/w" });
    await assert.rejects(reader.put("e3/w").value("again").exec(), EtcdPermissionDeniedError);
    await user.removeRole("e3reader");
    await assert.rejects(reader.get("e3/a").string(), EtcdPermissionDeniedError);
    await user.delete();
    await assert.rejects(root.user("e3user").roles(), EtcdUserNotFoundError);
    await role.delete();
  });

  e2eTest("etcd3 client: an expired simple token is refreshed by the client", {}, async () => {
    const m = await started();
    const u1 = client(m, { username: "u1", password: "u1pw" });
    await u1.put("e3/ttl").value("1");
    // the token was issued; 2 s without use and the member forgets it
    await sleep(3500);
    await u1.put("e3/ttl").value("2");
    assert.equal(await u1.get("e3/ttl").string(), "2");
  });

  e2eTest("raw gRPC: an unknown token is 'invalid auth token' (Unauthenticated)", {}, async () => {
    const m = await started();
    const kv = new KVClient(m.endpoint, credentials.createInsecure());
    try {
      await assert.rejects(
        call<RangeRequest, RangeResponse>(
          kv.range.bind(kv),
          RangeRequest.fromPartial({ key: Buffer.from("e3/a") }),
          "abcdefghijklmnop.1",
        ),
        (err: ServiceError) => err.code === 16 && err.details === "etcdserver: invalid auth token",
      );
    } finally {
      kv.close();
    }
  });

  e2eTest(
    "raw gRPC: a login carrying an unknown token is 'invalid auth token' once its password checks out, as in etcd 3.4",
    {},
    async () => {
      const m = await started();
      const authc = new AuthClient(m.endpoint, credentials.createInsecure());
      const login = (password: string, token?: string) =>
        call<AuthenticateRequest, AuthenticateResponse>(
          authc.authenticate.bind(authc),
          { name: "u1", password: Buffer.from(password) },
          token,
        );
      try {
        await assert.rejects(
          login("u1pw", "abcdefghijklmnop.1"),
          (err: ServiceError) => err.code === 16 && err.details === "etcdserver: invalid auth token",
        );
        // the password is checked first
        await assert.rejects(
          login("wrong", "abcdefghijklmnop.1"),
          (err: ServiceError) =>
            err.code === 3 &&
            err.details === "etcdserver: authentication failed, invalid user ID or password",
        );
        // a valid token (of any user) does not stand in the way; none at all neither
        const { token } = await login("u1pw");
        assert.notEqual(token, "");
        assert.notEqual((await login("u1pw", token)).token, "");
      } finally {
        authc.close();
      }
    },
  );

  e2eTest(
    "raw gRPC: an unknown token on Alarm is etcd 3.4's unmapped 'auth: invalid auth token' (Unknown)",
    {},
    async () => {
      const m = await started();
      const maintenance = new MaintenanceClient(m.endpoint, credentials.createInsecure());
      try {
        await assert.rejects(
          call<AlarmRequest, AlarmResponse>(
            maintenance.alarm.bind(maintenance),
            AlarmRequest.fromPartial({ action: AlarmRequest_AlarmAction.GET }),
            "abcdefghijklmnop.1",
          ),
          (err: ServiceError) => err.code === 2 && err.details === "auth: invalid auth token",
        );
      } finally {
        maintenance.close();
      }
    },
  );

  e2eTest(
    "gateway: the Authorization header carries the token; watches outside the user's keys are refused",
    {},
    async () => {
      const m = await started();
      const auth = await m.http("/v3/auth/authenticate", { body: { name: "u1", password: "u1pw" } });
      assert.equal(auth.status, 200, auth.text);
      const token = (auth.json() as { token: string }).token;
      assert.match(token, /^[a-zA-Z]{16}\.\d+$/);
      const put = await fetch(`${m.clientUrl}/v3/kv/put`, {
        method: "POST",
        headers: { Authorization: token },
        body: JSON.stringify({ key: Buffer.from("e3/gw").toString("base64"), value: "dg==" }),
      });
      assert.equal(put.status, 200, await put.text());
      const denied = await fetch(`${m.clientUrl}/v3/kv/put`, {
        method: "POST",
        headers: { Authorization: token },
        body: JSON.stringify({ key: Buffer.from("nope").toString("base64"), value: "dg==" }),
      });
      assert.equal(denied.status, 403);
      assert.deepEqual(await denied.json(), {
        error: "etcdserver: permission denied",
        message: "etcdserver: permission denied",
        code: 7,
      });
      const anonymous = await m.http("/v3/kv/range", {
        body: { key: Buffer.from("e3/gw").toString("base64") },
      });
      assert.equal(anonymous.status, 400);
      assert.equal((anonymous.json() as { error: string }).error, "etcdserver: user name is empty");
      // a watch stream with the same token: refused outside, created inside
      const ctl = new AbortController();
      try {
        const res = await fetch(`${m.clientUrl}/v3/watch`, {
          method: "POST",
          headers: { Authorization: token },
          body: `${JSON.stringify({ create_request: { key: Buffer.from("nope").toString("base64") } })}\n`,
          signal: ctl.signal,
        });
        const reader = res.body?.getReader();
        const first = await reader?.read();
        const line = JSON.parse(new TextDecoder().decode(first?.value)) as {
          result: { canceled?: boolean; created?: boolean; watch_id?: string; cancel_reason?: string };
        };
        assert.equal(line.result.created, true);
        assert.equal(line.result.canceled, true);
        assert.equal(line.result.watch_id, "-1");
        // etcd sends its gRPC error as grpc-go prints it
        assert.equal(
          line.result.cancel_reason,
          "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
        );
      } finally {
        ctl.abort();
      }
    },
  );

  e2eTest(
    "etcdctl: anyone learns a lease's TTL, as from etcd 3.4; its keys only a user who may read them all",
    {},
    async () => {
      const m = await started();
      const granted = await ok(m, ["--user", "u1:u1pw", "lease", "grant", "600"]);
      const id = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
      assert.ok(id, granted);
      await ok(m, ["--user", "u1:u1pw", "put", "e3/leased", "v", `--lease=${id}`]);
      assert.match(await ok(m, ["lease", "timetolive", id]), /granted with TTL\(600s\)/);
      const anonymous = await m.etcdctl(["lease", "timetolive", id, "--keys"]);
      assert.equal(errorLines(anonymous.stderr), "Error: etcdserver: user name is empty");
      assert.match(
        await ok(m, ["--user", "u1:u1pw", "lease", "timetolive", id, "--keys"]),
        /attached keys\(\[e3\/leased\]\)/,
      );
      await ok(m, ["--user", "root:rootpw", "put", "outside/leased", "v", `--lease=${id}`]);
      const limited = await m.etcdctl(["--user", "u1:u1pw", "lease", "timetolive", id, "--keys"]);
      assert.equal(errorLines(limited.stderr), "Error: etcdserver: permission denied");
      assert.match(
        await ok(m, ["--user", "root:rootpw", "lease", "timetolive", id, "--keys"]),
        /attached keys\(\[(e3\/leased outside\/leased|outside\/leased e3\/leased)\]\)/,
      );
    },
  );

  e2eTest(
    "raw gRPC: a no-password user's login and maintenance without a user get etcd 3.4's unmapped auth errors (Unknown)",
    {},
    async () => {
      const m = await started();
      await ok(m, ["--user", "root:rootpw", "user", "add", "nopass", "--no-password"]);
      const authc = new AuthClient(m.endpoint, credentials.createInsecure());
      const maintenance = new MaintenanceClient(m.endpoint, credentials.createInsecure());
      try {
        await assert.rejects(
          call<AuthenticateRequest, AuthenticateResponse>(authc.authenticate.bind(authc), {
            name: "nopass",
            password: Buffer.from("anything"),
          }),
          (err: ServiceError) =>
            err.code === 2 &&
            err.details === "auth: authentication failed, password was given for no password user",
        );
        await assert.rejects(
          call<HashRequest, HashResponse>(maintenance.hash.bind(maintenance), {}),
          (err: ServiceError) => err.code === 2 && err.details === "auth: user name is empty",
        );
      } finally {
        authc.close();
        maintenance.close();
      }
    },
  );

  e2eTest(
    "etcdctl: maintenance is root's; users and roles survive a restart, tokens do not",
    {},
    async () => {
      const m = await started();
      const hash = await m.etcdctl(["--user", "u1:u1pw", "endpoint", "hashkv"]);
      assert.match(hash.stderr, /auth: permission denied/);
      await ok(m, ["--user", "root:rootpw", "endpoint", "hashkv"]);
      const auth = await m.http("/v3/auth/authenticate", { body: { name: "u1", password: "u1pw" } });
      const token = (auth.json() as { token: string }).token;
      await m.stop();
      await m.restart();
      assert.equal(await ok(m, ["--user", "root:rootpw", "user", "get", "u1"]), "User: u1\nRoles: r1\n");
      assert.equal(await ok(m, ["--user", "u1:u1pw", "get", "e3/a", "--print-value-only"]), "1\n");
      const denied = await m.etcdctl(["--user", "u1:u1pw", "get", "elsewhere"]);
      assert.equal(errorLines(denied.stderr), "Error: etcdserver: permission denied");
      const stale = await fetch(`${m.clientUrl}/v3/kv/range`, {
        method: "POST",
        headers: { Authorization: token },
        body: JSON.stringify({ key: Buffer.from("e3/a").toString("base64") }),
      });
      assert.equal(stale.status, 401, "a simple token is gone after a restart");
    },
  );
});

describe("auth with JWT tokens", () => {
  const keyDir = mkdtempSync(join(tmpdir(), "e2e-jwt-"));
  after(() => rmSync(keyDir, { recursive: true, force: true }));
  let member: Promise<Member> | undefined;
  const started = () =>
    (member ??= (async () => {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const priv = join(keyDir, "jwt.key");
      const pub = join(keyDir, "jwt.pub");
      writeFileSync(priv, privateKey.export({ type: "pkcs8", format: "pem" }));
      writeFileSync(pub, publicKey.export({ type: "spki", format: "pem" }));
      const m = await Member.start({
        extraArgs: ["--auth-token", `jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,ttl=10m`],
      });
      await setUpUsers(m, "jw/");
      return m;
    })());

  e2eTest(
    "a JWT names the user and its auth revision; a token older than the store is stale",
    {},
    async () => {
      const m = await started();
      const authc = new AuthClient(m.endpoint, credentials.createInsecure());
      const kv = new KVClient(m.endpoint, credentials.createInsecure());
      try {
        const { token } = await call<AuthenticateRequest, AuthenticateResponse>(
          authc.authenticate.bind(authc),
          { name: "u1", password: Buffer.from("u1pw") },
        );
        const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()) as Record<
          string,
          unknown
        >;
        assert.deepEqual(Object.keys(claims), ["exp", "revision", "username"]);
        assert.equal(claims.username, "u1");
        await call(
          kv.put.bind(kv),
          PutRequest.fromPartial({ key: Buffer.from("jw/a"), value: Buffer.from("1") }),
          token,
        );
        // any change of the auth store makes the token stale
        await ok(m, ["--user", "root:rootpw", "role", "add", "jwt-bump"]);
        await assert.rejects(
          call<RangeRequest, RangeResponse>(
            kv.range.bind(kv),
            RangeRequest.fromPartial({ key: Buffer.from("jw/a") }),
            token,
          ),
          (err: ServiceError) =>
            err.code === 3 && err.details === "etcdserver: revision of auth store is old",
        );
        await assert.rejects(
          call(
            kv.put.bind(kv),
            PutRequest.fromPartial({ key: Buffer.from("jw/a"), value: Buffer.from("2") }),
            token,
          ),
          (err: ServiceError) => err.details === "etcdserver: revision of auth store is old",
        );
        const fresh = await call<AuthenticateRequest, AuthenticateResponse>(authc.authenticate.bind(authc), {
          name: "u1",
          password: Buffer.from("u1pw"),
        });
        const r = await call<RangeRequest, RangeResponse>(
          kv.range.bind(kv),
          RangeRequest.fromPartial({ key: Buffer.from("jw/a") }),
          fresh.token,
        );
        assert.equal(r.kvs[0].value.toString(), "1");
        // forged: same claims, another key
        const forged = `${token.split(".").slice(0, 2).join(".")}.${Buffer.from("x").toString("base64url")}`;
        await assert.rejects(
          call<RangeRequest, RangeResponse>(
            kv.range.bind(kv),
            RangeRequest.fromPartial({ key: Buffer.from("jw/a") }),
            forged,
          ),
          (err: ServiceError) => err.code === 16,
        );
        // stateless: the token still works after a restart
        await m.stop();
        await m.restart();
        const after = await call<RangeRequest, RangeResponse>(
          kv.range.bind(kv),
          RangeRequest.fromPartial({ key: Buffer.from("jw/a") }),
          fresh.token,
        );
        assert.equal(after.kvs[0].value.toString(), "1");
      } finally {
        authc.close();
        kv.close();
      }
    },
  );

  e2eTest(
    "the JWT of a deleted user still verifies: maintenance with it is etcd 3.4's unmapped 'auth: user not found'",
    {},
    async () => {
      const m = await started();
      await ok(m, ["--user", "root:rootpw", "user", "add", "gone:gonepw"]);
      const authc = new AuthClient(m.endpoint, credentials.createInsecure());
      const maintenance = new MaintenanceClient(m.endpoint, credentials.createInsecure());
      try {
        const { token } = await call<AuthenticateRequest, AuthenticateResponse>(
          authc.authenticate.bind(authc),
          { name: "gone", password: Buffer.from("gonepw") },
        );
        await ok(m, ["--user", "root:rootpw", "user", "delete", "gone"]);
        await assert.rejects(
          call<HashRequest, HashResponse>(maintenance.hash.bind(maintenance), {}, token),
          (err: ServiceError) => err.code === 2 && err.details === "auth: user not found",
        );
      } finally {
        authc.close();
        maintenance.close();
      }
    },
  );

  e2eTest(
    "etcdctl retries with a fresh token when its JWT went stale (lock held while auth changes)",
    {},
    async () => {
      const m = await started();
      await ok(m, [
        "--user",
        "root:rootpw",
        "role",
        "grant-permission",
        "r1",
        "readwrite",
        "lk/",
        "--prefix",
      ]);
      // the command runs while the lock is held and changes the auth store; the unlock that follows
      // carries a stale token, which etcdctl's client must refresh
      const r = await m.etcdctl(
        [
          "--user",
          "u1:u1pw",
          "lock",
          "lk/one",
          // etcdctl reads flags after the lock name too: "--" leaves the rest to the command
          "--",
          "etcdctl",
          `--endpoints=${m.endpoint}`,
          "--user",
          "root:rootpw",
          "role",
          "add",
          "jwt-during-lock",
        ],
        { timeoutMs: 30_000 },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "Role jwt-during-lock created\n");
      assert.match(r.stderr, /revision of auth store is old/, "the unlock met the stale token and retried");
      const left = await ok(m, ["--user", "root:rootpw", "get", "lk/", "--prefix", "--keys-only"]);
      assert.equal(left, "", "the unlock went through with a refreshed token");
    },
  );
});
