// etcd 3.4.23's defaults (embed.NewConfig plus the command's own), as one fresh Config.

import type { Config, TlsConfig } from "./codec.js";
import { parseUrlList } from "./urls.js";

export const ETCD_VERSION = "3.4.23";
export const ETCD_API_VERSION = "3.4";

export const DEFAULT_NAME = "default";
export const DEFAULT_LISTEN_PEER_URLS = "http://localhost:2380";
export const DEFAULT_LISTEN_CLIENT_URLS = "http://localhost:2379";
export const DEFAULT_INITIAL_ADVERTISE_PEER_URLS = "http://localhost:2380";
export const DEFAULT_ADVERTISE_CLIENT_URLS = "http://localhost:2379";
/** initial-cluster when nothing names it: the default member at the default peer URL. */
export const DEFAULT_INITIAL_CLUSTER = `${DEFAULT_NAME}=${DEFAULT_INITIAL_ADVERTISE_PEER_URLS}`;
export const DEFAULT_SNAPSHOT_COUNT = 100_000;
export const DEFAULT_SNAPSHOT_CATCH_UP_ENTRIES = 5000;
export const DEFAULT_MAX_REQUEST_BYTES = 1_572_864;
export const DEFAULT_MAX_TXN_OPS = 128;
/** Above this election timeout etcd refuses to start. */
export const MAX_ELECTION_TIMEOUT_MS = 50_000;
export const MAX_UINT32 = 4_294_967_295;
export const BCRYPT_MIN_COST = 4;
export const BCRYPT_MAX_COST = 31;
export const BCRYPT_DEFAULT_COST = 10;
/** Backend quota used when --quota-backend-bytes is 0 (2 GiB). */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

function emptyTls(): TlsConfig {
  return {
    certFile: "",
    keyFile: "",
    clientCertAuth: false,
    trustedCaFile: "",
    crlFile: "",
    allowedCn: "",
    allowedHostname: "",
    autoTls: false,
    skipClientSanVerification: false,
  };
}

/** A new Config holding etcd 3.4.23's defaults. dataDir is "" until loading fills it in. */
export function defaultConfig(): Config {
  return {
    configFile: "",
    name: DEFAULT_NAME,
    dataDir: "",
    walDir: "",
    snapshotCount: DEFAULT_SNAPSHOT_COUNT,
    snapshotCatchUpEntries: DEFAULT_SNAPSHOT_CATCH_UP_ENTRIES,
    maxSnapshots: 5,
    maxWals: 5,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    initialElectionTickAdvance: true,
    listenPeerUrls: parseUrlList(DEFAULT_LISTEN_PEER_URLS),
    listenClientUrls: parseUrlList(DEFAULT_LISTEN_CLIENT_URLS),
    quotaBackendBytes: 0,
    backendBatchIntervalMs: 0,
    backendBatchLimit: 0,
    maxTxnOps: DEFAULT_MAX_TXN_OPS,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
    maxConcurrentStreams: MAX_UINT32,
    maxWatchersPerConnection: 10_000,
    maxLeaseKeepaliveStreamsPerConnection: 10_000,
    grpcKeepaliveMinTimeMs: 5_000,
    grpcKeepaliveIntervalMs: 2 * 60 * 60 * 1000,
    grpcKeepaliveTimeoutMs: 20_000,

    initialAdvertisePeerUrls: parseUrlList(DEFAULT_INITIAL_ADVERTISE_PEER_URLS),
    initialCluster: DEFAULT_INITIAL_CLUSTER,
    initialClusterState: "new",
    initialClusterToken: "etcd-cluster",
    advertiseClientUrls: parseUrlList(DEFAULT_ADVERTISE_CLIENT_URLS),
    discovery: "",
    discoveryFallback: "proxy",
    discoveryProxy: "",
    discoverySrv: "",
    discoverySrvName: "",
    strictReconfigCheck: true,
    enableV2: false,
    preVote: false,
    autoCompactionMode: "periodic",
    autoCompactionRetention: "0",

    proxy: "off",
    proxyFailureWaitMs: 5000,
    proxyRefreshIntervalMs: 30000,
    proxyDialTimeoutMs: 1000,
    proxyWriteTimeoutMs: 5000,
    proxyReadTimeoutMs: 0,

    clientTls: emptyTls(),
    peerTls: emptyTls(),
    cipherSuites: [],
    cors: ["*"],
    hostWhitelist: ["*"],

    logger: "capnslog",
    logOutputs: ["default"],
    logLevel: "info",
    debug: false,
    logPackageLevels: "",

    enablePprof: false,
    metrics: "basic",
    listenMetricsUrls: [],
    listenFeedUrls: [],

    authToken: "simple",
    bcryptCost: BCRYPT_DEFAULT_COST,
    authTokenTtlSeconds: 300,

    enableGrpcGateway: true,

    experimentalInitialCorruptCheck: false,
    experimentalCorruptCheckTimeMs: 0,
    experimentalEnableV2v3: "",
    experimentalBackendBboltFreelistType: "array",
    experimentalEnableLeaseCheckpoint: false,
    experimentalEnableLeaseCheckpointPersist: false,
    experimentalCompactionBatchLimit: 1000,
    experimentalWatchProgressNotifyIntervalMs: 10 * 60 * 1000,
    experimentalWarningApplyDurationMs: 100,

    unsafeNoFsync: false,
    forceNewCluster: false,
  };
}
