// A member whose client port serves HTTP/2 with its own connection (RXETCD_CLIENT_HTTP2=own): real
// clients (etcdctl, the etcd3 npm client, HTTP/1.1 on the gateway beside it) get what they get from
// Node's HTTP/2, unary calls and streams alike, errors and limits included; a member beside it without
// the switch gives the same error texts.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { Etcd3, type IKeyValue } from "etcd3";
import {
  cappedWatchBackoff,
  destroyAllMembers,
  e2eTest,
  eventually,
  Member,
  startMembersOnce,
  streamLines,
} from "./harness.js";

const MAX_REQUEST_BYTES = 2048;
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The `Error: ...` lines etcdctl prints (its other stderr lines carry random ids). */
function errorLines(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("Error:"))
    .join("\n");
}

describe("the client port serving HTTP/2 with its own connection", () => {
  let own: Member;
  let plain: Member;
  let dir: string;

  startMembersOnce(async () => {
    const extraArgs = ["--max-request-bytes", String(MAX_REQUEST_BYTES)];
    [own, plain] = await Promise.all([
      Member.start({ extraArgs, env: { RXETCD_CLIENT_HTTP2: "own" } }),
      Member.start({ extraArgs, env: { RXETCD_CLIENT_HTTP2: "node" } }),
    ]);
    dir = mkdtempSync(join(tmpdir(), "client-http2-"));
  });
  after(async () => {
    await destroyAllMembers();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function ok(args: string[], input?: string): Promise<string> {
    const r = await own.etcdctl(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** A command that fails alike on both members: the error line they print. */
  async function failsAlike(args: string[]): Promise<string> {
    const [mine, theirs] = await Promise.all([own.etcdctl(args), plain.etcdctl(args)]);
    assert.notEqual(mine.code, 0, `etcdctl ${args.join(" ")} succeeded on the own connection`);
    assert.equal(errorLines(mine.stderr), errorLines(theirs.stderr));
    return errorLines(mine.stderr);
  }

  e2eTest("the switch gives the client listener its own HTTP/2, and only with it", {}, async () => {
    assert.match(own.logText(), /serving client HTTP\/2 with the port's own connection/);
    assert.doesNotMatch(plain.logText(), /serving client HTTP\/2 with the port's own connection/);
  });

  e2eTest("etcdctl puts, gets, transacts and deletes", {}, async () => {
    assert.equal(await ok(["put", "kv/a", "1"]), "OK\n");
    assert.equal(await ok(["get", "kv/a"]), "kv/a\n1\n");
    const txn = await ok(["txn"], 'value("kv/a") = "1"\n\nput kv/b 2\n\nput kv/b 3\n\n');
    assert.equal(txn, "SUCCESS\n\nOK\n");
    assert.equal(await ok(["get", "kv/b", "--print-value-only"]), "2\n");
    assert.equal(await ok(["del", "kv/", "--prefix"]), "2\n");
  });

  e2eTest("etcdctl grants, keeps alive (a stream) and reads a lease", {}, async () => {
    const granted = /lease ([0-9a-f]+) granted with TTL\(100s\)/.exec(await ok(["lease", "grant", "100"]));
    assert.ok(granted, "lease grant");
    const id = granted[1];
    await ok(["put", "lease/k", "v", `--lease=${id}`]);
    assert.match(
      await ok(["lease", "keep-alive", "--once", id]),
      new RegExp(`lease ${id} keepalived with TTL\\(100\\)`),
    );
    assert.match(await ok(["lease", "timetolive", id, "--keys"]), /attached keys\(\[lease\/k\]\)/);
    assert.match(await ok(["lease", "revoke", id]), /revoked/);
    assert.equal(await ok(["get", "lease/k"]), "");
  });

  e2eTest("etcdctl watches (a stream) from a revision", {}, async () => {
    const put = JSON.parse(await ok(["put", "watch/a", "1", "-w", "json"]));
    await ok(["put", "watch/b", "2"]);
    const watch = own.spawnEtcdctl(["watch", "watch/", "--prefix", `--rev=${put.header.revision}`]);
    try {
      assert.deepEqual(await watch.waitForLines(6), ["PUT", "watch/a", "1", "PUT", "watch/b", "2"]);
    } finally {
      await watch.stop();
    }
  });

  e2eTest(
    "etcdctl lists members, reports status and health, saves a snapshot, takes a lock",
    {},
    async () => {
      const members = JSON.parse(await ok(["member", "list", "-w", "json"]));
      assert.deepEqual(members.members[0].clientURLs, [own.clientUrl]);
      const status = JSON.parse(await ok(["endpoint", "status", "-w", "json"]));
      assert.equal(status[0].Status.version, "3.4.23");
      const health = await own.etcdctl(["endpoint", "health"]);
      assert.match(health.stdout + health.stderr, /is healthy/);
      const file = join(dir, "snap.db");
      await ok(["snapshot", "save", file]);
      assert.ok(existsSync(file));
      assert.match(await ok(["lock", "the-lock", "echo", "held"]), /held/);
    },
  );

  e2eTest("errors and --max-request-bytes answer as on the normal port", {}, async () => {
    assert.match(await failsAlike(["put", "k", "v", "--lease=1234"]), /requested lease not found/);
    assert.match(
      await failsAlike(["put", "big", "x".repeat(MAX_REQUEST_BYTES + 100)]),
      /request is too large/,
    );
    assert.match(await failsAlike(["get", "k", "--rev=1000"]), /required revision is a future revision/);
  });

  e2eTest(
    "the HTTP/1.1 side: /health, /version, /metrics and the gateway, a watch stream too",
    {},
    async () => {
      assert.deepEqual((await own.http("/health")).json(), { health: "true" });
      assert.deepEqual((await own.http("/version")).json(), {
        etcdserver: "3.4.23",
        etcdcluster: "3.4.0",
      });
      assert.match((await own.http("/metrics")).text, /^etcd_server_has_leader 1$/m);
      const put = await own.http("/v3/kv/put", { body: { key: b64("gw/a"), value: b64("1") } });
      assert.equal(put.status, 200, put.text);
      const got = (await own.http("/v3/kv/range", { body: { key: b64("gw/a") } })).json() as {
        kvs: { value: string }[];
      };
      assert.equal(Buffer.from(got.kvs[0].value, "base64").toString(), "1");
      const revision = Number((put.json() as { header: { revision: string } }).header.revision);
      const lines = (await streamLines(
        `${own.clientUrl}/v3/watch`,
        { create_request: { key: b64("gw/a"), start_revision: revision } },
        2,
      )) as { result: { events?: { kv: { value: string } }[] } }[];
      assert.equal(Buffer.from(lines[1].result.events?.[0].kv.value ?? "", "base64").toString(), "1");
    },
  );

  e2eTest("the etcd3 npm client puts, reads, watches and leases", {}, async () => {
    const client = new Etcd3({
      hosts: own.clientUrl,
      faultHandling: { watchBackoff: cappedWatchBackoff() },
    });
    try {
      await client.put("npm/a").value("1");
      assert.equal(await client.get("npm/a").string(), "1");
      const seen: string[] = [];
      const watcher = await client.watch().prefix("npm/").create();
      watcher.on("put", (kv: IKeyValue) => seen.push(`${kv.key}=${kv.value}`));
      await client.put("npm/b").value("2");
      await eventually("the watched put", async () => (seen.length > 0 ? true : undefined));
      assert.deepEqual(seen, ["npm/b=2"]);
      await watcher.cancel();
      const lease = client.lease(60);
      await lease.put("npm/leased").value("x");
      assert.equal(await client.get("npm/leased").string(), "x");
      await lease.revoke();
      assert.equal(await client.get("npm/leased").string(), null);
    } finally {
      client.close();
    }
  });

  // last: it turns authentication on
  e2eTest("auth tokens reach the handlers through the own connection", {}, async () => {
    await ok(["user", "add", "root:rootpw"]);
    await ok(["auth", "enable"]);
    const anonymous = await own.etcdctl(["put", "auth/a", "1"]);
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.stderr, /user name is empty/);
    assert.equal(await ok(["put", "auth/a", "1", "--user=root:rootpw"]), "OK\n");
    assert.equal(await ok(["get", "auth/a", "--print-value-only", "--user=root:rootpw"]), "1\n");
    const wrong = await own.etcdctl(["get", "auth/a", "--user=root:nope"]);
    assert.match(wrong.stderr, /authentication failed, invalid user ID or password/);
    await ok(["auth", "disable", "--user=root:rootpw"]);
  });
});
