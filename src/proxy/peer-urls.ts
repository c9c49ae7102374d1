// The peer URLs a proxy starts from: the cluster file when the proxy ran before (discovery settings
// are then ignored, with etcd's warnings), otherwise --initial-cluster.
import type { Logger } from "pino";
import { parseInitialCluster } from "../config/cluster.js";
import type { Config } from "../config/codec.js";
import { readClusterFile } from "./cluster-file.js";

export function initialPeerUrls(
  config: Config,
  clusterFile: string,
  log: Pick<Logger, "info" | "warn">,
): string[] {
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
  // rxetcd bootstraps members from --initial-cluster only, and so does its proxy
  if (config.discovery !== "")
    throw new Error(
      "error setting up initial cluster: the proxy cannot bootstrap through --discovery in rxetcd",
    );
  if (config.discoverySrv !== "")
    throw new Error(
      "error setting up initial cluster: the proxy cannot bootstrap through --discovery-srv in rxetcd",
    );
  const members = parseInitialCluster(config.initialCluster);
  const urls = [...members.values()].flatMap((list) => list.map((u) => u.href)).sort();
  log.info({ "peer-urls": urls }, "proxy using peer URLS");
  return urls;
}
