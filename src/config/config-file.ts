// The YAML --config-file, read as etcd 3.4 reads it: YAML 1.1 (yes/no/on/off are booleans),
// keys are the flag names (matched without regard to case), unknown keys are ignored, values
// must have the field's type (durations are integer nanoseconds), null keeps the default.
// Each key's type is an io-ts codec.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { isLeft } from "fp-ts/lib/Either.js";
import * as t from "io-ts";
import type * as Yaml from "yaml";
import { Int, UInt } from "./codec.js";
import type { FlagState } from "./flags.js";
import { nsToMs } from "./go-values.js";
import { parseUrlList, UrlListError } from "./urls.js";

export class ConfigFileError extends Error {}

/** The YAML parser, loaded only when a config file is given (most starts have none). */
function parseYaml(text: string, options: Yaml.ParseOptions & Yaml.DocumentOptions): unknown {
  const { parse } = createRequire(import.meta.url)("yaml") as typeof Yaml;
  return parse(text, options);
}

const SecurityCodec = t.partial({
  "cert-file": t.string,
  "key-file": t.string,
  "client-cert-auth": t.boolean,
  "trusted-ca-file": t.string,
  "auto-tls": t.boolean,
});
type Security = t.TypeOf<typeof SecurityCodec>;

interface KeySpec<T> {
  codec: t.Type<T, unknown, unknown>;
  /** What the value must be, for the error line. */
  want: string;
  apply(state: FlagState, value: T): void;
}

function key<T>(codec: t.Type<T, unknown, unknown>, want: string, apply: KeySpec<T>["apply"]): KeySpec<T> {
  return { codec, want, apply };
}

const STRING = "a string";
const UINT = "an unsigned integer";
const INT = "an integer";
const BOOL = "a boolean";
const NANOS = "an integer number of nanoseconds";
const STRINGS = "a list of strings";

function urls(flag: string, text: string) {
  try {
    return parseUrlList(text);
  } catch (err) {
    if (err instanceof UrlListError)
      throw new ConfigFileError(`unexpected error setting up ${flag}: ${err.message}`);
    throw err;
  }
}

