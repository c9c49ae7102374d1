import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { Observable } from "rxjs";
import {
  clientHttp2FromEnvironment,
  clientThreadFromEnvironment,
  frontFromEnvironment,
  serveClients,
} from "../api/index.js";
import type { Config } from "../config/codec.js";
import { parseCompactionRetention } from "../config/index.js";
import { bootstrapClusterOf, type SrvResolver } from "../discovery/index.js";
import { type EventFeedOptions, type Feed, startFeed } from "../feed/index.js";
import { type AppliedRequest, type Operators, wireOperators } from "../operators/index.js";
import { checkInitialHashKV } from "../server/corruption-check.js";
import { prepareMemberPaths } from "../server/etcd-data-dir.js";
import { EtcdServer } from "../server/etcd-server.js";
import type { PeerTlsFiles, ServerConfig } from "../server/server-config.js";
import { type Listening, type ListenTls, listenHttp } from "../transport/peer-http.js";
import { WAL } from "../wal/wal.js";
import { serverAuthConfig } from "./auth-config.js";
import { resolveAutoTls } from "./auto-tls.js";
import { opensslCiphers } from "./cipher-suites.js";
import { WatchedClientTls } from "./client-tls.js";
import { RevocationCheck } from "./crl.js";
import { feedAuthenticator } from "./feed-auth.js";
import { type FeedListener, listenFeed } from "./feed-listener.js";
import { listenMetrics, type MetricsListener } from "./metrics-listener.js";
import { readTlsFiles } from "./tls-files.js";

/** etcd's defaultLeaseCheckpointInterval. */
const LEASE_CHECKPOINT_INTERVAL_MS = 5 * 60 * 1000;

/** A running member with its listeners, like etcd's embed.Etcd. */
export {
  type RestoreOptions,
  type RestoreResult,
  restoreSnapshot,
  SnapshotRestoreError,
} from "../server/snapshot-restore.js";

export interface Etcd {
  readonly server: EtcdServer;
  /** The client URLs actually bound (port 0 in the config is replaced by the chosen port). */
  readonly clientUrls: URL[];
  readonly peerUrls: URL[];
  readonly metricsUrls: URL[];
  /** The feed-only URLs bound (--listen-feed-urls). */
  readonly feedUrls: URL[];
  /** The socket.io event feed on the client port (undefined when turned off). */
  readonly feed: Feed | undefined;
  /** What the apply operators emit (empty without them). */
  readonly appliedResults$: Observable<AppliedRequest>;
  /** Resolves once the member serves clients (it has a leader and has applied its start-up entries). */
  readonly ready: Promise<void>;
  /** Resolves once the member has stopped (rejects with the fatal error when it stopped on one). */
  readonly stopped: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** The event feed's options; false turns the feed off. */
  feed?: EventFeedOptions | false;
  /** User operators composed into the proposal, apply and feed paths (see src/operators/types.ts). */
  operators?: Operators;
  /** Answers --discovery-srv's DNS questions (default: the system's resolver). */
  srvResolver?: SrvResolver;
  /** The unit of --discovery's retry backoff (etcd: 1 s, doubled each retry). */
  discoveryRetryUnitMs?: number;
}

type PeerHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Peer requests that arrive before the server (and its transport) exists wait for it, as they wait in etcd's
 * listen backlog until its peer handler is served; then they are handled in arrival order. A bounded number
 * waits: beyond it a peer is told to come back (it redials).
 */
function heldUntilServed(maxWaiting = 256): { handler: PeerHandler; serve(h: PeerHandler): void } {
  let target: PeerHandler | undefined;
  const waiting: Array<[IncomingMessage, ServerResponse]> = [];
  return {
    handler: (req, res) => {
      if (target) return target(req, res);
      if (waiting.length >= maxWaiting) {
        res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8" });
        res.end("member is starting\n");
        return;
      }
      waiting.push([req, res]);
    },
    serve: (h) => {
      target = h;
      for (const [req, res] of waiting.splice(0)) if (!res.destroyed) h(req, res);
    },
  };
}

/** The peer listener's TLS, when the peer URLs are https. */
function readPeerListenTls(config: Config, log: Logger): ListenTls | undefined {
  const t = config.peerTls;
  if (!config.listenPeerUrls.some((u) => u.href.startsWith("https://"))) return undefined;
  if (!t.certFile || !t.keyFile)
    throw new Error("https peer URLs need --peer-cert-file and --peer-key-file (or --peer-auto-tls)");
  const files = readPeerTls(config, false);
  return {
    cert: files.cert as Buffer,
    key: files.key as Buffer,
    ...(files.ca ? { ca: files.ca } : {}),
    // as etcd 3.4: a trusted CA alone makes the listener require a verified client certificate
    requestCert: t.clientCertAuth || files.ca !== undefined,
    ...(t.crlFile ? { revoked: new RevocationCheck(t.crlFile, log).refuses } : {}),
  };
}

