import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FLAGS, HELP_GROUPS, IGNORED_FLAG_NAMES } from "../../src/config/flags.js";
import { flagsHelp, helpText, versionText } from "../../src/config/help.js";
import { config } from "./helpers.js";

/** Every flag etcd 3.4.23's command defines (etcdmain/config.go), ignored ones aside. */
const ETCD_34_FLAGS = (
  "advertise-client-urls auth-token auth-token-ttl auto-compaction-mode auto-compaction-retention auto-tls " +
  "backend-batch-interval backend-batch-limit bcrypt-cost cert-file cipher-suites client-cert-allowed-hostname " +
  "client-cert-auth client-crl-file config-file cors data-dir debug discovery discovery-fallback discovery-proxy " +
  "discovery-srv discovery-srv-name election-timeout enable-grpc-gateway enable-pprof enable-v2 " +
  "experimental-backend-bbolt-freelist-type experimental-compaction-batch-limit experimental-corrupt-check-time " +
  "experimental-enable-lease-checkpoint experimental-enable-lease-checkpoint-persist experimental-enable-v2v3 " +
  "experimental-initial-corrupt-check experimental-peer-skip-client-san-verification " +
  "experimental-warning-apply-duration experimental-watch-progress-notify-interval force-new-cluster " +
  "grpc-keepalive-interval grpc-keepalive-min-time grpc-keepalive-timeout heartbeat-interval host-whitelist " +
  "initial-advertise-peer-urls initial-cluster initial-cluster-state initial-cluster-token " +
  "initial-election-tick-advance key-file listen-client-urls listen-metrics-urls listen-peer-urls log-level " +
  "log-output log-outputs log-package-levels logger max-concurrent-streams max-request-bytes max-snapshots " +
  "max-txn-ops max-wals metrics name peer-auto-tls peer-cert-allowed-cn peer-cert-allowed-hostname peer-cert-file " +
  "peer-client-cert-auth peer-crl-file peer-key-file peer-trusted-ca-file pre-vote proxy proxy-dial-timeout " +
  "proxy-failure-wait proxy-read-timeout proxy-refresh-interval proxy-write-timeout quota-backend-bytes " +
  "snapshot-count strict-reconfig-check trusted-ca-file unsafe-no-fsync version wal-dir"
).split(" ");

/** Flags etcd does not have. */
const RXETCD_ONLY_FLAGS = [
  "listen-feed-urls",
  "max-watchers-per-connection",
  "max-lease-keepalive-streams-per-connection",
];

describe("the flag table", () => {
  test("defines every flag of etcd 3.4.23, the ignored old ones and rxetcd's own", () => {
    const ours = new Set(FLAGS.map((f) => f.name));
    for (const name of [...ETCD_34_FLAGS, ...IGNORED_FLAG_NAMES, ...RXETCD_ONLY_FLAGS])
      assert.ok(ours.has(name), name);
    assert.equal(ours.size, ETCD_34_FLAGS.length + IGNORED_FLAG_NAMES.length + RXETCD_ONLY_FLAGS.length);
  });
  test("every flag but the meta and ignored ones has a help group and a text", () => {
    const ungrouped = FLAGS.filter((f) => f.group === undefined).map((f) => f.name);
    assert.deepEqual(ungrouped.sort(), ["config-file", "version", ...IGNORED_FLAG_NAMES].sort());
    for (const f of FLAGS) if (f.group) assert.ok(f.help.length > 10, f.name);
  });
  test("the defaults shown agree with the loaded defaults for plain values", () => {
    const c = config([]) as unknown as Record<string, unknown>;
    const shown = new Map(FLAGS.map((f) => [f.name, f.shownDefault]));
    assert.equal(shown.get("snapshot-count"), String(c.snapshotCount));
    assert.equal(shown.get("heartbeat-interval"), String(c.heartbeatIntervalMs));
    assert.equal(shown.get("election-timeout"), String(c.electionTimeoutMs));
    assert.equal(shown.get("max-txn-ops"), String(c.maxTxnOps));
    assert.equal(shown.get("max-request-bytes"), String(c.maxRequestBytes));
    assert.equal(shown.get("max-wals"), String(c.maxWals));
    assert.equal(shown.get("max-snapshots"), String(c.maxSnapshots));
    assert.equal(shown.get("bcrypt-cost"), String(c.bcryptCost));
    assert.equal(shown.get("auth-token-ttl"), String(c.authTokenTtlSeconds));
    assert.equal(shown.get("initial-cluster"), c.initialCluster);
    assert.equal(shown.get("initial-cluster-token"), c.initialClusterToken);
    assert.equal(shown.get("name"), c.name);
    assert.equal(shown.get("pre-vote"), String(c.preVote));
    assert.equal(shown.get("strict-reconfig-check"), String(c.strictReconfigCheck));
    assert.equal(shown.get("logger"), c.logger);
    assert.equal(shown.get("log-level"), c.logLevel);
    assert.equal(shown.get("proxy-failure-wait"), String(c.proxyFailureWaitMs));
  });
});

describe("--help", () => {
  test("lists the groups in etcd's order", () => {
    const text = flagsHelp();
    const positions = ["Member", "Clustering", "Security", "Auth", "Profiling and Monitoring", "Logging"].map(
      (g) => text.indexOf(`\n${g}:\n`),
    );
    for (const p of positions) assert.ok(p >= 0);
    assert.deepEqual(
      [...positions].sort((a, b) => a - b),
      positions,
    );
    for (const g of HELP_GROUPS) assert.ok(text.includes(`\n${g}:\n`), g);
    assert.ok(text.indexOf("\nExperimental feature:\n") < text.indexOf("\nUnsafe feature:\n"));
  });
  test("shows each flag with its default in quotes, under its group", () => {
    const text = helpText();
    assert.match(text, /\nMember:\n {2}--name 'default'\n {4}\S/);
    assert.ok(text.includes("  --snapshot-count '100000'\n"));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: etcd shows this default as a pattern
    assert.ok(text.includes("  --data-dir '${name}.etcd'\n"));
    assert.ok(text.includes("  --listen-client-urls 'http://localhost:2379'\n"));
    assert.ok(text.includes("  --initial-cluster-state 'new'\n"));
    assert.ok(text.includes("  --experimental-watch-progress-notify-interval '10m'\n"));
    assert.ok(text.includes("  --force-new-cluster 'false'\n"));
    const security = text.slice(text.indexOf("\nSecurity:\n"), text.indexOf("\nAuth:\n"));
    assert.ok(security.includes("--peer-trusted-ca-file"));
    assert.ok(!security.includes("--auth-token"));
    assert.ok(text.startsWith("Usage:"));
    assert.ok(!text.includes("--vv"), "ignored flags are not advertised");
  });
});

describe("--version", () => {
  test("prints rxetcd's and etcd's versions and the runtime", () => {
    const text = versionText({
      rxetcdVersion: "1.2.3",
      nodeVersion: "v20.0.0",
      platform: "linux",
      arch: "x64",
    });
    assert.equal(
      text,
      "rxetcd Version: 1.2.3\netcd Version: 3.4.23\nAPI Version: 3.4\nNode Version: v20.0.0\nNode OS/Arch: linux/x64\n",
    );
  });
});
