// etcd 3.4's v2 proxy (`--proxy on|readonly`): listens on the client URLs and sends every request on
// to a member's client URL, learned from the cluster's peers and kept in <data-dir>/proxy/cluster.
import { mkdirSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/codec.js";
import { opensslCiphers } from "../embed/cipher-suites.js";
import { WatchedClientTls } from "../embed/client-tls.js";
import { listenSide, type SideListener } from "../embed/side-listener.js";
import { Agents } from "../transport/http-util.js";
import { clientUrlSource } from "./client-urls.js";
import { Director, endpointText } from "./director.js";
import { ProxyMetrics } from "./metrics.js";
import { initialPeerUrls, type PeerUrlsOptions } from "./peer-urls.js";
import { proxyHandler } from "./proxy-handler.js";
import { resolveProxyTls } from "./proxy-tls.js";
import { reverseProxy } from "./reverse-proxy.js";

export interface RunningProxy {
  /** The client URLs actually bound (port 0 in the config is replaced by the chosen port). */
  readonly clientUrls: URL[];
  /** The client URLs of members requests go to now. */
  endpoints(): string[];
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** Starts a v2 proxy from a validated configuration (etcd's startProxy). */
export async function startProxy(
  config: Config,
  extras: { logger: Logger } & PeerUrlsOptions,
): Promise<RunningProxy> {
  const log = extras.logger;
  log.info("v2 API proxy starting");
  for (const u of config.listenClientUrls) {
    if (u.scheme !== "http" && u.scheme !== "https")
      throw new Error(`the proxy listens on http and https URLs only: ${u.href}`);
  }
  const proxyDir = join(config.dataDir, "proxy");
  const tls = await resolveProxyTls(config, proxyDir, log);
  mkdirSync(proxyDir, { recursive: true, mode: 0o700 });
  const clusterFile = join(proxyDir, "cluster");
  const peerUrls = await initialPeerUrls(config, clusterFile, log, extras);

  // peers are asked seldom: no connections kept (etcd's transport with timeouts keeps none)
  const peerAgents = new Agents(tls.peerDial, false);
  const memberAgents = new Agents(tls.clientDial, true);
  const director = new Director({
    clientUrls: clientUrlSource({
      peerUrls,
      clusterFile,
      agents: peerAgents,
      dialTimeoutMs: config.proxyDialTimeoutMs,
      log,
    }),
    failureWaitMs: config.proxyFailureWaitMs,
    refreshIntervalMs: config.proxyRefreshIntervalMs,
    log,
  });
  const listeners: SideListener[] = [];
  let watched: WatchedClientTls | undefined;
  const closeAll = async () => {
    director.stop();
    for (const l of listeners.splice(0)) await l.close().catch(() => {});
    watched?.close();
    peerAgents.destroy();
    memberAgents.destroy();
  };
  try {
    await director.start();
    const metrics = new ProxyMetrics();
    const handler = proxyHandler({
      readonly: config.proxy === "readonly",
      cors: config.cors,
      director,
      metrics,
      forward: reverseProxy({
        director,
        agentFor: (endpoint) => memberAgents.for(endpoint),
        timeouts: {
          dialMs: config.proxyDialTimeoutMs,
          writeMs: config.proxyWriteTimeoutMs,
          readMs: config.proxyReadTimeoutMs,
        },
        metrics,
        log,
      }),
    });
    watched = tls.listen.certFile
      ? new WatchedClientTls(tls.listen, opensslCiphers(config.cipherSuites), log)
      : undefined;
    for (const u of config.listenClientUrls) {
      const l = await listenSide(
        "client URL",
        new URL(u.href),
        watched?.tls,
        (req: IncomingMessage, res: ServerResponse) => handler(req, res),
      );
      listeners.push(l);
      log.info({ host: endpointText(l.url) }, "v2 proxy started listening on client requests");
    }
    const bound = [...listeners];
    watched?.onChange((t) => {
      for (const l of bound) l.setTls(t);
    });
  } catch (err) {
    await closeAll();
    throw err;
  }
  return {
    clientUrls: listeners.map((l) => l.url),
    endpoints: () => director.endpoints().map((e) => endpointText(e.url)),
    ready: Promise.resolve(),
    close: closeAll,
  };
}
