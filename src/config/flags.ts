// The table of every command-line flag of etcd 3.4.23 that rxetcd accepts: its name, how a value
// is parsed (Go flag semantics), where it lands in the Config, and how --help shows it.

import type {
  ClusterState,
  CompactionMode,
  Config,
  DiscoveryFallback,
  LogLevel,
  ProxyMode,
} from "./codec.js";
import { nsToMs, parseGoBool, parseGoDuration, parseGoInt, parseGoUint } from "./go-values.js";
import { parseUrlList, UrlListError } from "./urls.js";

/** Everything flags and environment variables can change, before validation. */
export interface FlagState {
  config: Config;
  /** --log-output (deprecated in 3.4 for --log-outputs); reconciled during validation. */
  deprecatedLogOutput: string[];
  printVersion: boolean;
  /** Flags given on the command line or through the environment (Go's FlagSet.Visit). */
  set: Set<string>;
  warnings: string[];
  /** Informational lines for the log (e.g. which ETCD_* variables were used). */
  notices: string[];
}

export const HELP_GROUPS = [
  "Member",
  "Clustering",
  "Security",
  "Auth",
  "Profiling and Monitoring",
  "Logging",
  "v2 Proxy (to be deprecated in v4)",
  "Experimental feature",
  "Unsafe feature",
  "To be deprecated",
] as const;
export type HelpGroup = (typeof HELP_GROUPS)[number];

export interface FlagDef {
  name: string;
  /** Go's IsBoolFlag: "--flag" alone means true and the next argument is never its value. */
  boolean: boolean;
  /** Where --help lists it; undefined keeps it out of the help. */
  group: HelpGroup | undefined;
  /** The default as --help shows it. */
  shownDefault: string;
  help: string;
  /** Applies a value; returns the reason it is invalid (Go's flag.Value.Set error) or undefined. */
  apply(state: FlagState, value: string): string | undefined;
}

type Apply<T> = (config: Config, value: T) => void;

function integerFailure(failure: "syntax" | "range"): string {
  return failure === "syntax" ? "parse error" : "value out of range";
}

function stringFlag(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  to: Apply<string>,
): FlagDef {
  return {
    name,
    boolean: false,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      to(s.config, v);
      return undefined;
    },
  };
}

function boolFlag(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  to: Apply<boolean>,
): FlagDef {
  return {
    name,
    boolean: true,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      const b = parseGoBool(v);
      if (b === undefined) return "parse error";
      to(s.config, b);
      return undefined;
    },
  };
}

/** Go's UintVar/Uint64Var (64-bit unsigned, base prefixes allowed). */
function uintFlag(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  to: Apply<number>,
): FlagDef {
  return {
    name,
    boolean: false,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      const r = parseGoUint(v, 64);
      if (!r.ok) return integerFailure(r.failure);
      to(s.config, Number(r.value));
      return undefined;
    },
  };
}

/** Go's IntVar/Int64Var. */
function intFlag(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  to: Apply<number>,
): FlagDef {
  return {
    name,
    boolean: false,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      const r = parseGoInt(v, 64);
      if (!r.ok) return integerFailure(r.failure);
      to(s.config, Number(r.value));
      return undefined;
    },
  };
}

/** Go's DurationVar; the Config keeps milliseconds. */
function durationFlag(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  to: Apply<number>,
): FlagDef {
  return {
    name,
    boolean: false,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      const r = parseGoDuration(v);
      if (!r.ok) return "parse error";
      to(s.config, nsToMs(r.ns));
      return undefined;
    },
  };
}

/** etcd's UniqueURLs: a comma-separated URL list, or one of the allowed non-URL words. */
function urlsFlag(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  to: Apply<ReturnType<typeof parseUrlList>>,
): FlagDef {
  return {
    name,
    boolean: false,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      try {
        to(s.config, parseUrlList(v));
        return undefined;
      } catch (err) {
        if (err instanceof UrlListError) return err.message;
        throw err;
      }
    },
  };
}

