// etcd's PeerURLsMapAndToken: the members a new cluster starts with, and its token, for each way of
// bootstrapping: --initial-cluster, --discovery (this member alone until the discovery service tells
// the rest; the token is the discovery URL) or --discovery-srv (the members from DNS SRV records).
import type { Logger } from "pino";
import { ClusterConfigError, initialClusterOf } from "../config/cluster.js";
import type { Config, EtcdUrl } from "../config/codec.js";
import { parseUrlsMap, UrlListError } from "../config/urls.js";
import { type SrvResolver, srvClusterNames } from "./srv.js";

export interface BootstrapCluster {
  members: Map<string, EtcdUrl[]>;
  token: string;
  /**
   * With --discovery-srv, https peers and no --peer-trusted-ca-file: the domain, which peers'
   * certificates are then checked against (etcd sets PeerTLSInfo.ServerName to it).
   */
  peerServerName?: string;
}

export interface BootstrapClusterOptions {
  /** Who asks: a member must find itself in the SRV records, a proxy need not. */
  which: "etcd" | "proxy";
  /** Answers SRV questions (default: the system's DNS). */
  srvResolver?: SrvResolver;
  logger?: Pick<Logger, "info" | "warn">;
}

/** The initial cluster and token; DNS is asked only with --discovery-srv. Throws ClusterConfigError. */
export async function bootstrapClusterOf(
  config: Config,
  opts: BootstrapClusterOptions,
): Promise<BootstrapCluster> {
  const initial = initialClusterOf(config);
  if (initial.kind === "static") return { members: initial.members, token: initial.token };
  let found: string[];
  try {
    found = await srvClusterNames({
      domain: initial.domain,
      serviceName: initial.serviceName,
      name: config.name,
      advertisePeerUrls: config.initialAdvertisePeerUrls.map((u) => u.href),
      ...(opts.srvResolver ? { resolver: opts.srvResolver } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    opts.logger?.warn({ error }, "failed to resolve during SRV discovery");
    throw new ClusterConfigError(`error setting up initial cluster: ${error}`);
  }
  for (const node of found) opts.logger?.info({ node }, "got bootstrap from DNS for etcd-server");
  let members: Map<string, EtcdUrl[]>;
  try {
    members = parseUrlsMap(found.join(","));
  } catch (err) {
    if (err instanceof UrlListError)
      throw new ClusterConfigError(`error setting up initial cluster: ${err.message}`);
    throw err;
  }
  if (opts.which === "etcd" && !members.has(config.name))
    throw new ClusterConfigError(
      `error setting up initial cluster: cannot find local etcd member ${JSON.stringify(config.name)} in SRV records`,
    );
  const serverName =
    found.some((node) => node.includes("https://")) && config.peerTls.trustedCaFile === ""
      ? { peerServerName: initial.domain }
      : {};
  return { members, token: initial.token, ...serverName };
}
