// Members bootstrapping through --discovery, as processes, with Debian's etcd 3.4.23 as the discovery
// service and beside rxetcd: three members form one cluster, a fourth finds it full (exits as etcd does, or
// becomes a v2 proxy), rxetcd and etcd members share a token, a restart ignores the token, and the failures
// (no size key, a bad size, no v2 keys API there, the service down, a member registered twice) read as etcd's.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { type Binary, destroyAllMembers, freePort, Member, needsDebianEtcd, sleep } from "../e2e/harness.js";
import { call } from "../proxy/proxy-process.js";
import { DiscoveryService } from "./discovery-service.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A member that bootstraps through the discovery URL (no --initial-cluster). */
function discoveryMember(binary: Binary, name: string, url: string, extra: string[] = []): Promise<Member> {
  return Member.create({ binary, name, initialCluster: "", extraArgs: ["--discovery", url, ...extra] });
}

/** Starts them all at once (each waits for the others) and waits until each is healthy. */
async function startTogether(members: Member[]): Promise<void> {
  for (const m of members) m.spawnProcess();
  await Promise.all(members.map((m) => m.waitHealthy(30_000)));
}

async function memberNames(m: Member): Promise<string[]> {
  const res = await m.etcdctl(["member", "list"]);
  assert.equal(res.code, 0, res.stderr);
  return res.stdout
    .trim()
    .split("\n")
    .map((line) => line.split(", ")[2])
    .sort();
}

async function putAndReadEverywhere(members: Member[], key: string): Promise<void> {
  const put = await members[0].etcdctl(["put", key, `${key}-value`]);
  assert.equal(put.code, 0, put.stderr);
  for (const m of members) {
    const got = await m.etcdctl(["get", key, "--print-value-only"]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), `${key}-value`, `${m.name} reads the put`);
  }
}

/** Waits for a member expected to fail its start-up; its log for the assertions. */
async function failedStart(m: Member, timeoutMs = 25_000): Promise<string> {
  m.spawnProcess();
  const st = await m.waitExit(timeoutMs);
  assert.ok(st, `${m.binary} still runs after ${timeoutMs} ms\n${m.logText()}`);
  assert.equal(st.code, 1, m.exitReport());
  return m.logText(20_000);
}

/** The `error` field of the first log line with this message (both binaries log JSON). */
function errorOf(log: string, msg: string): string | undefined {
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    const doc = JSON.parse(line) as { msg?: string; error?: string };
    if (doc.msg === msg) return doc.error;
  }
  return undefined;
}

/** Waits until the log has a line with this message; its parsed fields. */
async function logLine(m: Member, msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const line of m.logText(50_000).split("\n")) {
      if (!line.startsWith("{")) continue;
      const doc = JSON.parse(line) as Record<string, unknown>;
      if (doc.msg === msg) return doc;
    }
    await sleep(200);
  }
  assert.fail(`no "${msg}" in the log within ${timeoutMs} ms\n${m.logText()}`);
}

/** The indexes in a v2 error differ with the service's state: "[12]" -> "[N]". */
const withoutIndex = (s: string | undefined) => s?.replace(/\[\d+\]/g, "[N]");

