import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { config, failure, hrefs, load } from "./helpers.js";

describe("command-line syntax (Go's flag package)", () => {
  test("single and double dashes, '=' and separate values are all accepted", () => {
    for (const argv of [["--name", "n1"], ["--name=n1"], ["-name", "n1"], ["-name=n1"]]) {
      assert.equal(config(argv).name, "n1", argv.join(" "));
    }
  });
  test("a value may start with a dash when given separately", () => {
    assert.equal(config(["--name", "-x"]).name, "-x");
  });
  test("the last occurrence of a flag wins", () => {
    assert.equal(config(["--name=a", "--name=b"]).name, "b");
  });
  test("boolean flags: alone means true, '=' gives a value, the next argument is never consumed", () => {
    assert.equal(config(["--pre-vote"]).preVote, true);
    assert.equal(config(["--pre-vote=false"]).preVote, false);
    assert.equal(config(["--strict-reconfig-check=0"]).strictReconfigCheck, false);
    assert.equal(config(["--strict-reconfig-check=F"]).strictReconfigCheck, false);
    assert.equal(failure(["--pre-vote", "false"]), "'false' is not a valid flag");
  });
  test("'--' ends the flags; anything after a non-flag is refused", () => {
    assert.equal(failure(["--name=a", "--", "--name=b"]), "'--name=b' is not a valid flag");
    assert.equal(failure(["extra"]), "'extra' is not a valid flag");
    assert.equal(failure(["--name=a", "-", "x"]), "'-' is not a valid flag");
  });
  test("-h, --help and -help ask for help", () => {
    for (const h of ["-h", "--help", "-help", "--h"]) assert.equal(load([h]).kind, "help", h);
    assert.equal(load(["--name=x", "--help", "--bogus"]).kind, "help");
  });
  test("--version wins over everything after a successful parse", () => {
    assert.equal(load(["--version"]).kind, "version");
    assert.equal(load(["--version", "--heartbeat-interval=1"]).kind, "version");
    assert.equal(load(["--version=false"]).kind, "config");
    // ...but a malformed command line is reported first, as etcd does.
    assert.equal(load(["--version", "--bogus"]).kind, "error");
  });
  test("malformed command lines exit with code 2 and Go's messages", () => {
    assert.equal(failure(["--bogus"], {}, 2), "flag provided but not defined: -bogus");
    assert.equal(failure(["-bogus=1"], {}, 2), "flag provided but not defined: -bogus");
    assert.equal(failure(["---name=x"], {}, 2), "bad flag syntax: ---name=x");
    assert.equal(failure(["-=x"], {}, 2), "bad flag syntax: -=x");
    assert.equal(failure(["--name"], {}, 2), "flag needs an argument: -name");
    assert.equal(
      failure(["--heartbeat-interval=abc"], {}, 2),
      'invalid value "abc" for flag -heartbeat-interval: parse error',
    );
    assert.equal(
      failure(["--heartbeat-interval", "-1"], {}, 2),
      'invalid value "-1" for flag -heartbeat-interval: parse error',
    );
    assert.equal(
      failure(["--snapshot-count=18446744073709551616"], {}, 2),
      'invalid value "18446744073709551616" for flag -snapshot-count: value out of range',
    );
    assert.equal(
      failure(["--pre-vote=yes"], {}, 2),
      'invalid boolean value "yes" for -pre-vote: parse error',
    );
    assert.equal(
      failure(["--grpc-keepalive-interval=5"], {}, 2),
      'invalid value "5" for flag -grpc-keepalive-interval: parse error',
    );
    assert.equal(
      failure(["--max-concurrent-streams=4294967296"], {}, 2),
      'invalid value "4294967296" for flag -max-concurrent-streams: strconv.ParseUint: parsing "4294967296": value out of range',
    );
    assert.equal(
      failure(["--max-concurrent-streams=x"], {}, 2),
      'invalid value "x" for flag -max-concurrent-streams: strconv.ParseUint: parsing "x": invalid syntax',
    );
    assert.equal(
      failure(["--initial-cluster-state=old"], {}, 2),
      'invalid value "old" for flag -initial-cluster-state: invalid value',
    );
    assert.equal(failure(["--proxy=maybe"], {}, 2), 'invalid value "maybe" for flag -proxy: invalid value');
    assert.equal(
      failure(["--discovery-fallback=retry"], {}, 2),
      'invalid value "retry" for flag -discovery-fallback: invalid value',
    );
    assert.equal(
      failure(["--listen-client-urls=localhost:2379"], {}, 2),
      'invalid value "localhost:2379" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: localhost:2379',
    );
    assert.equal(
      failure(["--listen-peer-urls=http://10.0.0.1:2380/x"], {}, 2),
      'invalid value "http://10.0.0.1:2380/x" for flag -listen-peer-urls: URL must not contain a path: http://10.0.0.1:2380/x',
    );
    assert.equal(
      failure(["--cors=notaurl"], {}, 2),
      'invalid value "notaurl" for flag -cors: URL scheme must be http, https, unix, or unixs: notaurl',
    );
  });
  test("flags etcd no longer supports are accepted with a warning", () => {
    const r = load(["--v", "-peer-heartbeat-interval=5", "--snapshot"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.ok(r.warnings.includes('flag "-v" is no longer supported - ignoring.'));
    assert.ok(r.warnings.includes('flag "-peer-heartbeat-interval" is no longer supported - ignoring.'));
    assert.ok(r.warnings.includes('flag "-snapshot" is no longer supported - ignoring.'));
  });
});

describe("values of flags land in the Config", () => {
  test("numbers, durations (as milliseconds), booleans and strings", () => {
    const c = config([
      "--snapshot-count=0x10",
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--max-snapshots=1",
      "--max-wals=2",
      "--quota-backend-bytes=-1",
      "--backend-batch-interval=10ms",
      "--backend-batch-limit=7",
      "--max-txn-ops=64",
      "--max-request-bytes=1024",
      "--max-concurrent-streams=10",
      "--grpc-keepalive-min-time=1s",
      "--grpc-keepalive-interval=1m",
      "--grpc-keepalive-timeout=1.5s",
      "--initial-election-tick-advance=false",
      "--experimental-watch-progress-notify-interval=5s",
      "--experimental-corrupt-check-time=3m",
      "--experimental-warning-apply-duration=1s",
      "--experimental-compaction-batch-limit=5",
      "--experimental-initial-corrupt-check",
      "--experimental-enable-lease-checkpoint",
      "--experimental-enable-lease-checkpoint-persist",
      "--force-new-cluster",
      "--unsafe-no-fsync",
      "--enable-v2",
      "--enable-pprof",
      "--metrics=extensive",
      "--auth-token=jwt,sign-method=RS256,ttl=5m",
      "--bcrypt-cost=12",
      "--auth-token-ttl=60",
      "--initial-cluster-token=tok",
      "--initial-cluster-state=existing",
      "--strict-reconfig-check=false",
      "--auto-compaction-mode=revision",
      "--auto-compaction-retention=1000",
      "--wal-dir=/tmp/wal",
    ]);
    assert.equal(c.snapshotCount, 16);
    assert.equal(c.heartbeatIntervalMs, 50);
    assert.equal(c.electionTimeoutMs, 500);
    assert.equal(c.maxSnapshots, 1);
    assert.equal(c.maxWals, 2);
    assert.equal(c.quotaBackendBytes, -1);
    assert.equal(c.backendBatchIntervalMs, 10);
    assert.equal(c.backendBatchLimit, 7);
    assert.equal(c.maxTxnOps, 64);
    assert.equal(c.maxRequestBytes, 1024);
    assert.equal(c.maxConcurrentStreams, 10);
    assert.equal(c.grpcKeepaliveMinTimeMs, 1000);
    assert.equal(c.grpcKeepaliveIntervalMs, 60000);
    assert.equal(c.grpcKeepaliveTimeoutMs, 1500);
    assert.equal(c.initialElectionTickAdvance, false);
    assert.equal(c.experimentalWatchProgressNotifyIntervalMs, 5000);
    assert.equal(c.experimentalCorruptCheckTimeMs, 180000);
    assert.equal(c.experimentalWarningApplyDurationMs, 1000);
    assert.equal(c.experimentalCompactionBatchLimit, 5);
    assert.equal(c.experimentalInitialCorruptCheck, true);
    assert.equal(c.experimentalEnableLeaseCheckpoint, true);
    assert.equal(c.experimentalEnableLeaseCheckpointPersist, true);
    assert.equal(c.forceNewCluster, true);
    assert.equal(c.unsafeNoFsync, true);
    assert.equal(c.enableV2, true);
    assert.equal(c.enablePprof, true);
    assert.equal(c.metrics, "extensive");
    assert.equal(c.authToken, "jwt,sign-method=RS256,ttl=5m");
    assert.equal(c.bcryptCost, 12);
    assert.equal(c.authTokenTtlSeconds, 60);
    assert.equal(c.initialClusterToken, "tok");
    assert.equal(c.initialClusterState, "existing");
    assert.equal(c.strictReconfigCheck, false);
    assert.equal(c.autoCompactionMode, "revision");
    assert.equal(c.autoCompactionRetention, "1000");
    assert.equal(c.walDir, "/tmp/wal");
  });
  test("URL lists, TLS settings, string lists", () => {
    const c = config([
      "--listen-client-urls=https://127.0.0.1:2379,http://10.0.0.1:2379",
      "--advertise-client-urls=https://10.0.0.1:2379",
      "--listen-peer-urls=https://0.0.0.0:2380",
      "--initial-advertise-peer-urls=https://10.0.0.1:2380",
      "--initial-cluster=default=https://10.0.0.1:2380",
      "--listen-metrics-urls=http://127.0.0.1:9000",
      "--cert-file=c.pem",
      "--key-file=k.pem",
      "--client-cert-auth",
      "--trusted-ca-file=ca.pem",
      "--client-crl-file=crl.pem",
      "--client-cert-allowed-hostname=h",
      "--auto-tls",
      "--peer-cert-file=pc.pem",
      "--peer-key-file=pk.pem",
      "--peer-client-cert-auth",
      "--peer-trusted-ca-file=pca.pem",
      "--peer-cert-allowed-cn=cn",
      "--peer-cert-allowed-hostname=ph",
      "--peer-auto-tls",
      "--peer-crl-file=pcrl.pem",
      "--experimental-peer-skip-client-san-verification",
      "--cipher-suites=TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384",
      "--cors=http://b.example:80,http://a.example:80",
      "--host-whitelist=b,a,b",
      "--logger=zap",
      "--log-outputs=stdout,/tmp/x.log,stdout",
      "--log-level=debug",
    ]);
    assert.deepEqual(hrefs(c.listenClientUrls), ["http://10.0.0.1:2379", "https://127.0.0.1:2379"]);
    assert.deepEqual(hrefs(c.advertiseClientUrls), ["https://10.0.0.1:2379"]);
    assert.deepEqual(hrefs(c.listenPeerUrls), ["https://0.0.0.0:2380"]);
    assert.deepEqual(hrefs(c.initialAdvertisePeerUrls), ["https://10.0.0.1:2380"]);
    assert.deepEqual(hrefs(c.listenMetricsUrls), ["http://127.0.0.1:9000"]);
    assert.deepEqual(c.clientTls, {
      certFile: "c.pem",
      keyFile: "k.pem",
      clientCertAuth: true,
      trustedCaFile: "ca.pem",
      crlFile: "crl.pem",
      allowedCn: "",
      allowedHostname: "h",
      autoTls: true,
      skipClientSanVerification: false,
    });
    assert.deepEqual(c.peerTls, {
      certFile: "pc.pem",
      keyFile: "pk.pem",
      clientCertAuth: true,
      trustedCaFile: "pca.pem",
      crlFile: "pcrl.pem",
      allowedCn: "cn",
      allowedHostname: "ph",
      autoTls: true,
      skipClientSanVerification: true,
    });
    assert.deepEqual(c.cipherSuites, ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"]);
    assert.deepEqual(c.cors, ["http://a.example:80", "http://b.example:80"]);
    assert.deepEqual(c.hostWhitelist, ["a", "b"]);
    assert.equal(c.logger, "zap");
    assert.deepEqual(c.logOutputs, ["/tmp/x.log", "stdout"]);
    assert.equal(c.logLevel, "debug");
  });
  test("v2 proxy settings", () => {
    const c = config([
      "--proxy=readonly",
      "--proxy-failure-wait=1",
      "--proxy-refresh-interval=2",
      "--proxy-dial-timeout=3",
      "--proxy-write-timeout=4",
      "--proxy-read-timeout=5",
    ]);
    assert.equal(c.proxy, "readonly");
    assert.deepEqual(
      [
        c.proxyFailureWaitMs,
        c.proxyRefreshIntervalMs,
        c.proxyDialTimeoutMs,
        c.proxyWriteTimeoutMs,
        c.proxyReadTimeoutMs,
      ],
      [1, 2, 3, 4, 5],
    );
  });
});
