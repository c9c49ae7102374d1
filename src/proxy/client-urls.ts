// The director's source of client URLs (etcd startProxy's refresh function): the cluster as the known
// peers describe it; its peer URLs are kept in the cluster file and asked next time.
import type { Logger } from "pino";
import type { Agents } from "../transport/http-util.js";
import { ClusterFileWriteError, writeClusterFile } from "./cluster-file.js";
import { clusterFromRemotePeers } from "./remote-cluster.js";

export interface ClientUrlSourceOptions {
  peerUrls: string[];
  clusterFile: string;
  agents: Agents;
  dialTimeoutMs: number;
  log: Pick<Logger, "info" | "warn">;
}

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** A function answering the cluster's client URLs now, an empty list when no peer tells them. */
export function clientUrlSource(opts: ClientUrlSourceOptions): () => Promise<string[]> {
  let peerUrls = opts.peerUrls;
  return async () => {
    let cluster: Awaited<ReturnType<typeof clusterFromRemotePeers>>;
    try {
      cluster = await clusterFromRemotePeers(peerUrls, {
        agents: opts.agents,
        dialTimeoutMs: opts.dialTimeoutMs,
        log: opts.log,
      });
    } catch (err) {
      opts.log.warn(
        { "peer-urls": peerUrls, error: (err as Error).message },
        "failed to get cluster from remote peers",
      );
      return [];
    }
    try {
      writeClusterFile(opts.clusterFile, cluster.peerUrls);
    } catch (err) {
      const error = (err as Error).message;
      if (err instanceof ClusterFileWriteError && err.step === "rename")
        opts.log.warn({ path: opts.clusterFile, error }, "proxy failed to rename cluster file");
      else opts.log.warn({ error }, "proxy failed to write cluster file");
      return cluster.clientUrls;
    }
    if (!sameList(cluster.peerUrls, peerUrls))
      opts.log.info({ from: peerUrls, to: cluster.peerUrls }, "proxy updated peer URLs");
    peerUrls = cluster.peerUrls;
    return cluster.clientUrls;
  };
}
