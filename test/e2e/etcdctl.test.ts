// Debian's etcdctl (unchanged) against one rxetcd member; where cheap the same command also runs against Debian's
// etcd and the two outputs must agree once ids, revisions and timings are masked.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type CtlOptions,
  type CtlResult,
  debianEtcd,
  destroyAllMembers,
  e2eTest,
  etcdctl,
  etcdctlPath,
  eventually,
  Member,
  maskVolatile,
  needsDebianEtcd,
  startMembersOnce,
  streamLines,
} from "./harness.js";

/** etcdctl's stderr carries client-side warning lines with random ids; the `Error: ...` lines are what users see. */
function errorLines(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("Error:"))
    .join("\n");
}

function normalized(r: CtlResult) {
  return { code: r.code, stdout: maskVolatile(r.stdout), error: errorLines(r.stderr) };
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

// Not a todo, ever: without etcdctl the e2e suite would prove nothing, so the run must fail.
test("etcdctl is installed (apt-get install etcd-client)", async () => {
  const r = await etcdctl(["version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^etcdctl version: 3\./m);
});

describe("etcdctl against rxetcd", () => {
  let rx: Member;
  let ref: Member | undefined;

  startMembersOnce(async () => {
    etcdctlPath(); // fails the suite with the install hint when etcdctl is missing
    [rx, ref] = await Promise.all([
      Member.start(),
      debianEtcd ? Member.start({ binary: "etcd" }) : undefined,
    ]);
  });
  after(async () => {
    await destroyAllMembers();
  });

  /** Runs one etcdctl command on rxetcd and (when installed) on Debian's etcd; their outputs must agree. */
  async function both(args: string[], opts?: CtlOptions): Promise<CtlResult> {
    const [mine, theirs] = await Promise.all([rx.etcdctl(args, opts), ref?.etcdctl(args, opts)]);
    if (theirs) {
      assert.deepEqual(
        normalized(mine),
        normalized(theirs),
        `etcdctl ${args.join(" ")}: rxetcd (actual) differs from etcd 3.4.23 (expected)`,
      );
    }
    return mine;
  }

  /** Like `both`, but the command must succeed. */
  async function ok(args: string[], opts?: CtlOptions): Promise<string> {
    const r = await both(args, opts);
    assert.equal(r.code, 0, `etcdctl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  }

  async function headerRevision(m: Member): Promise<number> {
    const r = await m.etcdctl(["get", "__no_such_key", "-w", "json"]);
    assert.equal(r.code, 0, r.stderr);
    return Number(JSON.parse(r.stdout).header.revision);
  }

  // first, while both members are fresh: the same writes must give the same KV hash as etcd's (bbolt-independent)
  e2eTest("endpoint hashkv equals etcd's for the same history", { skip: needsDebianEtcd }, async () => {
    for (const args of [
      ["put", "hh/a", "1"],
      ["put", "hh/b", "2"],
      ["del", "hh/a"],
      ["put", "hh/b", "3"],
    ])
      await ok(args);
    const hash = async (m: Member, rev: string) => {
      const r = await m.etcdctl(["endpoint", "hashkv", "--rev", rev, "-w", "json"]);
      assert.equal(r.code, 0, r.stderr);
      return /"hash":(\d+)/.exec(r.stdout)?.[1];
    };
    assert.equal(await hash(rx, "0"), await hash(ref!, "0"), "HashKV at the latest revision");
    assert.equal(await hash(rx, "3"), await hash(ref!, "3"), "HashKV at revision 3");
  });

  e2eTest("endpoint hashkv reports compact_revision -1 before any compaction", {}, async () => {
    const r = await rx.etcdctl(["endpoint", "hashkv", "-w", "json"]);
    assert.match(r.stdout, /"compact_revision":-1/);
  });

  e2eTest("put and get a single key", {}, async () => {
    assert.equal(await ok(["put", "pg/a", "1"]), "OK\n");
    assert.equal(await ok(["get", "pg/a"]), "pg/a\n1\n");
    assert.equal(await ok(["get", "pg/missing"]), "");
  });

  e2eTest("get --prefix, --limit, --keys-only, --print-value-only", {}, async () => {
    for (const [k, v] of [
      ["gp/a", "va"],
      ["gp/b", "vb"],
      ["gp/c", "vc"],
      ["gq", "outside"],
    ])
      await ok(["put", k, v]);
    assert.equal(await ok(["get", "gp/", "--prefix"]), "gp/a\nva\ngp/b\nvb\ngp/c\nvc\n");
    assert.equal(await ok(["get", "gp/", "--prefix", "--limit", "2"]), "gp/a\nva\ngp/b\nvb\n");
    assert.equal(await ok(["get", "gp/", "--prefix", "--keys-only"]), "gp/a\n\ngp/b\n\ngp/c\n\n");
    assert.equal(await ok(["get", "gp/", "--prefix", "--print-value-only"]), "va\nvb\nvc\n");
    assert.equal(
      await ok(["get", "gp/", "--prefix", "--order", "DESCEND", "--keys-only"]),
      "gp/c\n\ngp/b\n\ngp/a\n\n",
    );
    assert.equal(await ok(["get", "gp/a", "gp/c"]), "gp/a\nva\ngp/b\nvb\n");
  });

  e2eTest("get -w json: base64 bytes, revisions, count and more", {}, async () => {
    await ok(["put", "gj/1", "x"]);
    await ok(["put", "gj/2", "y"]);
    const out = await ok(["get", "gj/", "--prefix", "--limit", "1", "-w", "json"]);
    const j = JSON.parse(out);
    assert.equal(j.kvs.length, 1);
    assert.equal(j.kvs[0].key, b64("gj/1"));
    assert.equal(j.kvs[0].value, b64("x"));
    assert.equal(j.kvs[0].version, 1);
    assert.equal(j.kvs[0].create_revision, j.kvs[0].mod_revision);
    assert.equal(j.count, 2);
    assert.equal(j.more, true);
    assert.ok(j.header.revision >= j.kvs[0].mod_revision + 1);
    assert.ok(j.header.member_id > 0 && j.header.cluster_id > 0 && j.header.raft_term > 0);
  });

  e2eTest("get --rev reads an older version of a key", {}, async () => {
    await ok(["put", "gr/k", "old"]);
    const rev = await headerRevision(rx);
    await ok(["put", "gr/k", "new"]);
    const r = await rx.etcdctl(["get", "gr/k", "--rev", String(rev)]);
    assert.equal(r.stdout, "gr/k\nold\n");
    assert.equal((await rx.etcdctl(["get", "gr/k"])).stdout, "gr/k\nnew\n");
    const j = JSON.parse((await rx.etcdctl(["get", "gr/k", "-w", "json"])).stdout);
    assert.equal(j.kvs[0].version, 2);
    assert.equal(j.kvs[0].mod_revision, rev + 1);
  });

  e2eTest("put --prev-kv prints the previous key-value", {}, async () => {
    assert.equal(await ok(["put", "pp/k", "one", "--prev-kv"]), "OK\n");
    assert.equal(await ok(["put", "pp/k", "two", "--prev-kv"]), "OK\npp/k\none\n");
  });

  e2eTest("put reads the value from stdin when it is absent", {}, async () => {
    assert.equal(await ok(["put", "ps/k"], { input: "from stdin" }), "OK\n");
    assert.equal(await ok(["get", "ps/k", "--print-value-only"]), "from stdin\n");
  });

  e2eTest("del, del --prefix, del --prev-kv", {}, async () => {
    for (const k of ["dl/a", "dl/b", "dl/c", "dm"]) await ok(["put", k, `v-${k}`]);
    assert.equal(await ok(["del", "dl/a"]), "1\n");
    assert.equal(await ok(["del", "dl/a"]), "0\n");
    assert.equal(await ok(["del", "dl/", "--prefix", "--prev-kv"]), "2\ndl/b\nv-dl/b\ndl/c\nv-dl/c\n");
    assert.equal(await ok(["get", "dl/", "--prefix"]), "");
    assert.equal(await ok(["get", "dm"]), "dm\nv-dm\n");
  });

  e2eTest("get --from-key, --sort-by, --hex, -w fields, --consistency s", {}, async () => {
    for (const [k, v] of [
      ["gx/1", "c"],
      ["gx/2", "a"],
      ["gx/3", "b"],
    ])
      await ok(["put", k, v]);
    assert.equal(await ok(["get", "gx/2", "--from-key", "--keys-only", "--limit", "2"]), "gx/2\n\ngx/3\n\n");
    assert.equal(
      await ok(["get", "gx/", "--prefix", "--sort-by", "VALUE", "--print-value-only"]),
      "a\nb\nc\n",
    );
    assert.equal(
      await ok(["get", "gx/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND", "--keys-only"]),
      "gx/3\n\ngx/2\n\ngx/1\n\n",
    );
    assert.equal(await ok(["get", "gx/1", "--hex"]), "\\x67\\x78\\x2f\\x31\n\\x63\n");
    assert.match(await ok(["get", "gx/1", "-w", "fields"]), /"Key" : "gx\/1"\n[\s\S]*"Value" : "c"\n/);
    assert.equal(
      await ok(["get", "gx/", "--prefix", "--consistency", "s", "--print-value-only"]),
      "c\na\nb\n",
    );
  });

  e2eTest("put --ignore-value and --ignore-lease keep the other half", {}, async () => {
    const grant = await rx.etcdctl(["lease", "grant", "100"]);
    const id = grant.stdout.split(" ")[1];
    assert.equal((await rx.etcdctl(["put", "iv/k", "orig", "--lease", id])).code, 0);
    assert.equal((await rx.etcdctl(["put", "iv/k", "--ignore-value", "--lease", id])).stdout, "OK\n");
    assert.equal((await rx.etcdctl(["get", "iv/k", "--print-value-only"])).stdout, "orig\n");
    assert.equal((await rx.etcdctl(["put", "iv/k", "new", "--ignore-lease"])).stdout, "OK\n");
    const j = (await rx.etcdctl(["get", "iv/k", "-w", "json"])).stdout;
    assert.equal(
      BigInt(/"lease":(\d+)/.exec(j)?.[1] ?? "0")
        .toString(16)
        .padStart(16, "0"),
      id,
      "lease kept",
    );
    assert.match(j, new RegExp(`"value":"${b64("new")}"`));
    await rx.etcdctl(["lease", "revoke", id]);
    // etcdctl refuses --ignore-value with a value itself; the missing-key case is the server's
    const missing = await both(["put", "iv/none", "--ignore-value"]);
    assert.equal(missing.code, 1);
  });

  e2eTest("member list shows this member with its URLs", {}, async () => {
    const r = await rx.etcdctl(["member", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^[0-9a-f]+, started, e2e, ${rx.peerUrl}, ${rx.clientUrl}, false\n$`));
    const id = r.stdout.split(",")[0];
    const status = (await rx.etcdctl(["endpoint", "status"])).stdout;
    assert.equal(status.split(", ")[1], id, "endpoint status names the same member id");
  });

  e2eTest(
    "lock runs a command while holding the lock; elect proclaims and --listen observes",
    {},
    async () => {
      const lock = await both(["lock", "lk/name", "echo", "locked"]);
      assert.equal(lock.stdout, "locked\n");
      const campaign = rx.spawnEtcdctl(["elect", "el/name", "p1"]);
      try {
        const [leaderKey, proposal] = await campaign.waitForLines(2);
        assert.match(leaderKey, /^el\/name\/[0-9a-f]+$/);
        assert.equal(proposal, "p1");
        const listen = rx.spawnEtcdctl(["elect", "el/name", "--listen"]);
        try {
          assert.deepEqual((await listen.waitForLines(2)).slice(0, 2), [leaderKey, "p1"]);
        } finally {
          await listen.stop();
        }
      } finally {
        await campaign.stop();
      }
    },
  );

  e2eTest("txn -i: compare true runs the success branch", {}, async () => {
    await ok(["put", "tx/k", "v1"]);
    const input = 'value("tx/k") = "v1"\n\nput tx/ok yes\n\nput tx/ok no\n\n';
    const out = await ok(["txn", "-i"], { input });
    assert.match(out, /SUCCESS\n\nOK\n/);
    assert.equal(await ok(["get", "tx/ok", "--print-value-only"]), "yes\n");
  });

  e2eTest("txn -i: a false compare runs the failure branch, with gets", {}, async () => {
    await ok(["put", "tf/k", "v"]);
    const input = 'mod("tf/k") > "0"\nversion("tf/k") = "2"\n\nput tf/r yes\n\nput tf/r no\nget tf/k\n\n';
    const out = await ok(["txn", "-i"], { input });
    assert.match(out, /FAILURE\n\nOK\n\ntf\/k\nv\n$/);
    assert.equal(await ok(["get", "tf/r", "--print-value-only"]), "no\n");
  });

  e2eTest("txn -i -w json: responses in op order, one revision for the txn", {}, async () => {
    await ok(["put", "tj/a", "1"]);
    const input = 'create("tj/a") > "0"\n\nput tj/b 2\nget tj/a\ndel tj/a\n\n\n';
    const out = await ok(["txn", "-i", "-w", "json"], { input });
    // -i prints its prompts ("compares:" ...) before the JSON document
    const j = JSON.parse(out.slice(out.indexOf("{")));
    assert.equal(j.succeeded, true);
    assert.equal(j.responses.length, 3);
    assert.ok(j.responses[0].Response.ResponsePut);
    assert.equal(j.responses[1].Response.ResponseRange.kvs[0].value, b64("1"));
    assert.equal(j.responses[2].Response.ResponseDeleteRange.deleted, 1);
    const b = JSON.parse((await rx.etcdctl(["get", "tj/b", "-w", "json"])).stdout);
    assert.equal(b.kvs[0].mod_revision, j.header.revision);
  });

  e2eTest("watch --prefix --prev-kv prints put and delete events", {}, async () => {
    const start = (await headerRevision(rx)) + 1;
    // --rev pins the start so that events written before the watch is registered are still delivered
    const w = rx.spawnEtcdctl(["watch", "wp/", "--prefix", "--prev-kv", "--rev", String(start)]);
    try {
      await rx.etcdctl(["put", "wp/a", "1"]);
      await rx.etcdctl(["put", "wp/a", "2"]);
      await rx.etcdctl(["put", "other", "x"]);
      await rx.etcdctl(["del", "wp/a"]);
      const lines = await w.waitForLines(12);
      assert.deepEqual(lines.slice(0, 12), [
        "PUT",
        "wp/a",
        "1",
        "PUT",
        "wp/a",
        "1",
        "wp/a",
        "2",
        "DELETE",
        "wp/a",
        "2",
        "wp/a",
      ]);
    } finally {
      await w.stop();
    }
  });

  e2eTest("watch --rev replays history and then follows new events", {}, async () => {
    await rx.etcdctl(["put", "wh/k", "h1"]);
    const first = await headerRevision(rx);
    await rx.etcdctl(["put", "wh/k", "h2"]);
    const w = rx.spawnEtcdctl(["watch", "wh/k", "--rev", String(first)]);
    try {
      await w.waitForLines(6);
      await rx.etcdctl(["put", "wh/k", "h3"]);
      const lines = await w.waitForLines(9);
      assert.deepEqual(lines.slice(0, 9), ["PUT", "wh/k", "h1", "PUT", "wh/k", "h2", "PUT", "wh/k", "h3"]);
    } finally {
      await w.stop();
    }
  });

  e2eTest("watch without --rev sees a put made after it started", {}, async () => {
    const w = rx.spawnEtcdctl(["watch", "wn/k"]);
    try {
      // the watch is registered asynchronously: keep writing until the first event shows up
      const lines = await eventually("watch event", async () => {
        await rx.etcdctl(["put", "wn/k", "live"]);
        return w.stdout.includes("live") ? w.stdout.split("\n") : undefined;
      });
      assert.deepEqual(lines.slice(0, 3), ["PUT", "wn/k", "live"]);
    } finally {
      await w.stop();
    }
  });

  e2eTest("lease grant, put --lease, timetolive --keys, keep-alive --once, list, revoke", {}, async () => {
    const grant = await rx.etcdctl(["lease", "grant", "60"]);
    assert.equal(grant.code, 0, grant.stderr);
    const m = /^lease ([0-9a-f]+) granted with TTL\(60s\)\n$/.exec(grant.stdout);
    assert.ok(m, `unexpected grant output: ${grant.stdout}`);
    const id = m[1];
    assert.equal((await rx.etcdctl(["put", "--lease", id, "ls/k", "v"])).stdout, "OK\n");
    const ttl = await rx.etcdctl(["lease", "timetolive", id, "--keys"]);
    assert.match(
      ttl.stdout,
      new RegExp(
        `^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[ls/k\\]\\)\n$`,
      ),
    );
    const ttlText = (await rx.etcdctl(["lease", "timetolive", id, "--keys", "-w", "json"])).stdout;
    const ttlJson = JSON.parse(ttlText);
    assert.equal(ttlJson["granted-ttl"], 60);
    assert.ok(ttlJson.ttl > 50 && ttlJson.ttl <= 60);
    assert.deepEqual(ttlJson.keys, [b64("ls/k")]);
    // the id is a uint64 beyond 2^53: read it from the text, not through JSON.parse
    assert.equal(
      BigInt(/"id":(\d+)/.exec(ttlText)?.[1] ?? "0")
        .toString(16)
        .padStart(16, "0"),
      id,
    );
    const ka = await rx.etcdctl(["lease", "keep-alive", "--once", id]);
    assert.equal(ka.stdout, `lease ${id} keepalived with TTL(60)\n`);
    const list = await rx.etcdctl(["lease", "list"]);
    assert.match(list.stdout, /^found \d+ leases\n/);
    assert.ok(list.stdout.split("\n").includes(id), list.stdout);
    assert.equal((await rx.etcdctl(["lease", "revoke", id])).stdout, `lease ${id} revoked\n`);
    assert.equal((await rx.etcdctl(["get", "ls/k"])).stdout, "");
    assert.equal((await rx.etcdctl(["lease", "timetolive", id])).stdout, `lease ${id} already expired\n`);
    const again = await both(["lease", "revoke", id]);
    assert.equal(again.code, 1);
    assert.equal(
      errorLines(again.stderr),
      "Error: failed to revoke lease (etcdserver: requested lease not found)",
    );
  });

  e2eTest(
    "lease outputs match etcd's (ids masked)",
    { skip: debianEtcd ? false : "Debian's etcd not installed" },
    async () => {
      const ids: string[] = [];
      for (const m of [rx, ref!]) {
        const g = await m.etcdctl(["lease", "grant", "100"]);
        ids.push(g.stdout.split(" ")[1]);
      }
      const run = (i: number, args: string[]) =>
        [rx, ref!][i].etcdctl(args.map((a) => (a === "ID" ? ids[i] : a)));
      for (const args of [
        ["put", "--lease", "ID", "lm/k", "v"],
        ["lease", "keep-alive", "--once", "ID"],
        ["lease", "revoke", "ID"],
        ["lease", "timetolive", "ID"],
        ["put", "--lease", "ID", "lm/k", "v"],
      ]) {
        const [a, b] = await Promise.all([run(0, args), run(1, args)]);
        assert.deepEqual(normalized(a), normalized(b), `etcdctl ${args.join(" ")}: rxetcd vs etcd`);
      }
    },
  );

  e2eTest("put --lease with an unknown lease fails like etcd", {}, async () => {
    const r = await both(["put", "--lease", "1234abcd", "lu/k", "v"]);
    assert.equal(r.code, 1);
    assert.equal(errorLines(r.stderr), "Error: etcdserver: requested lease not found");
  });

  e2eTest("endpoint health", {}, async () => {
    const r = await rx.etcdctl(["endpoint", "health"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`${rx.endpoint.replace(/\./g, "\\.")} is healthy: successfully committed proposal: took = `),
    );
    const j = JSON.parse((await rx.etcdctl(["endpoint", "health", "-w", "json"])).stdout);
    assert.equal(j[0].health, true);
  });

  e2eTest("endpoint status", {}, async () => {
    const r = await rx.etcdctl(["endpoint", "status", "-w", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const [s] = JSON.parse(r.stdout);
    assert.equal(s.Endpoint, rx.endpoint);
    assert.equal(s.Status.version, "3.4.23");
    assert.equal(s.Status.leader, s.Status.header.member_id, "a single member leads itself");
    assert.ok(s.Status.raftIndex > 0 && s.Status.raftTerm > 0 && s.Status.dbSize > 0);
    const simple = await rx.etcdctl(["endpoint", "status"]);
    assert.match(
      simple.stdout,
      new RegExp(`^${rx.endpoint}, [0-9a-f]+, 3\\.4\\.23, [^,]+, true, false, \\d+, \\d+, \\d+, \\n$`),
    );
  });

  e2eTest("endpoint hashkv is stable and changes with a write", {}, async () => {
    const hash = async () => {
      const r = await rx.etcdctl(["endpoint", "hashkv", "-w", "json"]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout)[0].HashKV.hash as number;
    };
    const h1 = await hash();
    assert.equal(await hash(), h1);
    await rx.etcdctl(["put", "hk/k", "v"]);
    assert.notEqual(await hash(), h1);
    const simple = await rx.etcdctl(["endpoint", "hashkv"]);
    assert.match(simple.stdout, new RegExp(`^${rx.endpoint}, \\d+\\n$`));
  });

  e2eTest("snapshot save writes the backend with its SHA-256 trailer", {}, async () => {
    const file = join(rx.dataDir, "..", "snap.db");
    rmSync(file, { force: true });
    const r = await rx.etcdctl(["snapshot", "save", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Snapshot saved at ${file}\n`);
    const bytes = readFileSync(file);
    // etcdctl itself refuses a download whose size is not (512-byte sectors + a 32-byte SHA-256)
    assert.equal(statSync(file).size % 512, 32);
    const body = bytes.subarray(0, bytes.length - 32);
    const trailer = bytes.subarray(bytes.length - 32);
    assert.equal(createHash("sha256").update(body).digest("hex"), trailer.toString("hex"), "SHA-256 trailer");
  });

  e2eTest("etcdctl snapshot status reads a saved snapshot", {}, async () => {
    const file = join(rx.dataDir, "..", "snap-status.db");
    rmSync(file, { force: true });
    const put = await rx.etcdctl(["put", "snap/k", "v", "-w", "json"]);
    const rev = (JSON.parse(put.stdout) as { header: { revision: number } }).header.revision;
    assert.equal((await rx.etcdctl(["snapshot", "save", file])).code, 0);
    const r = await rx.etcdctl(["snapshot", "status", file, "-w", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as { revision: number; totalKey: number; totalSize: number };
    assert.ok(status.revision >= rev, `snapshot revision ${status.revision} is at least ${rev}`);
    assert.ok(status.totalKey > 0);
    assert.equal(status.totalSize, statSync(file).size - 32, "the pages in use, without the SHA-256 trailer");
  });

  e2eTest("defrag", {}, async () => {
    await rx.etcdctl(["put", "df/k", "v"]);
    const r = await rx.etcdctl(["defrag"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Finished defragmenting etcd member[${rx.endpoint}]\n`);
    assert.equal((await rx.etcdctl(["get", "df/k"])).stdout, "df/k\nv\n");
  });

  e2eTest("alarm list is empty", {}, async () => {
    const r = await both(["alarm", "list"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, "");
  });

  e2eTest("gateway: /v3/kv/put and /v3/kv/range with base64 and string int64s", {}, async () => {
    const put = await rx.http("/v3/kv/put", { body: { key: b64("gw/k"), value: b64("gv") } });
    assert.equal(put.status, 200, put.text);
    const rev = (put.json() as { header: { revision: string } }).header.revision;
    assert.match(rev, /^\d+$/);
    const range = await rx.http("/v3/kv/range", { body: { key: b64("gw/k") } });
    assert.equal(range.status, 200, range.text);
    const j = range.json() as {
      kvs: Array<Record<string, string>>;
      count: string;
      header: Record<string, string>;
    };
    assert.deepEqual(j.kvs, [
      { key: b64("gw/k"), create_revision: rev, mod_revision: rev, version: "1", value: b64("gv") },
    ]);
    assert.equal(j.count, "1");
    assert.match(j.header.cluster_id, /^\d+$/);
    const none = await rx.http("/v3/kv/range", { body: { key: b64("gw/none") } });
    assert.deepEqual(Object.keys(none.json() as object), ["header"]);
    assert.equal((await rx.etcdctl(["get", "gw/k", "--print-value-only"])).stdout, "gv\n");
  });

  e2eTest("gateway: /v3/watch streams one JSON line per message", {}, async () => {
    const put = await rx.http("/v3/kv/put", { body: { key: b64("gws/k"), value: b64("1") } });
    const rev = (put.json() as { header: { revision: string } }).header.revision;
    const [created, events] = (await streamLines(
      `${rx.clientUrl}/v3/watch`,
      { create_request: { key: b64("gws/k"), start_revision: rev } },
      2,
    )) as Array<{ result: { created?: boolean; events?: Array<{ kv: Record<string, string> }> } }>;
    assert.equal(created.result.created, true);
    assert.deepEqual(events.result.events, [
      { kv: { key: b64("gws/k"), create_revision: rev, mod_revision: rev, version: "1", value: b64("1") } },
    ]);
  });

  e2eTest("gateway: /v3/lease/grant, /v3/lease/timetolive, /v3/kv/lease/leases", {}, async () => {
    const grant = await rx.http("/v3/lease/grant", { body: { TTL: "30" } });
    assert.equal(grant.status, 200, grant.text);
    const id = /"ID":"(\d+)"/.exec(grant.text)?.[1];
    assert.ok(id, grant.text);
    assert.match(grant.text, /"TTL":"30"/);
    const ttl = await rx.http("/v3/lease/timetolive", { body: `{"ID":"${id}"}` });
    assert.match(ttl.text, /"grantedTTL":"30"/);
    const leases = await rx.http("/v3/kv/lease/leases", { body: {} });
    assert.ok(leases.text.includes(`{"ID":"${id}"}`), leases.text);
    const revoke = await rx.http("/v3/kv/lease/revoke", { body: `{"ID":"${id}"}` });
    assert.equal(revoke.status, 200, revoke.text);
  });

  /** Masks what differs between two members (ids, terms, revisions, sizes, hashes, addresses) in gateway JSON. */
  const maskGateway = (t: string) =>
    t
      .replace(
        /"(cluster_id|member_id|raft_term|revision|create_revision|mod_revision|ID|leader|raftIndex|raftTerm|raftAppliedIndex|dbSize|dbSizeInUse|hash)":"?\d+"?/g,
        '"$1":N',
      )
      .replace(/127\.0\.0\.1:\d+/g, "<addr>");

  e2eTest(
    "gateway: txn, deleterange, count_only, status, member list, hash, leases answer like etcd",
    {},
    async () => {
      const requests: Array<[string, object]> = [
        ["/v3/kv/put", { key: b64("gt/a"), value: b64("1") }],
        [
          "/v3/kv/txn",
          {
            compare: [{ key: b64("gt/a"), target: "VALUE", result: "EQUAL", value: b64("1") }],
            success: [
              { request_range: { key: b64("gt/a") } },
              { request_put: { key: b64("gt/b"), value: b64("2"), prev_kv: true } },
            ],
          },
        ],
        [
          "/v3/kv/txn",
          {
            compare: [{ key: b64("gt/a"), target: "VERSION", result: "GREATER", version: "5" }],
            failure: [{ request_delete_range: { key: b64("gt/"), range_end: b64("gt0"), prev_kv: true } }],
          },
        ],
        ["/v3/kv/put", { key: b64("gt/c"), value: b64("3") }],
        ["/v3/kv/range", { key: b64("gt/"), range_end: b64("gt0"), count_only: true }],
        ["/v3/kv/deleterange", { key: b64("gt/"), range_end: b64("gt0") }],
        ["/v3/maintenance/status", {}],
        ["/v3/cluster/member/list", {}],
        ["/v3/maintenance/hash", {}],
      ];
      for (const [path, body] of requests) {
        const mine = await rx.http(path, { body });
        assert.equal(mine.status, 200, `${path}: ${mine.text}`);
        if (ref) {
          const theirs = await ref.http(path, { body });
          assert.equal(
            `${mine.status} ${maskGateway(mine.text)}`,
            `${theirs.status} ${maskGateway(theirs.text)}`,
            `${path}: rxetcd (actual) vs etcd 3.4.23 (expected)`,
          );
        }
      }
      const txn = await rx.http("/v3/kv/txn", {
        body: { success: [{ request_range: { key: b64("gt/"), range_end: b64("gt0"), count_only: true } }] },
      });
      assert.match(
        txn.text,
        /"succeeded":true,"responses":\[\{"response_range":\{"header":\{"revision":"\d+"\}\}\}\]/,
      );
    },
  );

  e2eTest("gateway: /health and /version", {}, async () => {
    const health = await rx.http("/health");
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { health: "true" });
    const version = await rx.http("/version");
    assert.deepEqual(version.json(), { etcdserver: "3.4.23", etcdcluster: "3.4.0" });
  });

  const metricValue = (text: string, name: string): number => {
    const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
    assert.ok(m, `metric ${name} missing`);
    return Number(m[1]);
  };

  e2eTest("/metrics: etcd's server, disk and mvcc metrics", {}, async () => {
    const metrics = await rx.http("/metrics");
    assert.equal(metrics.status, 200);
    assert.equal(metricValue(metrics.text, "etcd_server_has_leader"), 1);
    assert.equal(metricValue(metrics.text, "etcd_server_is_leader"), 1);
    for (const name of [
      "etcd_server_leader_changes_seen_total",
      "etcd_server_proposals_committed_total",
      "etcd_server_proposals_applied_total",
      "etcd_server_proposals_pending",
      "etcd_server_proposals_failed_total",
      "etcd_mvcc_db_total_size_in_bytes",
      "etcd_disk_wal_fsync_duration_seconds_bucket",
      "etcd_disk_backend_commit_duration_seconds_bucket",
    ])
      assert.match(metrics.text, new RegExp(`^${name}[ {]`, "m"), `metric ${name}`);
  });

  e2eTest("/metrics: proposal counters and disk histograms move with writes", {}, async () => {
    await rx.etcdctl(["put", "mt/k", "v"]);
    const text = (await rx.http("/metrics")).text;
    const applied = metricValue(text, "etcd_server_proposals_applied_total");
    assert.ok(applied > 0);
    assert.ok(metricValue(text, "etcd_server_proposals_committed_total") >= applied, "committed >= applied");
    assert.ok(metricValue(text, "etcd_disk_wal_fsync_duration_seconds_count") > 0, "WAL fsyncs observed");
    // the backend commits its batch within --backend-batch-interval (100 ms) of the apply
    let commits = metricValue(text, "etcd_disk_backend_commit_duration_seconds_count");
    for (let i = 0; i < 50 && !(commits > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      commits = metricValue(
        (await rx.http("/metrics")).text,
        "etcd_disk_backend_commit_duration_seconds_count",
      );
    }
    assert.ok(commits > 0, "backend commits observed");
  });

  /** The value of a sample whose labels include `labels` (label order is not significant in the text format). */
  const sampleValue = (text: string, name: string, labels: Record<string, string>): number | undefined => {
    for (const line of text.split("\n")) {
      const m = /^([a-zA-Z_:][\w:]*)\{(.*)\} (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const have = new Map([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3]);
    }
    return undefined;
  };

  e2eTest("/metrics: grpc_server_handled_total counts calls by service, method and code", {}, async () => {
    await rx.etcdctl(["get", "mt/k"]);
    await rx.etcdctl(["get", "mt/k", "--rev", "999999"]);
    const text = (await rx.http("/metrics")).text;
    const labels = { grpc_service: "etcdserverpb.KV", grpc_method: "Range", grpc_type: "unary" };
    assert.ok((sampleValue(text, "grpc_server_handled_total", { ...labels, grpc_code: "OK" }) ?? 0) >= 1);
    assert.ok(
      (sampleValue(text, "grpc_server_handled_total", { ...labels, grpc_code: "OutOfRange" }) ?? 0) >= 1,
    );
  });

  e2eTest("auth: users, roles, permissions, enable, then a user is limited to its keys", {}, async () => {
    const steps: Array<[string[], string]> = [
      [["user", "add", "root:rootpw"], "User root created\n"],
      [["role", "add", "r1"], "Role r1 created\n"],
      [["role", "grant-permission", "r1", "readwrite", "au/", "--prefix"], "Role r1 updated\n"],
      [["user", "add", "u1:u1pw"], "User u1 created\n"],
      [["user", "grant-role", "u1", "r1"], "Role r1 is granted to user u1\n"],
      [["user", "get", "u1"], "User: u1\nRoles: r1\n"],
      [["auth", "enable"], "Authentication Enabled\n"],
      [["--user", "u1:u1pw", "put", "au/k", "v"], "OK\n"],
    ];
    try {
      for (const [args, out] of steps) {
        const r = await both(args);
        assert.equal(r.stdout, out, `etcdctl ${args.join(" ")}: ${r.stderr}`);
      }
      const denied = await both(["--user", "u1:u1pw", "put", "other", "v"]);
      assert.equal(errorLines(denied.stderr), "Error: etcdserver: permission denied");
      const anonymous = await both(["get", "au/k"]);
      assert.equal(errorLines(anonymous.stderr), "Error: etcdserver: user name is empty");
      const inside = await both(["--user", "u1:u1pw", "get", "au/k", "--print-value-only"]);
      assert.equal(inside.stdout, "v\n");
      const wrong = await both(["--user", "u1:nope", "get", "au/k"]);
      assert.equal(
        errorLines(wrong.stderr),
        "Error: etcdserver: authentication failed, invalid user ID or password",
      );
      const notRoot = await both(["--user", "u1:u1pw", "user", "list"]);
      assert.equal(errorLines(notRoot.stderr), "Error: etcdserver: permission denied");
      const disable = await both(["--user", "root:rootpw", "auth", "disable"]);
      assert.equal(disable.stdout, "Authentication Disabled\n");
      assert.equal((await both(["get", "au/k", "--print-value-only"])).stdout, "v\n");
    } finally {
      await Promise.all([rx, ref].map((m) => m?.etcdctl(["--user", "root:rootpw", "auth", "disable"])));
    }
  });

  // compaction last: it discards the history the tests above read
  let beforeCompaction = 0;
  let compactedAt = 0;
  e2eTest("compaction prints the compacted revision and keeps the latest values", {}, async () => {
    await ok(["put", "cp/k", "a"]);
    beforeCompaction = await headerRevision(rx);
    await ok(["put", "cp/k", "b"]);
    compactedAt = await headerRevision(rx);
    const c = await rx.etcdctl(["compaction", String(compactedAt)]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.stdout, `compacted revision ${compactedAt}\n`);
    assert.equal((await rx.etcdctl(["get", "cp/k", "--print-value-only"])).stdout, "b\n");
  });

  e2eTest("get --rev of a compacted revision fails with etcd's error", {}, async () => {
    const g = await rx.etcdctl(["get", "cp/k", "--rev", String(beforeCompaction)]);
    assert.equal(g.code, 1);
    assert.equal(errorLines(g.stderr), "Error: etcdserver: mvcc: required revision has been compacted");
  });

  e2eTest("compaction again, or of a future revision, fails with etcd's errors", {}, async () => {
    const again = await rx.etcdctl(["compaction", String(compactedAt)]);
    assert.equal(again.code, 1);
    assert.equal(errorLines(again.stderr), "Error: etcdserver: mvcc: required revision has been compacted");
    const future = await rx.etcdctl(["compaction", String(compactedAt + 1000)]);
    assert.equal(future.code, 1);
    assert.equal(
      errorLines(future.stderr),
      "Error: etcdserver: mvcc: required revision is a future revision",
    );
  });

  e2eTest("watch --rev of a compacted revision is cancelled by the server", {}, async () => {
    const w = await rx.etcdctl(["watch", "cp/k", "--rev", "1"], { timeoutMs: 10_000 });
    assert.notEqual(w.code, 0);
    assert.match(
      w.stdout + w.stderr,
      /watch was canceled \(etcdserver: mvcc: required revision has been compacted\)/,
    );
  });
});