/** Every key etcd 3.4's config file understands (its JSON tags), lower-cased. */
// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous table; each entry is typed where it is built
const KEYS: Record<string, KeySpec<any>> = {
  name: key(t.string, STRING, (s, v: string) => {
    s.config.name = v;
  }),
  "data-dir": key(t.string, STRING, (s, v: string) => {
    s.config.dataDir = v;
  }),
  "wal-dir": key(t.string, STRING, (s, v: string) => {
    s.config.walDir = v;
  }),
  "snapshot-count": key(UInt, UINT, (s, v: number) => {
    s.config.snapshotCount = v;
  }),
  "max-snapshots": key(UInt, UINT, (s, v: number) => {
    s.config.maxSnapshots = v;
  }),
  "max-wals": key(UInt, UINT, (s, v: number) => {
    s.config.maxWals = v;
  }),
  "heartbeat-interval": key(UInt, UINT, (s, v: number) => {
    s.config.heartbeatIntervalMs = v;
  }),
  "election-timeout": key(UInt, UINT, (s, v: number) => {
    s.config.electionTimeoutMs = v;
  }),
  "initial-election-tick-advance": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.initialElectionTickAdvance = v;
  }),
  "backend-batch-interval": key(Int, NANOS, (s, v: number) => {
    s.config.backendBatchIntervalMs = nsToMs(v);
  }),
  "backend-batch-limit": key(Int, INT, (s, v: number) => {
    s.config.backendBatchLimit = v;
  }),
  "quota-backend-bytes": key(Int, INT, (s, v: number) => {
    s.config.quotaBackendBytes = v;
  }),
  "max-txn-ops": key(UInt, UINT, (s, v: number) => {
    s.config.maxTxnOps = v;
  }),
  "max-request-bytes": key(UInt, UINT, (s, v: number) => {
    s.config.maxRequestBytes = v;
  }),
  "max-concurrent-streams": key(UInt, UINT, (s, v: number) => {
    s.config.maxConcurrentStreams = v;
  }),
  "max-watchers-per-connection": key(UInt, UINT, (s, v: number) => {
    s.config.maxWatchersPerConnection = v;
  }),
  "max-lease-keepalive-streams-per-connection": key(UInt, UINT, (s, v: number) => {
    s.config.maxLeaseKeepaliveStreamsPerConnection = v;
  }),
  "grpc-keepalive-min-time": key(Int, NANOS, (s, v: number) => {
    s.config.grpcKeepaliveMinTimeMs = nsToMs(v);
  }),
  "grpc-keepalive-interval": key(Int, NANOS, (s, v: number) => {
    s.config.grpcKeepaliveIntervalMs = nsToMs(v);
  }),
  "grpc-keepalive-timeout": key(Int, NANOS, (s, v: number) => {
    s.config.grpcKeepaliveTimeoutMs = nsToMs(v);
  }),
  "cipher-suites": key(t.array(t.string), STRINGS, (s, v: string[]) => {
    s.config.cipherSuites = v;
  }),
  "initial-cluster-state": key(t.string, STRING, (s, v: string) => {
    s.config.initialClusterState = v as FlagState["config"]["initialClusterState"];
  }),
  "discovery-srv": key(t.string, STRING, (s, v: string) => {
    s.config.discoverySrv = v;
  }),
  "discovery-srv-name": key(t.string, STRING, (s, v: string) => {
    s.config.discoverySrvName = v;
  }),
  "discovery-proxy": key(t.string, STRING, (s, v: string) => {
    s.config.discoveryProxy = v;
  }),
  discovery: key(t.string, STRING, (s, v: string) => {
    s.config.discovery = v;
  }),
  "initial-cluster": key(t.string, STRING, (s, v: string) => {
    s.config.initialCluster = v;
  }),
  "initial-cluster-token": key(t.string, STRING, (s, v: string) => {
    s.config.initialClusterToken = v;
  }),
  "strict-reconfig-check": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.strictReconfigCheck = v;
  }),
  "enable-v2": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.enableV2 = v;
  }),
  "auto-compaction-mode": key(t.string, STRING, (s, v: string) => {
    s.config.autoCompactionMode = v as FlagState["config"]["autoCompactionMode"];
  }),
  "auto-compaction-retention": key(t.string, STRING, (s, v: string) => {
    s.config.autoCompactionRetention = v;
  }),
  "pre-vote": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.preVote = v;
  }),
  "auth-token": key(t.string, STRING, (s, v: string) => {
    s.config.authToken = v;
  }),
  "bcrypt-cost": key(UInt, UINT, (s, v: number) => {
    s.config.bcryptCost = v;
  }),
  "auth-token-ttl": key(UInt, UINT, (s, v: number) => {
    s.config.authTokenTtlSeconds = v;
  }),
  "experimental-initial-corrupt-check": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.experimentalInitialCorruptCheck = v;
  }),
  "experimental-corrupt-check-time": key(Int, NANOS, (s, v: number) => {
    s.config.experimentalCorruptCheckTimeMs = nsToMs(v);
  }),
  "experimental-enable-v2v3": key(t.string, STRING, (s, v: string) => {
    s.config.experimentalEnableV2v3 = v;
  }),
  "experimental-backend-bbolt-freelist-type": key(t.string, STRING, (s, v: string) => {
    s.config.experimentalBackendBboltFreelistType = v;
  }),
  "experimental-enable-lease-checkpoint": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.experimentalEnableLeaseCheckpoint = v;
  }),
  "experimental-enable-lease-checkpoint-persist": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.experimentalEnableLeaseCheckpointPersist = v;
  }),
  "experimental-compaction-batch-limit": key(Int, INT, (s, v: number) => {
    s.config.experimentalCompactionBatchLimit = v;
  }),
  "experimental-watch-progress-notify-interval": key(Int, NANOS, (s, v: number) => {
    s.config.experimentalWatchProgressNotifyIntervalMs = nsToMs(v);
  }),
  "experimental-warning-apply-duration": key(Int, NANOS, (s, v: number) => {
    s.config.experimentalWarningApplyDurationMs = nsToMs(v);
  }),
  "force-new-cluster": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.forceNewCluster = v;
  }),
  "unsafe-no-fsync": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.unsafeNoFsync = v;
  }),
  "enable-pprof": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.enablePprof = v;
  }),
  metrics: key(t.string, STRING, (s, v: string) => {
    s.config.metrics = v;
  }),
  "listen-metrics-urls": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.listenMetricsUrls = urls("listen-metrics-urls", v);
  }),
  "listen-feed-urls": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.listenFeedUrls = urls("listen-feed-urls", v);
  }),
  logger: key(t.string, STRING, (s, v: string) => {
    s.config.logger = v as FlagState["config"]["logger"];
  }),
  "log-level": key(t.string, STRING, (s, v: string) => {
    s.config.logLevel = v as FlagState["config"]["logLevel"];
  }),
  "log-outputs": key(t.array(t.string), STRINGS, (s, v: string[]) => {
    s.config.logOutputs = v;
  }),
  "log-output": key(t.array(t.string), STRINGS, (s, v: string[]) => {
    s.deprecatedLogOutput = v;
  }),
  debug: key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.debug = v;
  }),
  "log-package-levels": key(t.string, STRING, (s, v: string) => {
    s.config.logPackageLevels = v;
  }),
  "enable-grpc-gateway": key(t.boolean, BOOL, (s, v: boolean) => {
    s.config.enableGrpcGateway = v;
  }),
  "listen-peer-urls": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.listenPeerUrls = urls("listen-peer-urls", v);
  }),
  "listen-client-urls": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.listenClientUrls = urls("listen-client-urls", v);
  }),
  "initial-advertise-peer-urls": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.initialAdvertisePeerUrls = urls("initial-advertise-peer-urls", v);
  }),
  "advertise-client-urls": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.advertiseClientUrls = urls("advertise-client-urls", v);
  }),
  cors: key(t.string, STRING, (s, v: string) => {
    if (v === "") return;
    s.config.cors = v === "*" ? ["*"] : urls("cors", v).map((u) => u.href);
  }),
  "host-whitelist": key(t.string, STRING, (s, v: string) => {
    if (v !== "") s.config.hostWhitelist = [...new Set(v.split(","))].sort();
  }),
  "client-transport-security": key(SecurityCodec, "a mapping of TLS settings", (s, v: Security) => {
    copySecurity(s.config.clientTls, v);
  }),
  "peer-transport-security": key(SecurityCodec, "a mapping of TLS settings", (s, v: Security) => {
    copySecurity(s.config.peerTls, v);
  }),
  proxy: key(t.string, STRING, (s, v: string) => {
    if (v === "") return;
    if (v !== "off" && v !== "readonly" && v !== "on") {
      throw new ConfigFileError("unexpected error setting up proxyFlag: invalid value");
    }
    s.config.proxy = v;
  }),
  "discovery-fallback": key(t.string, STRING, (s, v: string) => {
    if (v === "") return;
    if (v !== "exit" && v !== "proxy") {
      throw new ConfigFileError("unexpected error setting up discovery-fallback flag: invalid value");
    }
    s.config.discoveryFallback = v;
  }),
  "proxy-failure-wait": key(UInt, UINT, (s, v: number) => {
    s.config.proxyFailureWaitMs = v;
  }),
  "proxy-refresh-interval": key(UInt, UINT, (s, v: number) => {
    s.config.proxyRefreshIntervalMs = v;
  }),
  "proxy-dial-timeout": key(UInt, UINT, (s, v: number) => {
    s.config.proxyDialTimeoutMs = v;
  }),
  "proxy-write-timeout": key(UInt, UINT, (s, v: number) => {
    s.config.proxyWriteTimeoutMs = v;
  }),
  "proxy-read-timeout": key(UInt, UINT, (s, v: number) => {
    s.config.proxyReadTimeoutMs = v;
  }),
};

