// etcd 3.4's configuration checks (embed.Config.Validate and its logging set-up, plus the checks
// etcd makes later at start-up that depend on configuration alone), with etcd's error texts.
// Each returns the first problem as one line, or undefined.

import { isIP } from "node:net";
import type { Config, EtcdUrl } from "./codec.js";
import { LOG_LEVELS } from "./codec.js";
import { MAX_ELECTION_TIMEOUT_MS } from "./defaults.js";
import { parseGoDuration } from "./go-values.js";

/** etcd's ErrUnsetAdvertiseClientURLsFlag, which a proxy-capable configuration tolerates. */
export const UNSET_ADVERTISE_CLIENT_URLS =
  "--advertise-client-urls is required when --listen-client-urls is set explicitly";
export const CONFLICTING_BOOTSTRAP_FLAGS =
  'multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"';
const DEFAULT_LOG_OUTPUT = "default";

/** Go's %q of a []string: ["a" "b"]. */
function goQuoteList(values: readonly string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(" ")}]`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Reconciles the deprecated --log-output with --log-outputs as etcd 3.4 does (by list lengths).
 * Returns the log outputs to use, or an error line; warnings are appended to `warnings`.
 */
export function reconcileLogOutputs(
  deprecated: readonly string[],
  outputs: readonly string[],
  warnings: string[],
): { outputs: string[] } | { error: string } {
  if (deprecated.length !== outputs.length) {
    if (deprecated.length > outputs.length) {
      warnings.push("'--log-output' flag has been deprecated! Please use '--log-outputs'!");
      return { outputs: [...deprecated] };
    }
    return { outputs: [...outputs] };
  }
  if (deprecated.length > 1)
    return { error: "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'" };
  if (deprecated.length < 1) return { error: "either '--log-output' or '--log-outputs' flag must be set" };
  if (sameList(deprecated, outputs) && deprecated[0] !== DEFAULT_LOG_OUTPUT) {
    return {
      error: `'--log-output=${goQuoteList(deprecated)}' and '--log-outputs=${goQuoteList(outputs)}' are incompatible; only set --log-outputs`,
    };
  }
  if (!sameList(deprecated, [DEFAULT_LOG_OUTPUT])) {
    warnings.push(
      `[WARNING] Deprecated '--log-output' flag is set to ${goQuoteList(deprecated)}; please use '--log-outputs' flag`,
    );
  }
  return { outputs: [...outputs] };
}

/** The logging part of etcd's set-up: logger kind, outputs, level. */
export function validateLogging(config: Config, warnings: string[]): string | undefined {
  if (config.debug) {
    warnings.push(`[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead`);
    if (config.logLevel !== "debug") {
      warnings.push(
        `[WARNING] Deprecated '--debug' flag is set to true with inconsistent '--log-level=${config.logLevel}' flag`,
      );
    }
  }
  if (config.logger === "capnslog") {
    warnings.push("[WARNING] Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead");
  }
  if (config.logPackageLevels !== "") {
    warnings.push(
      `[WARNING] Deprecated '--log-package-levels=${config.logPackageLevels}' flag is set; use '--logger=zap' flag instead`,
    );
  }
  if (!(LOG_LEVELS as readonly string[]).includes(config.logLevel)) {
    return `unknown level ${JSON.stringify(config.logLevel)} for --log-level (only supports debug, info, warn, error, panic, or fatal)`;
  }
  switch (config.logger) {
    case "capnslog": {
      if (config.logOutputs.length !== 1) {
        return `--logger=capnslog supports only 1 value in '--log-outputs', got ${goQuoteList(config.logOutputs)}`;
      }
      const output = config.logOutputs[0];
      if (output !== "default" && output !== "stderr" && output !== "stdout") {
        return `unknown log-output ${JSON.stringify(output)} (only supports "default", "stderr", "stdout")`;
      }
      return undefined;
    }
    case "zap": {
      if (config.logOutputs.length > 1 && config.logOutputs.includes(DEFAULT_LOG_OUTPUT)) {
        return `multi logoutput for "default" is not supported yet`;
      }
      return undefined;
    }
    default:
      return `unknown logger option ${JSON.stringify(config.logger)}`;
  }
}

/** Listen URLs must name an IP address or "localhost" (unix sockets excepted). */
function checkBindUrls(urls: readonly EtcdUrl[]): string | undefined {
  for (const u of urls) {
    if (u.scheme === "unix" || u.scheme === "unixs") continue;
    if (u.hostname === "localhost") continue;
    if (isIP(u.hostname) === 0) return `expected IP in URL for binding (${u.href})`;
  }
  return undefined;
}

/** Advertised URLs must have a host. */
function checkHostUrls(urls: readonly EtcdUrl[]): string | undefined {
  for (const u of urls) {
    if (u.hostname === "") return `unexpected empty host (${u.href})`;
  }
  return undefined;
}

function hrefs(urls: readonly EtcdUrl[]): string {
  return urls.map((u) => u.href).join(",");
}

/** The retention as etcd's compactor reads it: a bare number is hours (periodic) or revisions. */
export type CompactionRetention =
  | { mode: "periodic"; retentionMs: number }
  | { mode: "revision"; revisions: number }
  | { mode: "" };

export function parseCompactionRetention(
  mode: Config["autoCompactionMode"],
  retention: string,
): CompactionRetention | { error: string } {
  const text = retention === "" ? "0" : retention;
  if (/^[+-]?[0-9]+$/.test(text) && Number(text) >= 0) {
    const n = Number(text);
    if (mode === "revision") return { mode, revisions: n };
    if (mode === "periodic") return { mode, retentionMs: n * 3_600_000 };
    return { mode: "" };
  }
  const d = parseGoDuration(text);
  if (!d.ok) return { error: `error parsing CompactionRetention: ${d.error}` };
  if (mode === "revision") return { mode, revisions: d.ns };
  if (mode === "periodic") return { mode, retentionMs: d.ns / 1e6 };
  return { mode: "" };
}

export type AuthTokenSpec = { type: "simple" | "jwt" | ""; options: Map<string, string> };

/** --auth-token: "<type>[,key=value...]"; etcd refuses malformed options and unknown types. */
export function parseAuthToken(text: string): AuthTokenSpec | { error: string } {
  const parts = text.split(",");
  const type = parts[0];
  const options = new Map<string, string>();
  const invalid = (why: string) => ({
    error: `--auth-token ${JSON.stringify(text)}: auth: invalid auth options (${why})`,
  });
  for (const part of parts.slice(1)) {
    const pair = part.split("=");
    if (pair.length !== 2) return invalid(`bad option ${JSON.stringify(part)}, want key=value`);
    if (options.has(pair[0])) return invalid(`option ${JSON.stringify(pair[0])} given twice`);
    options.set(pair[0], pair[1]);
  }
  if (type !== "simple" && type !== "jwt" && type !== "")
    return invalid(`unknown token type ${JSON.stringify(type)}`);
  return { type, options };
}

/**
 * embed.Config.Validate after logging: URLs, bootstrap flags, timing, compaction, leases,
 * then the configuration-only checks etcd makes while starting (compaction retention, auth
 * token, TLS for https client URLs).
 */
export function validateConfig(config: Config, warnings: string[] = []): string | undefined {
  const logging = validateLogging(config, warnings);
  if (logging) return logging;
  const bind =
    checkBindUrls(config.listenPeerUrls) ??
    checkBindUrls(config.listenClientUrls) ??
    checkBindUrls(config.listenMetricsUrls) ??
    checkBindUrls(config.listenFeedUrls);
  if (bind) return bind;
  const ap = checkHostUrls(config.initialAdvertisePeerUrls);
  if (ap) {
    return `--initial-advertise-peer-urls ${JSON.stringify(hrefs(config.initialAdvertisePeerUrls))} must be "host:port" (${ap})`;
  }
  const ac = checkHostUrls(config.advertiseClientUrls);
  if (ac) {
    return `--advertise-client-urls ${JSON.stringify(hrefs(config.advertiseClientUrls))} must be "host:port" (${ac})`;
  }
  if (config.initialClusterState !== "new" && config.initialClusterState !== "existing") {
    return `unexpected clusterState ${JSON.stringify(config.initialClusterState)}`;
  }
  const bootstrapWays = [config.discovery !== "", config.initialCluster !== "", config.discoverySrv !== ""];
  if (bootstrapWays.filter(Boolean).length > 1) return CONFLICTING_BOOTSTRAP_FLAGS;
  if (config.heartbeatIntervalMs <= 0) {
    return `--heartbeat-interval must be >0 (set to ${config.heartbeatIntervalMs}ms)`;
  }
  if (config.electionTimeoutMs <= 0) {
    return `--election-timeout must be >0 (set to ${config.electionTimeoutMs}ms)`;
  }
  if (5 * config.heartbeatIntervalMs > config.electionTimeoutMs) {
    return `--election-timeout[${config.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${config.heartbeatIntervalMs}ms]`;
  }
  if (config.electionTimeoutMs > MAX_ELECTION_TIMEOUT_MS) {
    return `--election-timeout[${config.electionTimeoutMs}ms] is too long, and should be set less than ${MAX_ELECTION_TIMEOUT_MS}ms`;
  }
  if (config.listenClientUrls.length > 0 && config.advertiseClientUrls.length === 0) {
    return UNSET_ADVERTISE_CLIENT_URLS;
  }
  return validateAfterAdvertise(config, warnings);
}

/** The checks that follow the advertise-client-urls rule (which proxies are excused from). */
export function validateAfterAdvertise(config: Config, warnings: string[] = []): string | undefined {
  const mode: string = config.autoCompactionMode;
  if (mode !== "" && mode !== "periodic" && mode !== "revision") {
    return `unknown auto-compaction-mode ${JSON.stringify(mode)}`;
  }
  if (config.experimentalEnableLeaseCheckpoint && !config.experimentalEnableLeaseCheckpointPersist) {
    warnings.push(
      "Detected that checkpointing is enabled without persistence. Consider enabling experimental-enable-lease-checkpoint-persist",
    );
  }
  if (config.experimentalEnableLeaseCheckpointPersist && !config.experimentalEnableLeaseCheckpoint) {
    return "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint";
  }
  const retention = parseCompactionRetention(config.autoCompactionMode, config.autoCompactionRetention);
  if ("error" in retention) return retention.error;
  const token = parseAuthToken(config.authToken);
  if ("error" in token) return token.error;
  const clientTlsGiven = config.clientTls.certFile !== "" || config.clientTls.keyFile !== "";
  for (const u of config.listenClientUrls) {
    if ((u.scheme === "https" || u.scheme === "unixs") && !clientTlsGiven && !config.clientTls.autoTls) {
      return `TLS key/cert (--cert-file, --key-file) must be provided for client url ${u.href} with HTTPS scheme`;
    }
  }
  // the feed's own listeners serve with the client port's certificates
  for (const u of config.listenFeedUrls) {
    if (u.scheme === "unix" || u.scheme === "unixs")
      return `--listen-feed-urls ${u.href}: only http and https URLs are served`;
    if (u.scheme === "https" && !clientTlsGiven)
      return `TLS key/cert (--cert-file, --key-file) must be provided for feed url ${u.href} with HTTPS scheme`;
  }
  return undefined;
}
