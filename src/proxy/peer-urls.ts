// The peer URLs a proxy starts from: the cluster file when the proxy ran before (discovery settings
// are then ignored, with etcd's warnings), otherwise --initial-cluster, the members a v2 discovery
// service lists (--discovery) or the DNS SRV records (--discovery-srv).
import type { Logger } from "pino";
import type { Config } from "../config/codec.js";
import { parseUrlsMap } from "../config/urls.js";
import { bootstrapClusterOf, getCluster, type SrvResolver } from "../discovery/index.js";
import { readClusterFile } from "./cluster-file.js";

export interface PeerUrlsOptions {
  srvResolver?: SrvResolver;
  /** The unit of --discovery's retry backoff (etcd: 1 s). */
  discoveryRetryUnitMs?: number;
}

export async function initialPeerUrls(
  config: Config,
  clusterFile: string,
  log: Pick<Logger, "info" | "warn" | "error">,
  opts: PeerUrlsOptions = {},
): Promise<string[]> {
  const fromFile = readClusterFile(clusterFile);
  if (fromFile !== undefined) {
    if (config.discovery !== "")
      log.warn(
        { "cluster-file": clusterFile },
        "discovery token ignored since the proxy has already been initialized; valid cluster file found",
      );
    if (config.discoverySrv !== "")
      log.warn(
        { "cluster-file": clusterFile },
        "DNS SRV discovery ignored since the proxy has already been initialized; valid cluster file found",
      );
    log.info(
      { "peer-urls": fromFile, "cluster-file": clusterFile },
      "proxy using peer URLS from cluster file",
    );
    return fromFile;
  }
  let { members } = await bootstrapClusterOf(config, {
    which: "proxy",
    logger: log,
    ...(opts.srvResolver ? { srvResolver: opts.srvResolver } : {}),
  });
  if (config.discovery !== "") {
    // the proxy reads the cluster without registering; a full cluster is its answer
    const found = await getCluster({
      url: config.discovery,
      ...(config.discoveryProxy !== "" ? { proxy: config.discoveryProxy } : {}),
      logger: log,
      ...(opts.discoveryRetryUnitMs !== undefined ? { retryUnitMs: opts.discoveryRetryUnitMs } : {}),
    });
    members = parseUrlsMap(found);
  }
  const urls = [...members.values()].flatMap((list) => list.map((u) => u.href)).sort();
  log.info({ "peer-urls": urls }, "proxy using peer URLS");
  return urls;
}