/** etcd's SelectiveStringValue: one of a fixed set of words, else "invalid value". */
function choiceFlag<T extends string>(
  name: string,
  group: HelpGroup | undefined,
  shownDefault: string,
  help: string,
  valid: readonly T[],
  to: Apply<T>,
): FlagDef {
  return {
    name,
    boolean: false,
    group,
    shownDefault,
    help,
    apply: (s, v) => {
      const found = valid.find((w) => w === v);
      if (found === undefined) return "invalid value";
      to(s.config, found);
      return undefined;
    },
  };
}

/** etcd's UniqueStringsValue: comma-separated, duplicates dropped, sorted. */
export function uniqueSortedStrings(v: string): string[] {
  return [...new Set(v.split(","))].sort();
}

/** --cors: "*" alone, or a URL list (each origin checked like any URL). */
function corsFlag(): FlagDef {
  return {
    name: "cors",
    boolean: false,
    group: "Security",
    shownDefault: "*",
    help: "Comma-separated origins allowed for CORS (cross-origin resource sharing); empty or * allows all.",
    apply: (s, v) => {
      if (v === "*") {
        s.config.cors = ["*"];
        return undefined;
      }
      try {
        s.config.cors = parseUrlList(v).map((u) => u.href);
        return undefined;
      } catch (err) {
        if (err instanceof UrlListError) return err.message;
        throw err;
      }
    },
  };
}

/** Flags etcd no longer supports but still accepts, with a warning, as boolean-style flags. */
export const IGNORED_FLAG_NAMES = [
  "cluster-active-size",
  "cluster-remove-delay",
  "cluster-sync-interval",
  "config",
  "force",
  "max-result-buffer",
  "max-retry-attempts",
  "peer-heartbeat-interval",
  "peer-election-timeout",
  "retry-interval",
  "snapshot",
  "v",
  "vv",
  "test.coverprofile",
  "test.outputdir",
] as const;

function ignoredFlag(name: string): FlagDef {
  return {
    name,
    boolean: true,
    group: undefined,
    shownDefault: "",
    help: "",
    apply: (s) => {
      s.warnings.push(`flag "-${name}" is no longer supported - ignoring.`);
      return undefined;
    },
  };
}

const LOG_LEVEL_WORDS = "debug, info, warn, error, panic, or fatal";