describe("bootstrap through --discovery (Debian's etcd as the service)", {
  skip: needsDebianEtcd,
  timeout: 300_000,
}, () => {
  let service: DiscoveryService;
  before(async () => {
    service = await DiscoveryService.start();
  });
  after(destroyAllMembers);

  describe("three rxetcd members through one token", () => {
    let url: string;
    let members: Member[];
    before(async () => {
      url = await service.token("3");
      members = await Promise.all(["d1", "d2", "d3"].map((n) => discoveryMember("rxetcd", n, url)));
      await startTogether(members);
    });

    test("form one cluster that replicates", async () => {
      for (const m of members) assert.deepEqual(await memberNames(m), ["d1", "d2", "d3"]);
      await putAndReadEverywhere(members, "through-discovery");
    });

    test("a fourth finds the cluster full and exits with etcd's error (--discovery-fallback exit)", async () => {
      const late = await discoveryMember("rxetcd", "d4", url, ["--discovery-fallback", "exit"]);
      const lateEtcd = await discoveryMember("etcd", "e4", url, ["--discovery-fallback", "exit"]);
      const ours = await failedStart(late);
      const theirs = await failedStart(lateEtcd);
      const msg = "failed to bootstrap; discovery token was already used";
      assert.equal(errorOf(ours, msg), "failed to join discovery cluster (discovery: cluster is full)", ours);
      assert.equal(errorOf(ours, msg), errorOf(theirs, msg), theirs);
      assert.equal((await service.registrations(url)).length, 3, "a full cluster takes no registration");
    });

    test("a fourth with the default fallback becomes a v2 proxy in front of the cluster", async () => {
      const proxied = await discoveryMember("rxetcd", "d5", url);
      proxied.spawnProcess();
      await logLine(proxied, "discovery cluster is full, falling back to proxy");
      await logLine(proxied, "v2 proxy started listening on client requests");
      const put = await members[1].etcdctl(["put", "behind-proxy", "yes"]);
      assert.equal(put.code, 0, put.stderr);
      const range = await call(`${proxied.clientUrl}/v3/kv/range`, {
        body: JSON.stringify({ key: b64("behind-proxy") }),
      });
      assert.equal(range.status, 200, range.body);
      const kvs = (JSON.parse(range.body) as { kvs: Array<{ value: string }> }).kvs;
      assert.equal(kvs[0].value, b64("yes"));
      assert.deepEqual(await memberNames(members[0]), ["d1", "d2", "d3"], "the proxy is no member");
    });

    test("--proxy on with --discovery reads the cluster without registering, as etcd's proxy does", async () => {
      for (const binary of ["rxetcd", "etcd"] as const) {
        const p = await discoveryMember(binary, `proxy-${binary}`, url, ["--proxy", "on"]);
        await startTogether([p]);
        const range = await call(`${p.clientUrl}/v3/kv/range`, {
          body: JSON.stringify({ key: b64("through-discovery") }),
        });
        assert.equal(range.status, 200, `${binary}: ${range.body}`);
        const kvs = (JSON.parse(range.body) as { kvs: Array<{ value: string }> }).kvs;
        assert.equal(kvs[0].value, b64("through-discovery-value"), binary);
        await logLine(p, "proxy using peer URLS");
      }
      assert.equal((await service.registrations(url)).length, 3);
    });
  });

  test("two rxetcd members and one etcd member through one token form one cluster and replicate", async () => {
    const url = await service.token("3");
    const members = [
      await discoveryMember("rxetcd", "mixed-r1", url),
      await discoveryMember("etcd", "mixed-e", url),
      await discoveryMember("rxetcd", "mixed-r2", url),
    ];
    await startTogether(members);
    for (const m of members) assert.deepEqual(await memberNames(m), ["mixed-e", "mixed-r1", "mixed-r2"]);
    await putAndReadEverywhere([members[1], members[0], members[2]], "mixed");
  });

  test("a restart from the WAL ignores the token; a wiped member is refused as registered twice, as by etcd", async () => {
    for (const binary of ["rxetcd", "etcd"] as const) {
      const url = await service.token("1");
      const m = await discoveryMember(binary, `again-${binary}`, url);
      await startTogether([m]);
      await m.stop();
      await m.restart();
      const ignored = await logLine(
        m,
        "discovery token is ignored since cluster already initialized; valid logs are found",
      );
      assert.ok(String(ignored["wal-dir"]).endsWith("member/wal"));
      await m.stop();
      rmSync(m.dataDir, { recursive: true, force: true });
      const log = await failedStart(m);
      assert.equal(
        errorOf(log, "member has been registered with discovery service"),
        "discovery: found duplicate id",
        log,
      );
      assert.match(log, /or use a new discovery token if previous bootstrap failed/);
    }
  });

  test("no size key, a bad size, a URL that is no v2 keys API: etcd's errors", async () => {
    const msg = "failed to bootstrap; discovery token was already used";
    const cases: Array<[string, RegExp]> = [
      [
        await service.token(undefined),
        /^failed to join discovery cluster \(100: Key not found \(\/_etcd\/registry\/[0-9a-f]+\) \[\d+\]\)$/,
      ],
      [await service.token("three"), /^failed to join discovery cluster \(discovery: size key is bad\)$/],
      // the service's peer port answers 404 with plain text
      [
        `${service.member.peerUrl}/v2/keys/_etcd/registry/peer-port`,
        /^failed to join discovery cluster \(discovery: bad discovery endpoint\)$/,
      ],
    ];
    for (const [url, expected] of cases) {
      const ours = await failedStart(await discoveryMember("rxetcd", "bad", url));
      const theirs = await failedStart(await discoveryMember("etcd", "bad", url));
      assert.match(errorOf(ours, msg) ?? "", expected, ours);
      assert.equal(withoutIndex(errorOf(ours, msg)), withoutIndex(errorOf(theirs, msg)), theirs);
    }
  });

  test("the service down: both retry with the same error and backoff", async () => {
    const url = `http://127.0.0.1:${await freePort()}/v2/keys/_etcd/registry/nobody`;
    const lines: Array<Record<string, unknown>> = [];
    for (const binary of ["rxetcd", "etcd"] as const) {
      const m = await discoveryMember(binary, "waiting", url);
      m.spawnProcess();
      const failed = await logLine(m, "failed to get from discovery server");
      const retry = await logLine(m, "retry connecting to discovery service");
      assert.ok(m.running, m.exitReport());
      await m.kill();
      lines.push({ error: failed.error, path: failed.path, reason: retry.reason, backoff: retry.backoff });
    }
    assert.match(String(lines[0].error), /dial tcp 127\.0\.0\.1:\d+: connect: connection refused/);
    assert.deepEqual(lines[0], lines[1]);
  });
});