/** The keys the config file understands, for documentation and tests. */
export const CONFIG_FILE_KEYS: readonly string[] = Object.keys(KEYS);

/** etcd copies all five security fields, so a section replaces the whole TLS block it names. */
function copySecurity(target: FlagState["config"]["clientTls"], from: Security): void {
  target.certFile = from["cert-file"] ?? "";
  target.keyFile = from["key-file"] ?? "";
  target.clientCertAuth = from["client-cert-auth"] ?? false;
  target.trustedCaFile = from["trusted-ca-file"] ?? "";
  target.autoTls = from["auto-tls"] ?? false;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "a list" : "a mapping";
}

/** Applies a config file's text to the flag state (which holds the defaults). */
export function applyConfigFileText(state: FlagState, text: string, path: string): void {
  let doc: unknown;
  try {
    doc = parseYaml(text, { version: "1.1" });
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new ConfigFileError(`error parsing config file ${path}: ${why}`);
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new ConfigFileError(
      `error parsing config file ${path}: the document must be a mapping of settings`,
    );
  }
  for (const [rawKey, value] of Object.entries(doc as Record<string, unknown>)) {
    const spec = KEYS[rawKey.toLowerCase()];
    if (!spec) {
      state.warnings.push(`ignoring unknown key ${JSON.stringify(rawKey)} in config file ${path}`);
      continue;
    }
    if (value === null) continue;
    const decoded = spec.codec.decode(value);
    if (isLeft(decoded)) {
      throw new ConfigFileError(
        `invalid value ${describe(value)} for ${JSON.stringify(rawKey)} in config file ${path}: want ${spec.want}`,
      );
    }
    spec.apply(state, decoded.right);
  }
}

export function applyConfigFile(state: FlagState, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file or directory" : err instanceof Error ? err.message : String(err);
    throw new ConfigFileError(`open ${path}: ${why}`);
  }
  applyConfigFileText(state, text, path);
}