/** How https peers are dialed: the peer TLS files, and the SRV domain their certificates must name. */
function peerDialTls(
  config: Config,
  selfSigned: boolean,
  serverName: string | undefined,
): { peerTls?: PeerTlsFiles } {
  const files =
    config.peerTls.certFile || config.peerTls.trustedCaFile ? readPeerTls(config, selfSigned) : undefined;
  if (serverName === undefined) return files ? { peerTls: files } : {};
  return { peerTls: { ...(files ?? {}), serverName } };
}

/**
 * The peer TLS files for dialing https peers, read once at start-up. Self-signed peers (auto TLS) are
 * dialed without verifying their certificates, as etcd does.
 */
function readPeerTls(config: Config, selfSigned: boolean): PeerTlsFiles {
  const names = { ca: "--peer-trusted-ca-file", cert: "--peer-cert-file", key: "--peer-key-file" };
  return readTlsFiles(config.peerTls, names, !selfSigned);
}

function toUrl(u: { href: string }): URL {
  return new URL(u.href);
}

/** Starts a member from a validated configuration (etcd's embed.StartEtcd). */
export async function startEtcd(given: Config, opts: StartOptions): Promise<Etcd> {
  const logger = opts.logger;
  // --auto-tls / --peer-auto-tls: the generated files stand in for the certificate flags from here on
  const { config, peerSelfSigned } = await resolveAutoTls(given, logger);
  const peerTls = config.peerTls;
  if (peerTls.certFile !== "" || peerTls.keyFile !== "") {
    // etcd's start-up line for peer TLS
    logger.info(
      {
        "cert-file": peerTls.certFile,
        "key-file": peerTls.keyFile,
        "trusted-ca-file": peerTls.trustedCaFile,
        "client-cert-auth": peerTls.clientCertAuth,
        "self-signed": peerSelfSigned,
      },
      "starting with peer TLS",
    );
  }
  const paths = await prepareMemberPaths(config.dataDir, config.walDir, logger);
  // a member with a WAL restarts from it: no DNS question, no discovery (as etcd)
  const initialized = WAL.exists(paths.walDir);
  const boot = await bootstrapClusterOf(initialized ? { ...config, discoverySrv: "" } : config, {
    which: "etcd",
    logger,
    ...(opts.srvResolver ? { srvResolver: opts.srvResolver } : {}),
  });
  const initialCluster = new Map([...boot.members].map(([name, urls]) => [name, urls.map((u) => u.href)]));
  const serverConfig: ServerConfig = {
    paths,
    name: config.name,
    initialCluster,
    initialClusterToken: boot.token,
    initialClusterState: config.initialClusterState,
    ...(config.discovery !== ""
      ? {
          discovery: {
            url: config.discovery,
            proxy: config.discoveryProxy,
            ...(opts.discoveryRetryUnitMs !== undefined ? { retryUnitMs: opts.discoveryRetryUnitMs } : {}),
          },
        }
      : {}),
    tickMs: config.heartbeatIntervalMs,
    electionTicks: Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
    snapshotCount: config.snapshotCount,
    snapshotCatchUpEntries: config.snapshotCatchUpEntries,
    maxSnapshots: config.maxSnapshots,
    maxTxnOps: config.maxTxnOps,
    maxRequestBytes: config.maxRequestBytes,
    quotaBackendBytes: config.quotaBackendBytes,
    backendBatchIntervalMs: config.backendBatchIntervalMs,
    backendBatchLimit: config.backendBatchLimit,
    preVote: config.preVote,
    clientUrls: config.advertiseClientUrls.map((u) => u.href),
    peerUrls: config.initialAdvertisePeerUrls.map((u) => u.href),
    strictReconfigCheck: config.strictReconfigCheck,
    initialElectionTickAdvance: config.initialElectionTickAdvance,
    corruptCheckIntervalMs: config.experimentalCorruptCheckTimeMs,
    unsafeNoFsync: config.unsafeNoFsync,
    ...peerDialTls(config, peerSelfSigned, boot.peerServerName),
    warningApplyMs: config.experimentalWarningApplyDurationMs,
    watchProgressNotifyIntervalMs: config.experimentalWatchProgressNotifyIntervalMs,
    ...(config.experimentalEnableLeaseCheckpoint
      ? {
          leaseCheckpoint: {
            intervalMs: LEASE_CHECKPOINT_INTERVAL_MS,
            persist: config.experimentalEnableLeaseCheckpointPersist,
          },
        }
      : {}),
    auth: serverAuthConfig(config, (message) => logger.warn({}, message)),
    logger,
  };
  const retention = parseCompactionRetention(config.autoCompactionMode, config.autoCompactionRetention);
  if ("error" in retention) throw new Error(retention.error);
  if (retention.mode === "revision" && retention.revisions > 0) serverConfig.autoCompaction = retention;
  if (retention.mode === "periodic" && retention.retentionMs > 0) serverConfig.autoCompaction = retention;

  const listeners: Array<{ close(): Promise<void> }> = [];
  const closeAll = async () => {
    for (const l of listeners.splice(0).reverse()) await l.close().catch(() => {});
  };

  let server: EtcdServer | undefined;
  try {
    // peers first, as etcd opens them before building the server
    const peers: Listening[] = [];
    // https peer URLs are served with --peer-cert-file/--peer-key-file (and client certificates
    // required with --peer-client-cert-auth)
    const peerListenTls = readPeerListenTls(config, logger);
    // until the server (and its transport) exists, peers wait: etcd serves them only once it is built
    const held = heldUntilServed();
    const handler = held.handler;
    for (const u of config.listenPeerUrls) {
      const l = await listenHttp(toUrl(u), handler, peerListenTls);
      peers.push(l);
      listeners.push(l);
      logger.info({ address: l.url.href }, "listening for peers");
    }

    server = await EtcdServer.start(serverConfig);
    const started = server;
    held.serve((req, res) => started.transport.handler(req, res));
    // a member restarting on its data compares its KV hash with its peers' before serving (etcd: only
    // members that were initialized before)
    if (config.experimentalInitialCorruptCheck && started.bootCase === "restart") {
      // after the replay, so the membership (which etcd may not know yet without a snapshot) is complete
      await started.waitReplayed();
      await checkInitialHashKV(started);
    }

    // as etcd, clients are served once the member is ready (a leader is known, start-up entries applied)
    await started.waitReady();
    const ops = wireOperators(started, opts.operators, logger);
    listeners.push(ops);
    const feed =
      opts.feed === false
        ? undefined
        : await startFeed(started, {
            warningApplyMs: config.experimentalWarningApplyDurationMs,
            logger,
            authenticate: feedAuthenticator(started.auth),
            ...opts.feed,
            ...(ops.feed ? { operator: ops.feed } : {}),
          });
    if (feed) listeners.push(feed);
    // client certificates, read again when they change on disk
    const watched = config.clientTls.certFile
      ? new WatchedClientTls(config.clientTls, opensslCiphers(config.cipherSuites), logger)
      : undefined;
    if (watched) listeners.push({ close: async () => watched.close() });
    const tls = watched?.tls;
    const clients = await serveClients({
      api: ops.api,
      listenUrls: config.listenClientUrls.map(toUrl),
      maxRequestBytes: config.maxRequestBytes,
      maxTxnOps: config.maxTxnOps,
      grpc: {
        // etcd's default is math.MaxUint32: no limit
        ...(config.maxConcurrentStreams < 2 ** 32 - 1
          ? { maxConcurrentStreams: config.maxConcurrentStreams }
          : {}),
        keepaliveIntervalMs: config.grpcKeepaliveIntervalMs,
        keepaliveTimeoutMs: config.grpcKeepaliveTimeoutMs,
        keepaliveMinTimeMs: config.grpcKeepaliveMinTimeMs,
      },
      connections: {
        maxWatchersPerConnection: config.maxWatchersPerConnection,
        maxKeepAliveStreamsPerConnection: config.maxLeaseKeepaliveStreamsPerConnection,
      },
      logger,
      ...(tls ? { tls } : {}),
      http: feed?.http ?? [],
      front: frontFromEnvironment(process.env),
      clientThread: clientThreadFromEnvironment(process.env),
      clientHttp2: clientHttp2FromEnvironment(process.env),
    });
    listeners.push(clients);

    const metricsUrls: URL[] = [];
    const metricsListeners: MetricsListener[] = [];
    for (const u of config.listenMetricsUrls) {
      const l = await listenMetrics(toUrl(u), started.api, tls);
      listeners.push(l);
      metricsListeners.push(l);
      metricsUrls.push(l.url);
    }
    const feedUrls: URL[] = [];
    const feedListeners: FeedListener[] = [];
    if (config.listenFeedUrls.length > 0 && !feed)
      throw new Error("--listen-feed-urls is given but the event feed is turned off");
    // the page served there sends its requests to the member's advertised client URL
    const apiOrigin = config.advertiseClientUrls[0]?.href ?? clients.urls[0]?.href;
    for (const u of feed ? config.listenFeedUrls : []) {
      const l = await listenFeed(toUrl(u), feed?.feedOnlyHttp(apiOrigin ?? u.href) ?? [], tls);
      listeners.push(l);
      feedListeners.push(l);
      feedUrls.push(l.url);
      logger.info({ address: l.url.href }, "serving the event feed and the dashboard");
    }
    watched?.onChange((t) => {
      clients.setTls(t);
      for (const l of metricsListeners) l.setTls(t);
      for (const l of feedListeners) l.setTls(t);
    });

    const stopped = new Promise<void>((resolve, reject) => {
      started.stopped$.subscribe((err) => (err ? reject(err) : resolve()));
    });
    stopped.catch(() => {});
    return {
      server: started,
      clientUrls: clients.urls,
      peerUrls: peers.map((p) => p.url),
      metricsUrls,
      feedUrls,
      feed,
      appliedResults$: ops.appliedResults$,
      ready: Promise.resolve(),
      stopped,
      close: async () => {
        await closeAll();
        await started.stop();
      },
    };
  } catch (err) {
    await closeAll();
    await server?.stop().catch(() => {});
    throw err;
  }
}
