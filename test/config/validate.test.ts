import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defaultConfig } from "../../src/config/defaults.js";
import { parseAuthToken, parseCompactionRetention, validateConfig } from "../../src/config/validate.js";
import { config, failure, load } from "./helpers.js";

describe("validation messages (etcd's texts)", () => {
  test("heartbeat and election timing", () => {
    assert.equal(failure(["--heartbeat-interval=0"]), "--heartbeat-interval must be >0 (set to 0ms)");
    assert.equal(failure(["--election-timeout=0"]), "--election-timeout must be >0 (set to 0ms)");
    assert.equal(
      failure(["--heartbeat-interval=300"]),
      "--election-timeout[1000ms] should be at least as 5 times as --heartbeat-interval[300ms]",
    );
    assert.equal(
      failure(["--election-timeout=1"]),
      "--election-timeout[1ms] should be at least as 5 times as --heartbeat-interval[100ms]",
    );
    assert.equal(
      failure(["--election-timeout=50001"]),
      "--election-timeout[50001ms] is too long, and should be set less than 50000ms",
    );
    assert.equal(config(["--heartbeat-interval=200", "--election-timeout=1000"]).electionTimeoutMs, 1000);
    assert.equal(config(["--election-timeout=50000"]).electionTimeoutMs, 50000);
  });
  test("listen URLs must use IP addresses (or localhost)", () => {
    assert.equal(
      failure(["--listen-peer-urls=http://example.com:2380"]),
      "expected IP in URL for binding (http://example.com:2380)",
    );
    assert.equal(
      failure([
        "--listen-client-urls=http://example.com:2379",
        "--advertise-client-urls=http://example.com:2379",
      ]),
      "expected IP in URL for binding (http://example.com:2379)",
    );
    assert.equal(
      failure(["--listen-metrics-urls=http://metrics.local:9000"]),
      "expected IP in URL for binding (http://metrics.local:9000)",
    );
    assert.equal(
      failure(["--listen-peer-urls=http://:2380"]),
      "expected IP in URL for binding (http://:2380)",
    );
    const ok = config([
      "--listen-peer-urls=http://[::1]:2380,http://0.0.0.0:2381,unix://anything:1",
      "--listen-client-urls=http://localhost:2379",
      "--advertise-client-urls=http://example.com:2379",
    ]);
    assert.equal(ok.listenPeerUrls.length, 3);
  });
  test("advertised URLs need a host", () => {
    assert.equal(
      failure(["--initial-advertise-peer-urls=http://:2380"]),
      '--initial-advertise-peer-urls "http://:2380" must be "host:port" (unexpected empty host (http://:2380))',
    );
    assert.equal(
      failure(["--advertise-client-urls=http://:2379,http://a:1"]),
      '--advertise-client-urls "http://:2379,http://a:1" must be "host:port" (unexpected empty host (http://:2379))',
    );
  });
  test("logging: level, logger, outputs", () => {
    assert.equal(
      failure(["--log-level=verbose"]),
      'unknown level "verbose" for --log-level (only supports debug, info, warn, error, panic, or fatal)',
    );
    assert.equal(failure(["--logger=glog"]), 'unknown logger option "glog"');
    assert.equal(
      failure(["--log-outputs=stdout,stderr"]),
      `--logger=capnslog supports only 1 value in '--log-outputs', got ["stderr" "stdout"]`,
    );
    assert.equal(
      failure(["--log-outputs=/var/log/etcd.log"]),
      'unknown log-output "/var/log/etcd.log" (only supports "default", "stderr", "stdout")',
    );
    assert.equal(
      failure(["--logger=zap", "--log-outputs=default,stdout"]),
      'multi logoutput for "default" is not supported yet',
    );
    assert.deepEqual(config(["--logger=zap", "--log-outputs=/tmp/a.log,stderr"]).logOutputs, [
      "/tmp/a.log",
      "stderr",
    ]);
    for (const level of ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"]) {
      assert.equal(config([`--log-level=${level}`]).logLevel, level);
    }
  });
  test("the deprecated --log-output", () => {
    assert.equal(
      failure(["--log-output=stdout", "--log-outputs=stdout"]),
      `'--log-output=["stdout"]' and '--log-outputs=["stdout"]' are incompatible; only set --log-outputs`,
    );
    assert.equal(
      failure(["--logger=zap", "--log-output=a,b", "--log-outputs=c,d"]),
      "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'",
    );
    const r = load(["--logger=zap", "--log-output=/tmp/a,/tmp/b"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.deepEqual(r.config.logOutputs, ["/tmp/a", "/tmp/b"]);
    assert.ok(r.warnings.includes("'--log-output' flag has been deprecated! Please use '--log-outputs'!"));
  });
  test("--log-output alone is only warned about (etcd 3.4 keeps --log-outputs then)", () => {
    const r = load(["--log-output=stdout"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.deepEqual(r.config.logOutputs, ["default"]);
    assert.ok(
      r.warnings.some((w) => w.startsWith(`[WARNING] Deprecated '--log-output' flag is set to ["stdout"]`)),
    );
  });
  test("deprecated logging flags are warned about", () => {
    const r = load(["--debug", "--log-package-levels=etcdmain=DEBUG"]);
    assert.equal(r.kind, "config");
    if (r.kind !== "config") return;
    assert.ok(
      r.warnings.some((w) => w.includes("Deprecated '--debug' flag is set to true with inconsistent")),
    );
    assert.ok(r.warnings.some((w) => w.includes("Deprecated '--log-package-levels=etcdmain=DEBUG'")));
    assert.ok(r.warnings.some((w) => w.includes("Deprecated '--logger=capnslog'")));
    const zap = load(["--logger=zap"]);
    assert.ok(zap.kind === "config" && !zap.warnings.some((w) => w.includes("capnslog")));
  });
  test("auto compaction", () => {
    assert.equal(failure(["--auto-compaction-mode=daily"]), 'unknown auto-compaction-mode "daily"');
    assert.equal(
      failure(["--auto-compaction-retention=often"]),
      'error parsing CompactionRetention: time: invalid duration "often"',
    );
    assert.equal(
      failure(["--auto-compaction-retention=-1"]),
      'error parsing CompactionRetention: time: missing unit in duration "-1"',
    );
    assert.equal(config(["--auto-compaction-mode=", "--auto-compaction-retention=5"]).autoCompactionMode, "");
  });
  test("lease checkpoint persistence needs lease checkpoints", () => {
    assert.equal(
      failure(["--experimental-enable-lease-checkpoint-persist"]),
      "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint",
    );
    const r = load(["--experimental-enable-lease-checkpoint"]);
    assert.ok(
      r.kind === "config" && r.warnings.some((w) => w.startsWith("Detected that checkpointing is enabled")),
    );
  });
  test("auth token types and options", () => {
    assert.equal(
      failure(["--auth-token=oauth"]),
      '--auth-token "oauth": auth: invalid auth options (unknown token type "oauth")',
    );
    assert.equal(
      failure(["--auth-token=jwt,ttl"]),
      '--auth-token "jwt,ttl": auth: invalid auth options (bad option "ttl", want key=value)',
    );
    assert.equal(
      failure(["--auth-token=jwt,ttl=1m,ttl=2m"]),
      '--auth-token "jwt,ttl=1m,ttl=2m": auth: invalid auth options (option "ttl" given twice)',
    );
    assert.equal(config(["--auth-token="]).authToken, "");
  });
  test("https client URLs need a certificate and key, or auto TLS", () => {
    const https = [
      "--listen-client-urls=https://127.0.0.1:2379",
      "--advertise-client-urls=https://127.0.0.1:2379",
    ];
    assert.equal(
      failure(https),
      "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme",
    );
    assert.equal(config([...https, "--auto-tls"]).clientTls.autoTls, true);
    assert.equal(config([...https, "--cert-file=c", "--key-file=k"]).clientTls.certFile, "c");
  });
  test("validateConfig accepts the defaults and reports the first problem of a built Config", () => {
    assert.equal(validateConfig(defaultConfig()), undefined);
    assert.equal(
      validateConfig({ ...defaultConfig(), initialClusterState: "maybe" as "new" }),
      'unexpected clusterState "maybe"',
    );
  });
});

describe("helpers for the server", () => {
  test("parseCompactionRetention reads hours, durations and revisions", () => {
    assert.deepEqual(parseCompactionRetention("periodic", "5"), {
      mode: "periodic",
      retentionMs: 5 * 3600000,
    });
    assert.deepEqual(parseCompactionRetention("periodic", "30m"), { mode: "periodic", retentionMs: 1800000 });
    assert.deepEqual(parseCompactionRetention("revision", "1000"), { mode: "revision", revisions: 1000 });
    assert.deepEqual(parseCompactionRetention("periodic", ""), { mode: "periodic", retentionMs: 0 });
    assert.deepEqual(parseCompactionRetention("", "5"), { mode: "" });
  });
  test("parseAuthToken splits the type from its options", () => {
    const t = parseAuthToken("jwt,pub-key=a.pub,priv-key=a.key,sign-method=RS256");
    assert.ok(!("error" in t));
    if ("error" in t) return;
    assert.equal(t.type, "jwt");
    assert.equal(t.options.get("sign-method"), "RS256");
    assert.equal(t.options.size, 3);
  });
});
