import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConfigCodec } from "../../src/config/codec.js";
import { defaultConfig } from "../../src/config/defaults.js";
import { buildConfig, ConfigError } from "../../src/config/load.js";
import { parseUrlList } from "../../src/config/urls.js";
import { config, failure, hrefs, load } from "./helpers.js";

describe("defaults (etcd 3.4.23)", () => {
  test("no flags and no environment give etcd's defaults", () => {
    const c = config([]);
    assert.equal(c.name, "default");
    assert.equal(c.dataDir, "default.etcd");
    assert.equal(c.walDir, "");
    assert.equal(c.snapshotCount, 100000);
    assert.equal(c.snapshotCatchUpEntries, 5000);
    assert.equal(c.maxSnapshots, 5);
    assert.equal(c.maxWals, 5);
    assert.equal(c.heartbeatIntervalMs, 100);
    assert.equal(c.electionTimeoutMs, 1000);
    assert.equal(c.initialElectionTickAdvance, true);
    assert.deepEqual(hrefs(c.listenPeerUrls), ["http://localhost:2380"]);
    assert.deepEqual(hrefs(c.listenClientUrls), ["http://localhost:2379"]);
    assert.deepEqual(hrefs(c.initialAdvertisePeerUrls), ["http://localhost:2380"]);
    assert.deepEqual(hrefs(c.advertiseClientUrls), ["http://localhost:2379"]);
    assert.deepEqual(c.listenMetricsUrls, []);
    assert.equal(c.initialCluster, "default=http://localhost:2380");
    assert.equal(c.initialClusterState, "new");
    assert.equal(c.initialClusterToken, "etcd-cluster");
    assert.equal(c.quotaBackendBytes, 0);
    assert.equal(c.maxTxnOps, 128);
    assert.equal(c.maxRequestBytes, 1572864);
    assert.equal(c.maxConcurrentStreams, 4294967295);
    assert.equal(c.grpcKeepaliveMinTimeMs, 5000);
    assert.equal(c.grpcKeepaliveIntervalMs, 7200000);
    assert.equal(c.grpcKeepaliveTimeoutMs, 20000);
    assert.equal(c.strictReconfigCheck, true);
    assert.equal(c.preVote, false);
    assert.equal(c.enableV2, false);
    assert.equal(c.autoCompactionMode, "periodic");
    assert.equal(c.autoCompactionRetention, "0");
    assert.equal(c.discoveryFallback, "proxy");
    assert.equal(c.proxy, "off");
    assert.equal(c.proxyFailureWaitMs, 5000);
    assert.equal(c.proxyRefreshIntervalMs, 30000);
    assert.equal(c.proxyDialTimeoutMs, 1000);
    assert.equal(c.proxyWriteTimeoutMs, 5000);
    assert.equal(c.proxyReadTimeoutMs, 0);
    assert.deepEqual(c.cors, ["*"]);
    assert.deepEqual(c.hostWhitelist, ["*"]);
    assert.equal(c.logger, "capnslog");
    assert.deepEqual(c.logOutputs, ["default"]);
    assert.equal(c.logLevel, "info");
    assert.equal(c.metrics, "basic");
    assert.equal(c.authToken, "simple");
    assert.equal(c.bcryptCost, 10);
    assert.equal(c.authTokenTtlSeconds, 300);
    assert.equal(c.enableGrpcGateway, true);
    assert.equal(c.experimentalWatchProgressNotifyIntervalMs, 600000);
    assert.equal(c.experimentalCompactionBatchLimit, 1000);
    assert.equal(c.experimentalWarningApplyDurationMs, 100);
    assert.equal(c.experimentalCorruptCheckTimeMs, 0);
    assert.equal(c.forceNewCluster, false);
    assert.equal(c.configFile, "");
  });
  test("defaultConfig() is itself a valid Config", () => {
    assert.equal(ConfigCodec.is(defaultConfig()), true);
  });
  test("the loaded Config passes its own codec", () => {
    assert.equal(ConfigCodec.is(config(["--name=x"])), true);
    assert.equal(ConfigCodec.is({ ...defaultConfig(), heartbeatIntervalMs: -1 }), false);
    assert.equal(ConfigCodec.is({ ...defaultConfig(), logLevel: "loud" }), false);
  });
  test("the data dir defaults to <name>.etcd, with a warning", () => {
    const r = load(["--name=infra1"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.equal(r.config.dataDir, "infra1.etcd");
    assert.ok(r.warnings.some((w) => w.includes("'data-dir' was empty; using default infra1.etcd")));
    assert.equal(config(["--name=infra1", "--data-dir=/d"]).dataDir, "/d");
  });
  test("a name alone makes this member the initial cluster, at its advertised peer URLs", () => {
    assert.equal(config(["--name=n1"]).initialCluster, "n1=http://localhost:2380");
    assert.equal(
      config(["--name=n1", "--initial-advertise-peer-urls=http://10.0.0.2:2380,http://10.0.0.1:2380"])
        .initialCluster,
      "n1=http://10.0.0.1:2380,n1=http://10.0.0.2:2380",
    );
    assert.equal(
      config(["--name=n1", "--initial-cluster=n1=http://10.0.0.1:2380"]).initialCluster,
      "n1=http://10.0.0.1:2380",
    );
  });
  test("'0 means default' values are made explicit", () => {
    const c = config([
      "--snapshot-count=0",
      "--experimental-watch-progress-notify-interval=0",
      "--experimental-compaction-batch-limit=0",
    ]);
    assert.equal(c.snapshotCount, 100000);
    assert.equal(c.experimentalWatchProgressNotifyIntervalMs, 600000);
    assert.equal(c.experimentalCompactionBatchLimit, 1000);
  });
  test("a watch progress interval under 100ms is raised to 100ms with a warning", () => {
    const r = load(["--experimental-watch-progress-notify-interval=10ms"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.equal(r.config.experimentalWatchProgressNotifyIntervalMs, 100);
    assert.ok(
      r.warnings.some((w) => w.includes("adjusting watch progress notify interval to minimum period")),
    );
  });
  test("a bcrypt cost outside 4..31 falls back to 10 with a warning", () => {
    for (const cost of ["3", "32"]) {
      const r = load([`--bcrypt-cost=${cost}`]);
      assert.equal(r.kind, "config");
      if (r.kind !== "config") return;
      assert.equal(r.config.bcryptCost, 10);
      assert.ok(r.warnings.some((w) => w.includes(`invalid given cost ${cost}`)));
    }
    assert.equal(config(["--bcrypt-cost=4"]).bcryptCost, 4);
    assert.equal(config(["--bcrypt-cost=31"]).bcryptCost, 31);
  });
  test("--enable-v2 is accepted and warned about", () => {
    const r = load(["--enable-v2"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.ok(r.warnings.some((w) => w.includes("enable-v2")));
  });
});

describe("client URL advertising and proxies", () => {
  test("listening on chosen client URLs requires advertising some", () => {
    assert.equal(
      failure(["--listen-client-urls=http://10.0.0.1:2379"]),
      "--advertise-client-urls is required when --listen-client-urls is set explicitly",
    );
    assert.deepEqual(
      hrefs(
        config(["--listen-client-urls=http://10.0.0.1:2379", "--advertise-client-urls=http://10.0.0.1:2379"])
          .advertiseClientUrls,
      ),
      ["http://10.0.0.1:2379"],
    );
  });
  test("the rule holds when the listen URLs come from the environment", () => {
    assert.equal(
      failure([], { ETCD_LISTEN_CLIENT_URLS: "http://10.0.0.1:2379" }),
      "--advertise-client-urls is required when --listen-client-urls is set explicitly",
    );
  });
  test("a proxy, or a discovery that may fall back to a proxy, needs no advertised client URLs", () => {
    const c = config(["--proxy=on", "--listen-client-urls=http://10.0.0.1:2379"]);
    assert.deepEqual(hrefs(c.advertiseClientUrls), ["http://localhost:2379"]);
    const d = config([
      "--discovery=https://discovery.example/abc",
      "--listen-client-urls=http://10.0.0.1:2379",
    ]);
    assert.equal(d.proxy, "off");
    assert.equal(
      failure([
        "--discovery=https://discovery.example/abc",
        "--discovery-fallback=exit",
        "--listen-client-urls=http://10.0.0.1:2379",
      ]),
      "--advertise-client-urls is required when --listen-client-urls is set explicitly",
    );
  });
});

describe("discovery and the initial cluster", () => {
  test("a discovery setting clears the default initial cluster", () => {
    assert.equal(config(["--discovery=https://d.example/x"]).initialCluster, "");
    assert.equal(config(["--discovery-srv=example.com"]).initialCluster, "");
    assert.equal(config(["--discovery-srv-name=x"]).initialCluster, "");
  });
  test("an explicit initial cluster with discovery is a conflict", () => {
    const conflict =
      'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"';
    assert.equal(
      failure(["--discovery=https://d.example/x", "--initial-cluster=default=http://localhost:2380"]),
      conflict,
    );
    assert.equal(failure(["--discovery=https://d.example/x", "--discovery-srv=example.com"]), conflict);
  });
});

describe("ETCD_* environment variables", () => {
  test("every flag can come from ETCD_<FLAG>", () => {
    const c = config([], {
      ETCD_NAME: "envname",
      ETCD_DATA_DIR: "/data",
      ETCD_HEARTBEAT_INTERVAL: "200",
      ETCD_ELECTION_TIMEOUT: "2000",
      ETCD_PRE_VOTE: "true",
      ETCD_LISTEN_PEER_URLS: "http://127.0.0.1:12380",
      ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL: "1s",
      ETCD_LOG_OUTPUTS: "stderr",
    });
    assert.equal(c.name, "envname");
    assert.equal(c.dataDir, "/data");
    assert.equal(c.heartbeatIntervalMs, 200);
    assert.equal(c.electionTimeoutMs, 2000);
    assert.equal(c.preVote, true);
    assert.deepEqual(hrefs(c.listenPeerUrls), ["http://127.0.0.1:12380"]);
    assert.equal(c.experimentalWatchProgressNotifyIntervalMs, 1000);
    assert.deepEqual(c.logOutputs, ["stderr"]);
  });
  test("an empty variable is not used", () => {
    assert.equal(config([], { ETCD_NAME: "" }).name, "default");
  });
  test("a variable for a flag also on the command line is a fatal conflict", () => {
    const message =
      'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)';
    assert.equal(failure(["--name=cli"], { ETCD_NAME: "env" }), message);
    assert.equal(failure(["--name=cli"], { ETCD_NAME: "" }), message);
  });
  test("unknown ETCD_* variables are warned about; others are not", () => {
    const r = load([], { ETCD_BOGUS: "1", HOME: "/root", PATH: "/bin" });
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.deepEqual(
      r.warnings.filter((w) => w.startsWith("unrecognized")),
      ["unrecognized environment variable ETCD_BOGUS=1"],
    );
  });
  test("used variables are reported as notices", () => {
    const r = load([], { ETCD_NAME: "x" });
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.ok(r.notices.includes("recognized and used environment variable ETCD_NAME=x"));
  });
  test("a bad value names the variable", () => {
    assert.equal(
      failure([], { ETCD_HEARTBEAT_INTERVAL: "fast" }),
      'invalid value "fast" for ETCD_HEARTBEAT_INTERVAL: parse error',
    );
    assert.equal(failure([], { ETCD_PRE_VOTE: "yes" }), 'invalid value "yes" for ETCD_PRE_VOTE: parse error');
    assert.equal(
      failure([], { ETCD_INITIAL_CLUSTER_STATE: "old" }),
      'invalid value "old" for ETCD_INITIAL_CLUSTER_STATE: invalid value',
    );
  });
  test("with several bad variables, the last in flag-name order is reported (as etcd does)", () => {
    assert.equal(
      failure([], { ETCD_SNAPSHOT_COUNT: "x", ETCD_ELECTION_TIMEOUT: "y" }),
      'invalid value "x" for ETCD_SNAPSHOT_COUNT: parse error',
    );
  });
  test("a conflict is reported before a bad value", () => {
    assert.match(
      failure(["--name=a"], { ETCD_NAME: "b", ETCD_MAX_WALS: "z" }),
      /^conflicting environment variable/,
    );
  });
});

describe("buildConfig for embedding", () => {
  test("defaults plus overrides, completed like a loaded configuration", () => {
    const c = buildConfig({
      name: "e1",
      listenClientUrls: parseUrlList("http://127.0.0.1:0"),
      advertiseClientUrls: parseUrlList("http://127.0.0.1:0"),
      initialAdvertisePeerUrls: parseUrlList("http://127.0.0.1:12380"),
    });
    assert.equal(c.dataDir, "e1.etcd");
    assert.equal(c.initialCluster, "e1=http://127.0.0.1:12380");
    assert.equal(c.snapshotCount, 100000);
  });
  test("invalid overrides throw ConfigError with the command's message", () => {
    assert.throws(
      () => buildConfig({ heartbeatIntervalMs: 500 }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[500ms]",
    );
    assert.throws(() => buildConfig({ maxTxnOps: -1 }), ConfigError);
  });
});
