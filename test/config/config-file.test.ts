import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CONFIG_FILE_KEYS } from "../../src/config/config-file.js";
import { FLAGS } from "../../src/config/flags.js";
import { config, failure, hrefs, load } from "./helpers.js";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-config-file-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function file(text: string): string {
  const path = join(dir, `c${counter++}.yaml`);
  writeFileSync(path, text);
  return path;
}

describe("YAML config file", () => {
  test("etcd's keys set the Config; durations are integer nanoseconds", () => {
    const path = file(`
name: infra1
data-dir: /var/lib/etcd
wal-dir: /var/lib/etcd-wal
snapshot-count: 5000
heartbeat-interval: 200
election-timeout: 2000
listen-peer-urls: http://10.0.0.1:2380
listen-client-urls: http://10.0.0.1:2379,http://127.0.0.1:2379
initial-advertise-peer-urls: http://10.0.0.1:2380
advertise-client-urls: http://10.0.0.1:2379
initial-cluster: infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380
initial-cluster-token: tok
initial-cluster-state: existing
max-snapshots: 3
max-wals: 4
quota-backend-bytes: 8589934592
max-txn-ops: 256
max-request-bytes: 2097152
grpc-keepalive-min-time: 1000000000
experimental-watch-progress-notify-interval: 2000000000
auto-compaction-mode: revision
auto-compaction-retention: "100"
pre-vote: true
strict-reconfig-check: false
enable-v2: false
logger: zap
log-outputs: [stderr, /tmp/etcd.log]
log-level: warn
cipher-suites: [TLS_AES_128_GCM_SHA256]
cors: "*"
host-whitelist: b,a
auth-token: simple
bcrypt-cost: 11
auth-token-ttl: 600
force-new-cluster: false
listen-metrics-urls: http://127.0.0.1:9090
client-transport-security:
  cert-file: /c.pem
  key-file: /k.pem
  client-cert-auth: true
  trusted-ca-file: /ca.pem
peer-transport-security:
  auto-tls: true
`);
    const c = config(["--config-file", path]);
    assert.equal(c.configFile, path);
    assert.equal(c.name, "infra1");
    assert.equal(c.dataDir, "/var/lib/etcd");
    assert.equal(c.walDir, "/var/lib/etcd-wal");
    assert.equal(c.snapshotCount, 5000);
    assert.equal(c.heartbeatIntervalMs, 200);
    assert.equal(c.electionTimeoutMs, 2000);
    assert.deepEqual(hrefs(c.listenPeerUrls), ["http://10.0.0.1:2380"]);
    assert.deepEqual(hrefs(c.listenClientUrls), ["http://10.0.0.1:2379", "http://127.0.0.1:2379"]);
    assert.deepEqual(hrefs(c.advertiseClientUrls), ["http://10.0.0.1:2379"]);
    assert.equal(c.initialCluster, "infra1=http://10.0.0.1:2380,infra2=http://10.0.0.2:2380");
    assert.equal(c.initialClusterToken, "tok");
    assert.equal(c.initialClusterState, "existing");
    assert.equal(c.maxSnapshots, 3);
    assert.equal(c.maxWals, 4);
    assert.equal(c.quotaBackendBytes, 8589934592);
    assert.equal(c.maxTxnOps, 256);
    assert.equal(c.maxRequestBytes, 2097152);
    assert.equal(c.grpcKeepaliveMinTimeMs, 1000);
    assert.equal(c.experimentalWatchProgressNotifyIntervalMs, 2000);
    assert.equal(c.autoCompactionMode, "revision");
    assert.equal(c.autoCompactionRetention, "100");
    assert.equal(c.preVote, true);
    assert.equal(c.strictReconfigCheck, false);
    assert.equal(c.logger, "zap");
    assert.deepEqual(c.logOutputs, ["stderr", "/tmp/etcd.log"]);
    assert.equal(c.logLevel, "warn");
    assert.deepEqual(c.cipherSuites, ["TLS_AES_128_GCM_SHA256"]);
    assert.deepEqual(c.cors, ["*"]);
    assert.deepEqual(c.hostWhitelist, ["a", "b"]);
    assert.equal(c.bcryptCost, 11);
    assert.equal(c.authTokenTtlSeconds, 600);
    assert.deepEqual(hrefs(c.listenMetricsUrls), ["http://127.0.0.1:9090"]);
    assert.equal(c.clientTls.certFile, "/c.pem");
    assert.equal(c.clientTls.keyFile, "/k.pem");
    assert.equal(c.clientTls.clientCertAuth, true);
    assert.equal(c.clientTls.trustedCaFile, "/ca.pem");
    assert.equal(c.clientTls.autoTls, false);
    assert.equal(c.peerTls.autoTls, true);
  });
  test("v2 proxy keys", () => {
    const c = config([
      "--config-file",
      file('proxy: "readonly"\nproxy-dial-timeout: 7\ndiscovery-fallback: exit\nproxy-read-timeout: 9\n'),
    ]);
    assert.equal(c.proxy, "readonly");
    assert.equal(c.proxyDialTimeoutMs, 7);
    assert.equal(c.proxyReadTimeoutMs, 9);
    assert.equal(c.discoveryFallback, "exit");
  });
  test("other flags and ETCD_* variables are ignored when a config file is given", () => {
    const path = file("name: fromfile\n");
    const r = load(["--config-file", path, "--name=fromflag", "--heartbeat-interval=999"], {
      ETCD_NAME: "fromenv",
      ETCD_SNAPSHOT_COUNT: "1",
      ETCD_BOGUS: "1",
    });
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.equal(r.config.name, "fromfile");
    assert.equal(r.config.heartbeatIntervalMs, 100);
    assert.equal(r.config.snapshotCount, 100000);
    assert.ok(!r.warnings.some((w) => w.includes("ETCD_BOGUS")), "environment is not even looked at");
    assert.ok(r.notices.some((n) => n.includes(path)));
  });
  test("ETCD_CONFIG_FILE names the file when the flag does not", () => {
    const path = file("name: viaenv\n");
    assert.equal(config([], { ETCD_CONFIG_FILE: path }).name, "viaenv");
    const other = file("name: viaflag\n");
    assert.equal(config(["--config-file", other], { ETCD_CONFIG_FILE: path }).name, "viaflag");
  });
  test("keys match without regard to case, unknown keys are warned and ignored, null keeps the default", () => {
    const r = load(["--config-file", file("Name: upper\nmystery-key: 1\nsnapshot-count: null\n")]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.equal(r.config.name, "upper");
    assert.equal(r.config.snapshotCount, 100000);
    assert.ok(r.warnings.some((w) => w.includes('"mystery-key"')));
  });
  test("YAML 1.1 booleans (yes/no/on/off), as etcd's YAML reader has them", () => {
    assert.equal(
      config(["--config-file", file("pre-vote: yes\nstrict-reconfig-check: off\n")]).preVote,
      true,
    );
    assert.equal(config(["--config-file", file("strict-reconfig-check: off\n")]).strictReconfigCheck, false);
  });
  test("an empty file means all defaults; the data dir follows the name", () => {
    const c = config(["--config-file", file("")]);
    assert.equal(c.name, "default");
    assert.equal(c.dataDir, "default.etcd");
    assert.equal(config(["--config-file", file("name: n9\n")]).dataDir, "n9.etcd");
  });
  test("the name alone makes this member the initial cluster; discovery clears it", () => {
    assert.equal(config(["--config-file", file("name: n1\n")]).initialCluster, "n1=http://localhost:2380");
    assert.equal(config(["--config-file", file("discovery: https://d.example/x\n")]).initialCluster, "");
    assert.equal(config(["--config-file", file("discovery-srv: example.com\n")]).initialCluster, "");
  });
  test("an empty initial-cluster-state means new", () => {
    assert.equal(config(["--config-file", file('initial-cluster-state: ""\n')]).initialClusterState, "new");
  });
  test("wrong types name the key and what it must be", () => {
    const path = file("heartbeat-interval: fast\n");
    assert.equal(
      failure(["--config-file", path]),
      `invalid value "fast" for "heartbeat-interval" in config file ${path}: want an unsigned integer`,
    );
    const p2 = file("heartbeat-interval: -5\n");
    assert.match(
      failure(["--config-file", p2]),
      /invalid value -5 for "heartbeat-interval".*unsigned integer/,
    );
    const p3 = file("grpc-keepalive-min-time: 5s\n");
    assert.match(failure(["--config-file", p3]), /"grpc-keepalive-min-time".*integer number of nanoseconds/);
    const p4 = file("name: 123\n");
    assert.match(failure(["--config-file", p4]), /invalid value 123 for "name".*want a string/);
    const p5 = file("pre-vote: maybe\n");
    assert.match(failure(["--config-file", p5]), /"pre-vote".*want a boolean/);
    const p6 = file("log-outputs: stderr\n");
    assert.match(failure(["--config-file", p6]), /"log-outputs".*want a list of strings/);
    const p7 = file("client-transport-security: {client-cert-auth: 3}\n");
    assert.match(failure(["--config-file", p7]), /"client-transport-security".*TLS settings/);
  });
  test("bad URLs and choices fail with etcd's set-up messages", () => {
    assert.equal(
      failure(["--config-file", file("listen-peer-urls: localhost:2380\n")]),
      "unexpected error setting up listen-peer-urls: URL scheme must be http, https, unix, or unixs: localhost:2380",
    );
    assert.match(
      failure(["--config-file", file("advertise-client-urls: http://a\n")]),
      /^unexpected error setting up advertise-client-urls: URL address does not have the form "host:port"/,
    );
    assert.match(
      failure(["--config-file", file("listen-metrics-urls: http://a:1/x\n")]),
      /^unexpected error setting up listen-metrics-urls: URL must not contain a path/,
    );
    assert.equal(
      failure(["--config-file", file("proxy: sometimes\n")]),
      "unexpected error setting up proxyFlag: invalid value",
    );
    assert.equal(
      failure(["--config-file", file("discovery-fallback: retry\n")]),
      "unexpected error setting up discovery-fallback flag: invalid value",
    );
    assert.equal(
      failure(["--config-file", file("initial-cluster-state: old\n")]),
      'unexpected clusterState "old"',
    );
  });
  test("log outputs: both lists empty is an error; the old key alone is used with a warning", () => {
    assert.equal(
      failure(["--config-file", file("log-outputs: []\nlog-output: []\n")]),
      "either '--log-output' or '--log-outputs' flag must be set",
    );
    const r = load(["--config-file", file("logger: zap\nlog-output: [stdout, stderr]\n")]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.deepEqual(r.config.logOutputs, ["stdout", "stderr"]);
    assert.ok(r.warnings.includes("'--log-output' flag has been deprecated! Please use '--log-outputs'!"));
  });
  test("the file's settings are validated like flags", () => {
    assert.equal(
      failure(["--config-file", file("heartbeat-interval: 500\n")]),
      "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[500ms]",
    );
  });
  test("unreadable or malformed files are one-line errors", () => {
    const missing = join(dir, "missing.yaml");
    assert.equal(failure(["--config-file", missing]), `open ${missing}: no such file or directory`);
    const bad = file("name: [unclosed\n");
    assert.match(failure(["--config-file", bad]), new RegExp(`^error parsing config file ${bad}: `));
    assert.doesNotMatch(failure(["--config-file", bad]), /\n/);
    const scalar = file("just a string\n");
    assert.match(failure(["--config-file", scalar]), /must be a mapping/);
    const dup = file("name: a\nname: b\n");
    assert.match(failure(["--config-file", dup]), /error parsing config file/);
  });
  test("every config-file key is a flag name (or a security section)", () => {
    const flagNames = new Set(FLAGS.map((f) => f.name));
    for (const key of CONFIG_FILE_KEYS) {
      if (key.endsWith("-transport-security")) continue;
      assert.ok(flagNames.has(key), key);
    }
  });
});
