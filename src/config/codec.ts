// The io-ts codec of rxetcd's configuration: one field per etcd 3.4 setting, named after the flag
// in camelCase. Durations are milliseconds (fields end in "Ms"); URL lists are parsed URLs.

import * as t from "io-ts";

/** A whole number >= 0 that is exactly representable. */
export const UInt = new t.Type<number, number, unknown>(
  "UInt",
  (u): u is number => typeof u === "number" && Number.isInteger(u) && u >= 0,
  (u, c) => (typeof u === "number" && Number.isInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** A whole number, possibly negative. */
export const Int = new t.Type<number, number, unknown>(
  "Int",
  (u): u is number => typeof u === "number" && Number.isInteger(u),
  (u, c) => (typeof u === "number" && Number.isInteger(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** A duration in milliseconds (may be fractional: Go durations have nanosecond precision). */
export const DurationMs = new t.Type<number, number, unknown>(
  "DurationMs",
  (u): u is number => typeof u === "number" && Number.isFinite(u),
  (u, c) => (typeof u === "number" && Number.isFinite(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

export const UrlSchemeCodec = t.keyof({ http: null, https: null, unix: null, unixs: null });
export type UrlScheme = t.TypeOf<typeof UrlSchemeCodec>;

/** One URL of a URL-list flag. `host` is "hostname:port" as written (IPv6 in brackets). */
export const EtcdUrlCodec = t.type({
  scheme: UrlSchemeCodec,
  host: t.string,
  hostname: t.string,
  port: t.string,
  href: t.string,
});
export type EtcdUrl = t.TypeOf<typeof EtcdUrlCodec>;

export const LOG_LEVELS = ["debug", "info", "warn", "error", "dpanic", "panic", "fatal"] as const;
export const LogLevelCodec = t.keyof({
  debug: null,
  info: null,
  warn: null,
  error: null,
  dpanic: null,
  panic: null,
  fatal: null,
});
export type LogLevel = t.TypeOf<typeof LogLevelCodec>;

export const ClusterStateCodec = t.keyof({ new: null, existing: null });
export type ClusterState = t.TypeOf<typeof ClusterStateCodec>;

export const ProxyModeCodec = t.keyof({ off: null, readonly: null, on: null });
export type ProxyMode = t.TypeOf<typeof ProxyModeCodec>;

export const DiscoveryFallbackCodec = t.keyof({ exit: null, proxy: null });
export type DiscoveryFallback = t.TypeOf<typeof DiscoveryFallbackCodec>;

/** "" is accepted by etcd and behaves as "no mode" (the compactor is not started). */
export const CompactionModeCodec = t.keyof({ periodic: null, revision: null, "": null });
export type CompactionMode = t.TypeOf<typeof CompactionModeCodec>;

/** TLS settings of one side (clients or peers), as etcd's transport.TLSInfo plus auto-TLS. */
export const TlsConfigCodec = t.type({
  certFile: t.string,
  keyFile: t.string,
  clientCertAuth: t.boolean,
  trustedCaFile: t.string,
  crlFile: t.string,
  /** Peer side only in etcd 3.4 (--peer-cert-allowed-cn); always "" for clients. */
  allowedCn: t.string,
  allowedHostname: t.string,
  autoTls: t.boolean,
  /** Peer side only (--experimental-peer-skip-client-san-verification). */
  skipClientSanVerification: t.boolean,
});
export type TlsConfig = t.TypeOf<typeof TlsConfigCodec>;

export const ConfigCodec = t.type({
  // --- meta
  /** --config-file (or ETCD_CONFIG_FILE); "" when the configuration came from flags and env. */
  configFile: t.string,

  // --- member
  name: t.string,
  /** Never "" after loading: defaults to "<name>.etcd". */
  dataDir: t.string,
  walDir: t.string,
  snapshotCount: UInt,
  /** Not a flag in etcd 3.4 (fixed at 5000); kept here so tests can lower it. */
  snapshotCatchUpEntries: UInt,
  maxSnapshots: UInt,
  maxWals: UInt,
  heartbeatIntervalMs: UInt,
  electionTimeoutMs: UInt,
  initialElectionTickAdvance: t.boolean,
  listenPeerUrls: t.array(EtcdUrlCodec),
  listenClientUrls: t.array(EtcdUrlCodec),
  quotaBackendBytes: Int,
  backendBatchIntervalMs: DurationMs,
  backendBatchLimit: Int,
  maxTxnOps: UInt,
  maxRequestBytes: UInt,
  maxConcurrentStreams: UInt,
  /** rxetcd's own bounds on what one client connection holds (etcd has none). */
  maxWatchersPerConnection: UInt,
  maxLeaseKeepaliveStreamsPerConnection: UInt,
  grpcKeepaliveMinTimeMs: DurationMs,
  grpcKeepaliveIntervalMs: DurationMs,
  grpcKeepaliveTimeoutMs: DurationMs,

  // --- clustering
  initialAdvertisePeerUrls: t.array(EtcdUrlCodec),
  /** "name=url,..." as given; parse with parseInitialCluster(). "" when discovery is used. */
  initialCluster: t.string,
  initialClusterState: ClusterStateCodec,
  initialClusterToken: t.string,
  /** Empty when --listen-client-urls was set without it on a proxy-capable configuration. */
  advertiseClientUrls: t.array(EtcdUrlCodec),
  discovery: t.string,
  discoveryFallback: DiscoveryFallbackCodec,
  discoveryProxy: t.string,
  discoverySrv: t.string,
  discoverySrvName: t.string,
  strictReconfigCheck: t.boolean,
  /** Accepted for compatibility; rxetcd serves no v2 API. */
  enableV2: t.boolean,
  preVote: t.boolean,
  autoCompactionMode: CompactionModeCodec,
  /** As given ("0", "5", "1h30m"); interpret with parseCompactionRetention(). */
  autoCompactionRetention: t.string,

  // --- v2 proxy
  proxy: ProxyModeCodec,
  proxyFailureWaitMs: UInt,
  proxyRefreshIntervalMs: UInt,
  proxyDialTimeoutMs: UInt,
  proxyWriteTimeoutMs: UInt,
  proxyReadTimeoutMs: UInt,

  // --- security
  clientTls: TlsConfigCodec,
  peerTls: TlsConfigCodec,
  cipherSuites: t.array(t.string),
  /** Allowed CORS origins; ["*"] allows all. */
  cors: t.array(t.string),
  /** Allowed Host headers on insecure listeners; ["*"] allows all. */
  hostWhitelist: t.array(t.string),

  // --- logging
  logger: t.keyof({ zap: null, capnslog: null }),
  logOutputs: t.array(t.string),
  logLevel: LogLevelCodec,
  debug: t.boolean,
  logPackageLevels: t.string,

  // --- profiling and metrics
  enablePprof: t.boolean,
  metrics: t.string,
  listenMetricsUrls: t.array(EtcdUrlCodec),
  /** rxetcd's own: extra URLs serving only the event feed and the dashboard. */
  listenFeedUrls: t.array(EtcdUrlCodec),

  // --- auth
  /** "simple", "jwt,pub-key=...,priv-key=...,sign-method=...,ttl=..." or "" (no tokens). */
  authToken: t.string,
  bcryptCost: UInt,
  authTokenTtlSeconds: UInt,

  // --- gateway
  enableGrpcGateway: t.boolean,

  // --- experimental
  experimentalInitialCorruptCheck: t.boolean,
  experimentalCorruptCheckTimeMs: DurationMs,
  experimentalEnableV2v3: t.string,
  experimentalBackendBboltFreelistType: t.string,
  experimentalEnableLeaseCheckpoint: t.boolean,
  experimentalEnableLeaseCheckpointPersist: t.boolean,
  experimentalCompactionBatchLimit: Int,
  experimentalWatchProgressNotifyIntervalMs: DurationMs,
  experimentalWarningApplyDurationMs: DurationMs,

  // --- unsafe
  unsafeNoFsync: t.boolean,
  forceNewCluster: t.boolean,
});

/** The whole configuration of one rxetcd server. */
export type Config = t.TypeOf<typeof ConfigCodec>;
