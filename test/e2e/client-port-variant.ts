// Real clients (etcdctl, the etcd3 npm client, HTTP/1.1 on the gateway) against a member whose client
// port is served another way (the HTTP/2 thread, Node's HTTP/2 instead of the port's own): they get what
// they get from the usual port, unary calls and streams alike, errors and limits included; a member beside
// it without the switch gives the same error texts.
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

/** A way of serving the client port, beside a member served the usual way. */
export interface ClientPortVariant {
  /** The suite's title. */
  readonly title: string;
  /** The switch that turns the variant on, and the same switch left off. */
  readonly env: Readonly<Record<string, string>>;
  readonly plainEnv: Readonly<Record<string, string>>;
  /** The log line only a member with the switch prints. */
  readonly logLine: RegExp;
  /** What the calls go through ("through the thread"), for test titles and messages. */
  readonly through: string;
  /** The first test's title: what the switch does. */
  readonly switchTitle: string;
}

/** The suite: real clients against a member with the variant, compared with one without. */
export function describeClientPortVariant(variant: ClientPortVariant): void {
  describe(variant.title, () => {
    let member: Member;
    let plain: Member;
    let dir: string;

    startMembersOnce(async () => {
      const extraArgs = ["--max-request-bytes", String(MAX_REQUEST_BYTES)];
      [member, plain] = await Promise.all([
        Member.start({ extraArgs, env: { ...variant.env } }),
        Member.start({ extraArgs, env: { ...variant.plainEnv } }),
      ]);
      dir = mkdtempSync(join(tmpdir(), "client-port-variant-"));
    });
    after(async () => {
      await destroyAllMembers();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function ok(args: string[], input?: string): Promise<string> {
      const r = await member.etcdctl(args, input === undefined ? {} : { input });
      assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.stderr}`);
      return r.stdout;
    }

    /** A command that fails alike on both members: the error line they print. */
    async function failsAlike(args: string[]): Promise<string> {
      const [mine, theirs] = await Promise.all([member.etcdctl(args), plain.etcdctl(args)]);
      assert.notEqual(mine.code, 0, `etcdctl ${args.join(" ")} succeeded ${variant.through}`);
      assert.equal(errorLines(mine.stderr), errorLines(theirs.stderr));
      return errorLines(mine.stderr);
    }

    e2eTest(variant.switchTitle, {}, async () => {
      assert.match(member.logText(), variant.logLine);
      assert.doesNotMatch(plain.logText(), variant.logLine);
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
      const watch = member.spawnEtcdctl(["watch", "watch/", "--prefix", `--rev=${put.header.revision}`]);
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
        assert.deepEqual(members.members[0].clientURLs, [member.clientUrl]);
        const status = JSON.parse(await ok(["endpoint", "status", "-w", "json"]));
        assert.equal(status[0].Status.version, "3.4.23");
        const health = await member.etcdctl(["endpoint", "health"]);
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
        assert.deepEqual((await member.http("/health")).json(), { health: "true" });
        assert.deepEqual((await member.http("/version")).json(), {
          etcdserver: "3.4.23",
          etcdcluster: "3.4.0",
        });
        assert.match((await member.http("/metrics")).text, /^etcd_server_has_leader 1$/m);
        const put = await member.http("/v3/kv/put", { body: { key: b64("gw/a"), value: b64("1") } });
        assert.equal(put.status, 200, put.text);
        const got = (await member.http("/v3/kv/range", { body: { key: b64("gw/a") } })).json() as {
          kvs: { value: string }[];
        };
        assert.equal(Buffer.from(got.kvs[0].value, "base64").toString(), "1");
        const revision = Number((put.json() as { header: { revision: string } }).header.revision);
        const lines = (await streamLines(
          `${member.clientUrl}/v3/watch`,
          { create_request: { key: b64("gw/a"), start_revision: revision } },
          2,
        )) as { result: { events?: { kv: { value: string } }[] } }[];
        assert.equal(Buffer.from(lines[1].result.events?.[0].kv.value ?? "", "base64").toString(), "1");
      },
    );

    e2eTest("the etcd3 npm client puts, reads, watches and leases", {}, async () => {
      const client = new Etcd3({
        hosts: member.clientUrl,
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
    e2eTest(`auth tokens reach the handlers ${variant.through}`, {}, async () => {
      await ok(["user", "add", "root:rootpw"]);
      await ok(["auth", "enable"]);
      const anonymous = await member.etcdctl(["put", "auth/a", "1"]);
      assert.notEqual(anonymous.code, 0);
      assert.match(anonymous.stderr, /user name is empty/);
      assert.equal(await ok(["put", "auth/a", "1", "--user=root:rootpw"]), "OK\n");
      assert.equal(await ok(["get", "auth/a", "--print-value-only", "--user=root:rootpw"]), "1\n");
      const wrong = await member.etcdctl(["get", "auth/a", "--user=root:nope"]);
      assert.match(wrong.stderr, /authentication failed, invalid user ID or password/);
      await ok(["auth", "disable", "--user=root:rootpw"]);
    });
  });
}