export const FLAGS: readonly FlagDef[] = [
  stringFlag(
    "config-file",
    undefined,
    "",
    "Path to a YAML configuration file; when given, other flags and ETCD_* variables are ignored.",
    (c, v) => {
      c.configFile = v;
    },
  ),

  // Member
  stringFlag("name", "Member", "default", "Name of this member, readable by people.", (c, v) => {
    c.name = v;
  }),
  // biome-ignore lint/suspicious/noTemplateCurlyInString: etcd shows the default as a pattern
  stringFlag("data-dir", "Member", "${name}.etcd", "Directory holding this member's data.", (c, v) => {
    c.dataDir = v;
  }),
  stringFlag("wal-dir", "Member", "", "Separate directory for the write-ahead log.", (c, v) => {
    c.walDir = v;
  }),
  uintFlag(
    "snapshot-count",
    "Member",
    "100000",
    "Committed entries applied between two snapshots to disk.",
    (c, v) => {
      c.snapshotCount = v;
    },
  ),
  uintFlag("heartbeat-interval", "Member", "100", "Heartbeat interval in milliseconds.", (c, v) => {
    c.heartbeatIntervalMs = v;
  }),
  uintFlag(
    "election-timeout",
    "Member",
    "1000",
    "Election timeout in milliseconds (at least 5 heartbeats, at most 50000).",
    (c, v) => {
      c.electionTimeoutMs = v;
    },
  ),
  boolFlag(
    "initial-election-tick-advance",
    "Member",
    "true",
    "Fast-forward the election clock at start so the first election happens sooner.",
    (c, v) => {
      c.initialElectionTickAdvance = v;
    },
  ),
  urlsFlag("listen-peer-urls", "Member", "http://localhost:2380", "URLs to listen on for peers.", (c, v) => {
    c.listenPeerUrls = v;
  }),
  urlsFlag(
    "listen-client-urls",
    "Member",
    "http://localhost:2379",
    "URLs to listen on for clients.",
    (c, v) => {
      c.listenClientUrls = v;
    },
  ),
  uintFlag("max-snapshots", "Member", "5", "Snapshot files kept on disk (0 keeps all).", (c, v) => {
    c.maxSnapshots = v;
  }),
  uintFlag("max-wals", "Member", "5", "WAL files kept on disk (0 keeps all).", (c, v) => {
    c.maxWals = v;
  }),
  intFlag(
    "quota-backend-bytes",
    "Member",
    "0",
    "Backend size that raises the NOSPACE alarm (0 means 2 GiB).",
    (c, v) => {
      c.quotaBackendBytes = v;
    },
  ),
  durationFlag(
    "backend-batch-interval",
    "Member",
    "",
    "Longest time a backend transaction stays open before commit.",
    (c, v) => {
      c.backendBatchIntervalMs = v;
    },
  ),
  intFlag(
    "backend-batch-limit",
    "Member",
    "0",
    "Most operations in a backend transaction before commit.",
    (c, v) => {
      c.backendBatchLimit = v;
    },
  ),
  uintFlag("max-txn-ops", "Member", "128", "Most operations allowed in one transaction.", (c, v) => {
    c.maxTxnOps = v;
  }),
  uintFlag("max-request-bytes", "Member", "1572864", "Largest client request accepted, in bytes.", (c, v) => {
    c.maxRequestBytes = v;
  }),
  {
    name: "max-concurrent-streams",
    boolean: false,
    group: "Member",
    shownDefault: "math.MaxUint32",
    help: "Most concurrent streams one client connection may open.",
    apply: (s, v) => {
      const r = parseGoUint(v, 32);
      if (!r.ok) {
        const why = r.failure === "syntax" ? "invalid syntax" : "value out of range";
        return `strconv.ParseUint: parsing ${JSON.stringify(v)}: ${why}`;
      }
      s.config.maxConcurrentStreams = Number(r.value);
      return undefined;
    },
  },
  uintFlag(
    "max-watchers-per-connection",
    "Member",
    "10000",
    "Most watchers one client connection may hold over all its watch streams; past it a watch create is refused with 'etcdserver: too many requests'. rxetcd's own, not etcd's.",
    (c, v) => {
      c.maxWatchersPerConnection = v;
    },
  ),
  uintFlag(
    "max-lease-keepalive-streams-per-connection",
    "Member",
    "10000",
    "Most lease keep-alive streams one client connection may keep open; past it a new one ends with 'etcdserver: too many requests'. rxetcd's own, not etcd's.",
    (c, v) => {
      c.maxLeaseKeepaliveStreamsPerConnection = v;
    },
  ),
  durationFlag(
    "grpc-keepalive-min-time",
    "Member",
    "5s",
    "Shortest interval a client should wait between pings.",
    (c, v) => {
      c.grpcKeepaliveMinTimeMs = v;
    },
  ),
  durationFlag(
    "grpc-keepalive-interval",
    "Member",
    "2h",
    "How often the server pings a client connection (0 disables).",
    (c, v) => {
      c.grpcKeepaliveIntervalMs = v;
    },
  ),
  durationFlag(
    "grpc-keepalive-timeout",
    "Member",
    "20s",
    "How long to wait for a ping answer before closing the connection (0 disables).",
    (c, v) => {
      c.grpcKeepaliveTimeoutMs = v;
    },
  ),

  boolFlag(
    "enable-grpc-gateway",
    "Member",
    "true",
    "Serve the JSON gateway (/v3/...) on the client URLs.",
    (c, v) => {
      c.enableGrpcGateway = v;
    },
  ),

  // Clustering
  urlsFlag(
    "initial-advertise-peer-urls",
    "Clustering",
    "http://localhost:2380",
    "This member's peer URLs, as told to the other members.",
    (c, v) => {
      c.initialAdvertisePeerUrls = v;
    },
  ),
  stringFlag(
    "initial-cluster",
    "Clustering",
    "default=http://localhost:2380",
    "The members of a new cluster: name=peer-url pairs, comma-separated.",
    (c, v) => {
      c.initialCluster = v;
    },
  ),
  choiceFlag<ClusterState>(
    "initial-cluster-state",
    "Clustering",
    "new",
    "'new' to start a new cluster, 'existing' to join one.",
    ["new", "existing"],
    (c, v) => {
      c.initialClusterState = v;
    },
  ),
  stringFlag(
    "initial-cluster-token",
    "Clustering",
    "etcd-cluster",
    "Token that makes this cluster's IDs unique; keeps clusters on one network apart.",
    (c, v) => {
      c.initialClusterToken = v;
    },
  ),
  urlsFlag(
    "advertise-client-urls",
    "Clustering",
    "http://localhost:2379",
    "This member's client URLs, as published to clients; they must be reachable by them.",
    (c, v) => {
      c.advertiseClientUrls = v;
    },
  ),
  stringFlag("discovery", "Clustering", "", "Discovery service URL to bootstrap the cluster.", (c, v) => {
    c.discovery = v;
  }),
  choiceFlag<DiscoveryFallback>(
    "discovery-fallback",
    "Clustering",
    "proxy",
    "What to do when discovery fails: 'exit' or 'proxy' (v2 API only).",
    ["proxy", "exit"],
    (c, v) => {
      c.discoveryFallback = v;
    },
  ),
  stringFlag(
    "discovery-proxy",
    "Clustering",
    "",
    "HTTP proxy for the traffic to the discovery service.",
    (c, v) => {
      c.discoveryProxy = v;
    },
  ),
  stringFlag(
    "discovery-srv",
    "Clustering",
    "",
    "DNS domain whose SRV records bootstrap the cluster.",
    (c, v) => {
      c.discoverySrv = v;
    },
  ),
  stringFlag(
    "discovery-srv-name",
    "Clustering",
    "",
    "Suffix of the SRV service name queried during DNS discovery.",
    (c, v) => {
      c.discoverySrvName = v;
    },
  ),
  boolFlag(
    "strict-reconfig-check",
    "Clustering",
    "true",
    "Refuse membership changes that would lose quorum.",
    (c, v) => {
      c.strictReconfigCheck = v;
    },
  ),
  boolFlag("pre-vote", "Clustering", "false", "Run Raft's pre-vote phase before elections.", (c, v) => {
    c.preVote = v;
  }),
  stringFlag(
    "auto-compaction-retention",
    "Clustering",
    "0",
    "How much history auto-compaction keeps; 0 turns it off.",
    (c, v) => {
      c.autoCompactionRetention = v;
    },
  ),
  stringFlag(
    "auto-compaction-mode",
    "Clustering",
    "periodic",
    "How to read the retention: 'periodic' (a duration; a bare number means hours, e.g. '5m') or 'revision' (a revision count).",
    (c, v) => {
      c.autoCompactionMode = v as CompactionMode;
    },
  ),
  boolFlag(
    "enable-v2",
    "Clustering",
    "false",
    "Accepted for compatibility; the v2 API is not served.",
    (c, v) => {
      c.enableV2 = v;
    },
  ),

  // v2 proxy
  choiceFlag<ProxyMode>(
    "proxy",
    "v2 Proxy (to be deprecated in v4)",
    "off",
    "Proxy mode: 'off', 'readonly' or 'on'.",
    ["off", "readonly", "on"],
    (c, v) => {
      c.proxy = v;
    },
  ),
  uintFlag(
    "proxy-failure-wait",
    "v2 Proxy (to be deprecated in v4)",
    "5000",
    "Milliseconds a failed endpoint stays marked as failed.",
    (c, v) => {
      c.proxyFailureWaitMs = v;
    },
  ),
  uintFlag(
    "proxy-refresh-interval",
    "v2 Proxy (to be deprecated in v4)",
    "30000",
    "Milliseconds between refreshes of the endpoint list.",
    (c, v) => {
      c.proxyRefreshIntervalMs = v;
    },
  ),
  uintFlag(
    "proxy-dial-timeout",
    "v2 Proxy (to be deprecated in v4)",
    "1000",
    "Milliseconds allowed for a dial (0 waits forever).",
    (c, v) => {
      c.proxyDialTimeoutMs = v;
    },
  ),
  uintFlag(
    "proxy-write-timeout",
    "v2 Proxy (to be deprecated in v4)",
    "5000",
    "Milliseconds allowed for a write (0 waits forever).",
    (c, v) => {
      c.proxyWriteTimeoutMs = v;
    },
  ),
  uintFlag(
    "proxy-read-timeout",
    "v2 Proxy (to be deprecated in v4)",
    "0",
    "Milliseconds allowed for a read (0 waits forever).",
    (c, v) => {
      c.proxyReadTimeoutMs = v;
    },
  ),

  // Security
  stringFlag("cert-file", "Security", "", "TLS certificate for client connections.", (c, v) => {
    c.clientTls.certFile = v;
  }),
  stringFlag("key-file", "Security", "", "TLS key for client connections.", (c, v) => {
    c.clientTls.keyFile = v;
  }),
  boolFlag("client-cert-auth", "Security", "false", "Require client certificates from clients.", (c, v) => {
    c.clientTls.clientCertAuth = v;
  }),
  stringFlag(
    "client-crl-file",
    "Security",
    "",
    "Certificate revocation list for client certificates.",
    (c, v) => {
      c.clientTls.crlFile = v;
    },
  ),
  stringFlag(
    "client-cert-allowed-hostname",
    "Security",
    "",
    "Hostname a client certificate must carry.",
    (c, v) => {
      c.clientTls.allowedHostname = v;
    },
  ),
  stringFlag(
    "trusted-ca-file",
    "Security",
    "",
    "CA bundle that client certificates must chain to.",
    (c, v) => {
      c.clientTls.trustedCaFile = v;
    },
  ),
  boolFlag(
    "auto-tls",
    "Security",
    "false",
    "Serve clients with a generated self-signed certificate.",
    (c, v) => {
      c.clientTls.autoTls = v;
    },
  ),
  stringFlag("peer-cert-file", "Security", "", "TLS certificate for peer connections.", (c, v) => {
    c.peerTls.certFile = v;
  }),
  stringFlag("peer-key-file", "Security", "", "TLS key for peer connections.", (c, v) => {
    c.peerTls.keyFile = v;
  }),
  boolFlag(
    "peer-client-cert-auth",
    "Security",
    "false",
    "Require client certificates from peers.",
    (c, v) => {
      c.peerTls.clientCertAuth = v;
    },
  ),
  stringFlag(
    "peer-trusted-ca-file",
    "Security",
    "",
    "CA bundle that peer certificates must chain to.",
    (c, v) => {
      c.peerTls.trustedCaFile = v;
    },
  ),
  stringFlag(
    "peer-cert-allowed-cn",
    "Security",
    "",
    "Common name a peer's client certificate must carry.",
    (c, v) => {
      c.peerTls.allowedCn = v;
    },
  ),
  stringFlag(
    "peer-cert-allowed-hostname",
    "Security",
    "",
    "Hostname a peer's client certificate must carry.",
    (c, v) => {
      c.peerTls.allowedHostname = v;
    },
  ),
  boolFlag(
    "peer-auto-tls",
    "Security",
    "false",
    "Use a generated self-signed certificate for peers when no peer key and certificate are given.",
    (c, v) => {
      c.peerTls.autoTls = v;
    },
  ),
  stringFlag(
    "peer-crl-file",
    "Security",
    "",
    "Certificate revocation list for peer certificates.",
    (c, v) => {
      c.peerTls.crlFile = v;
    },
  ),
  stringFlag(
    "cipher-suites",
    "Security",
    "",
    "Comma-separated TLS cipher suites for clients and peers (empty: the runtime's defaults).",
    (c, v) => {
      c.cipherSuites = v.split(",");
    },
  ),
  corsFlag(),
  stringFlag(
    "host-whitelist",
    "Security",
    "*",
    "Host header values accepted on insecure listeners (empty or * accepts all).",
    (c, v) => {
      c.hostWhitelist = uniqueSortedStrings(v);
    },
  ),

  // Auth
  stringFlag(
    "auth-token",
    "Auth",
    "simple",
    "Token type and options: 'simple', or 'jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...'.",
    (c, v) => {
      c.authToken = v;
    },
  ),
  uintFlag(
    "bcrypt-cost",
    "Auth",
    "10",
    "bcrypt cost for password hashes, from 4 to 31 (other values fall back to 10).",
    (c, v) => {
      c.bcryptCost = v;
    },
  ),
  uintFlag("auth-token-ttl", "Auth", "300", "Lifetime of a simple token, in seconds.", (c, v) => {
    c.authTokenTtlSeconds = v;
  }),

  // Profiling and monitoring
  boolFlag(
    "enable-pprof",
    "Profiling and Monitoring",
    "false",
    "Accepted for compatibility (Go's profiler under /debug/pprof/ does not exist here).",
    (c, v) => {
      c.enablePprof = v;
    },
  ),
  stringFlag(
    "metrics",
    "Profiling and Monitoring",
    "basic",
    "Detail of exported metrics: 'basic', or 'extensive' to add histograms.",
    (c, v) => {
      c.metrics = v;
    },
  ),
  urlsFlag(
    "listen-metrics-urls",
    "Profiling and Monitoring",
    "",
    "Extra URLs serving only /metrics and /health.",
    (c, v) => {
      c.listenMetricsUrls = v;
    },
  ),
  urlsFlag(
    "listen-feed-urls",
    "Profiling and Monitoring",
    "",
    "Extra URLs serving only the event feed (/socket.io) and the dashboard (/dashboard); rxetcd's own, not etcd's.",
    (c, v) => {
      c.listenFeedUrls = v;
    },
  ),

  // Logging
  stringFlag(
    "logger",
    "Logging",
    "capnslog",
    "'zap' or 'capnslog' (both log JSON here; capnslog accepts one output only).",
    (c, v) => {
      c.logger = v as Config["logger"];
    },
  ),
  {
    name: "log-outputs",
    boolean: false,
    group: "Logging",
    shownDefault: "default",
    help: "Where logs go: 'default', 'stderr', 'stdout', or file paths, comma-separated.",
    apply: (s, v) => {
      s.config.logOutputs = uniqueSortedStrings(v);
      return undefined;
    },
  },
  stringFlag("log-level", "Logging", "info", `Log level: ${LOG_LEVEL_WORDS}.`, (c, v) => {
    c.logLevel = v as LogLevel;
  }),

  // Experimental
  boolFlag(
    "experimental-initial-corrupt-check",
    "Experimental feature",
    "false",
    "Compare data hashes with the peers before serving.",
    (c, v) => {
      c.experimentalInitialCorruptCheck = v;
    },
  ),
  durationFlag(
    "experimental-corrupt-check-time",
    "Experimental feature",
    "0s",
    "Interval between cluster corruption checks (0 turns them off).",
    (c, v) => {
      c.experimentalCorruptCheckTimeMs = v;
    },
  ),
  stringFlag(
    "experimental-enable-v2v3",
    "Experimental feature",
    "",
    "Accepted for compatibility; v2 emulation is not served.",
    (c, v) => {
      c.experimentalEnableV2v3 = v;
    },
  ),
  stringFlag(
    "experimental-backend-bbolt-freelist-type",
    "Experimental feature",
    "array",
    "Accepted for compatibility ('array' or 'map'); the backend is LMDB.",
    (c, v) => {
      c.experimentalBackendBboltFreelistType = v;
    },
  ),
  boolFlag(
    "experimental-enable-lease-checkpoint",
    "Experimental feature",
    "false",
    "Leader checkpoints lease TTLs so a new leader does not reset them.",
    (c, v) => {
      c.experimentalEnableLeaseCheckpoint = v;
    },
  ),
  boolFlag(
    "experimental-enable-lease-checkpoint-persist",
    "Experimental feature",
    "false",
    "Persist checkpointed lease TTLs (requires --experimental-enable-lease-checkpoint).",
    (c, v) => {
      c.experimentalEnableLeaseCheckpointPersist = v;
    },
  ),
  intFlag(
    "experimental-compaction-batch-limit",
    "Experimental feature",
    "1000",
    "Most revisions deleted in one compaction batch.",
    (c, v) => {
      c.experimentalCompactionBatchLimit = v;
    },
  ),
  boolFlag(
    "experimental-peer-skip-client-san-verification",
    "Experimental feature",
    "false",
    "Do not check the SAN of peers' client certificates.",
    (c, v) => {
      c.peerTls.skipClientSanVerification = v;
    },
  ),
  durationFlag(
    "experimental-watch-progress-notify-interval",
    "Experimental feature",
    "10m",
    "Interval of watch progress notifications (at least 100ms).",
    (c, v) => {
      c.experimentalWatchProgressNotifyIntervalMs = v;
    },
  ),
  durationFlag(
    "experimental-warning-apply-duration",
    "Experimental feature",
    "100ms",
    "Applying a request for longer than this logs a warning.",
    (c, v) => {
      c.experimentalWarningApplyDurationMs = v;
    },
  ),

  // Unsafe
  boolFlag(
    "force-new-cluster",
    "Unsafe feature",
    "false",
    "Restart as a new one-member cluster, keeping the data.",
    (c, v) => {
      c.forceNewCluster = v;
    },
  ),
  boolFlag(
    "unsafe-no-fsync",
    "Unsafe feature",
    "false",
    "Skip fsync; a crash can lose acknowledged writes.",
    (c, v) => {
      c.unsafeNoFsync = v;
    },
  ),

  // Deprecated
  {
    name: "log-output",
    boolean: false,
    group: "To be deprecated",
    shownDefault: "default",
    help: "Old spelling of --log-outputs.",
    apply: (s, v) => {
      s.deprecatedLogOutput = uniqueSortedStrings(v);
      return undefined;
    },
  },
  boolFlag("debug", "To be deprecated", "false", "Same as --log-level=debug.", (c, v) => {
    c.debug = v;
  }),
  stringFlag(
    "log-package-levels",
    "To be deprecated",
    "",
    "Per-package log levels (capnslog only); accepted and ignored.",
    (c, v) => {
      c.logPackageLevels = v;
    },
  ),

  // Meta
  {
    name: "version",
    boolean: true,
    group: undefined,
    shownDefault: "false",
    help: "Print the version and exit.",
    apply: (s, v) => {
      const b = parseGoBool(v);
      if (b === undefined) return "parse error";
      s.printVersion = b;
      return undefined;
    },
  },
  ...IGNORED_FLAG_NAMES.map(ignoredFlag),
];

const BY_NAME: ReadonlyMap<string, FlagDef> = new Map(FLAGS.map((f) => [f.name, f]));

export function lookupFlag(name: string): FlagDef | undefined {
  return BY_NAME.get(name);
}

/** etcd's FlagToEnv: "listen-client-urls" -> "ETCD_LISTEN_CLIENT_URLS". */
export function flagToEnv(name: string): string {
  return `ETCD_${name.replaceAll("-", "_").toUpperCase()}`;
}
