// The initial cluster of a member that has no data yet, and etcd's checks of it
// (embed PeerURLsMapAndToken, etcdserver VerifyBootstrap / VerifyJoinExisting).

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Config, EtcdUrl } from "./codec.js";
import { parseUrlsMap, UrlListError, urlsMapText } from "./urls.js";

export class ClusterConfigError extends Error {}

/** What the bootstrap checks read of a configuration (etcdctl snapshot restore has only these). */
export type BootstrapFields = Pick<
  Config,
  "name" | "initialClusterState" | "discovery" | "initialAdvertisePeerUrls"
>;

export type InitialCluster =
  /** From --initial-cluster, or this member alone when bootstrapping through --discovery. */
  | { kind: "static"; members: Map<string, EtcdUrl[]>; token: string }
  /** --discovery-srv: the members come from DNS SRV records of this domain. */
  | { kind: "srv"; domain: string; serviceName: string; token: string };

/** etcd's PeerURLsMapAndToken: which members a new cluster starts with, and its token. */
export function initialClusterOf(config: Config): InitialCluster {
  if (config.discovery !== "") {
    return {
      kind: "static",
      members: new Map([[config.name, config.initialAdvertisePeerUrls]]),
      token: config.discovery,
    };
  }
  if (config.discoverySrv !== "") {
    return {
      kind: "srv",
      domain: config.discoverySrv,
      serviceName: config.discoverySrvName,
      token: config.initialClusterToken,
    };
  }
  return {
    kind: "static",
    members: parseInitialCluster(config.initialCluster),
    token: config.initialClusterToken,
  };
}

/** --initial-cluster text to member name -> peer URLs. */
export function parseInitialCluster(text: string): Map<string, EtcdUrl[]> {
  try {
    return parseUrlsMap(text);
  } catch (err) {
    if (err instanceof UrlListError)
      throw new ClusterConfigError(`error setting up initial cluster: ${err.message}`);
    throw err;
  }
}

/** Turns a hostname into an address, as Go's net.ResolveTCPAddr does (IPv4 preferred). */
export type HostResolver = (hostname: string) => Promise<string>;

const resolveWithDns: HostResolver = async (hostname) => {
  const found = await lookup(hostname, { family: 4 }).catch(() => lookup(hostname));
  return found.address;
};

export interface ResolveRetry {
  /** Between two tries of a name that did not resolve (etcd: 1 s). */
  readonly intervalMs: number;
  /** How long the whole check may try (etcd: 30 s), from the resolver's creation. */
  readonly timeoutMs: number;
  /** Told of each failed try that will be tried again (etcd logs "failed to resolve URL Host"). */
  readonly onRetry?: (hostname: string, error: Error) => void;
}

/**
 * netutil's resolveURL: at boot, DNS may not serve a member's own name yet (a pod just scheduled), so
 * a name that does not resolve is tried again every second until the check's 30 s are up.
 */
export function retryingResolver(
  retry: ResolveRetry = { intervalMs: 1000, timeoutMs: 30_000 },
  resolve: HostResolver = resolveWithDns,
): HostResolver {
  const deadline = Date.now() + retry.timeoutMs;
  return async (hostname) => {
    for (;;) {
      try {
        return await resolve(hostname);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (Date.now() + retry.intervalMs > deadline) throw error;
        retry.onRetry?.(hostname, error);
        await new Promise((wake) => setTimeout(wake, retry.intervalMs));
      }
    }
  };
}

function goQuoteList(values: readonly string[]): string {
  return `[${values.map((v) => JSON.stringify(v)).join(" ")}]`;
}

async function resolvedHref(u: EtcdUrl, resolve: HostResolver): Promise<string> {
  // etcd's netutil leaves "localhost" as written, like an IP address
  if (u.scheme === "unix" || u.scheme === "unixs" || u.hostname === "localhost" || isIP(u.hostname) !== 0)
    return u.href;
  const address = await resolve(u.hostname);
  const host = isIP(address) === 6 ? `[${address}]` : address;
  return `${u.scheme}://${host}:${u.port}`;
}

/** netutil.URLStringsEqual: equal as text, or equal once hostnames are resolved. */
async function sameUrls(
  a: readonly EtcdUrl[],
  b: readonly EtcdUrl[],
  resolve: HostResolver,
): Promise<{ equal: true } | { equal: false; why: string }> {
  const as = a.map((u) => u.href).sort();
  const bs = b.map((u) => u.href).sort();
  if (as.length !== bs.length)
    return { equal: false, why: `len(${goQuoteList(as)}) != len(${goQuoteList(bs)})` };
  if (as.every((v, i) => v === bs[i])) return { equal: true };
  let ra: string[];
  let rb: string[];
  try {
    ra = (await Promise.all(a.map((u) => resolvedHref(u, resolve)))).sort();
    rb = (await Promise.all(b.map((u) => resolvedHref(u, resolve)))).sort();
  } catch (err) {
    return { equal: false, why: err instanceof Error ? err.message : String(err) };
  }
  for (let i = 0; i < ra.length; i++) {
    if (ra[i] !== rb[i])
      return { equal: false, why: `resolved urls: ${JSON.stringify(ra[i])} != ${JSON.stringify(rb[i])}` };
  }
  return { equal: true };
}

function hasLocalMember(config: BootstrapFields, members: ReadonlyMap<string, EtcdUrl[]>): void {
  if (!members.has(config.name)) {
    throw new ClusterConfigError(
      `couldn't find local name ${JSON.stringify(config.name)} in the initial cluster configuration`,
    );
  }
}

function checkDuplicateUrls(members: ReadonlyMap<string, EtcdUrl[]>): void {
  const seen = new Set<string>();
  for (const urls of members.values()) {
    for (const u of urls) {
      if (seen.has(u.href))
        throw new ClusterConfigError(`initial cluster ${urlsMapText(members)} has duplicate url`);
      seen.add(u.href);
    }
  }
}

async function advertiseMatchesCluster(
  config: BootstrapFields,
  members: ReadonlyMap<string, EtcdUrl[]>,
  resolve: HostResolver,
): Promise<void> {
  const inCluster = members.get(config.name) ?? [];
  const advertised = config.initialAdvertisePeerUrls;
  const same = await sameUrls(advertised, inCluster, resolve);
  if (same.equal) return;
  const advertisedSet = new Set(advertised.map((u) => u.href));
  const clusterSet = new Set(inCluster.map((u) => u.href));
  const apText = advertised
    .map((u) => u.href)
    .sort()
    .join(",");
  const missingFromAdvertised = [...clusterSet].filter((h) => !advertisedSet.has(h));
  if (missingFromAdvertised.length > 0) {
    const m = missingFromAdvertised.map((h) => `${config.name}=${h}`).join(",");
    throw new ClusterConfigError(
      `--initial-cluster has ${m} but missing from --initial-advertise-peer-urls=${apText} (${same.why})`,
    );
  }
  const own = urlsMapText(new Map([[config.name, advertised]]));
  const missingFromCluster = [...advertisedSet].filter((h) => !clusterSet.has(h));
  if (missingFromCluster.length > 0) {
    throw new ClusterConfigError(
      `--initial-advertise-peer-urls has ${missingFromCluster.join(",")} but missing from --initial-cluster=${own}`,
    );
  }
  throw new ClusterConfigError(`failed to resolve ${apText} to match --initial-cluster=${own} (${same.why})`);
}

/**
 * Checks a new member's initial cluster (etcd's VerifyBootstrap for a new cluster, or
 * VerifyJoinExisting with --initial-cluster-state=existing). Throws ClusterConfigError.
 */
export async function verifyInitialCluster(
  config: BootstrapFields,
  members: ReadonlyMap<string, EtcdUrl[]>,
  resolve: HostResolver = retryingResolver(),
): Promise<void> {
  hasLocalMember(config, members);
  if (config.initialClusterState === "existing") {
    checkDuplicateUrls(members);
    if (config.discovery !== "") {
      throw new ClusterConfigError("discovery URL should not be set when joining existing initial cluster");
    }
    return;
  }
  await advertiseMatchesCluster(config, members, resolve);
  checkDuplicateUrls(members);
  if (urlsMapText(members) === "" && config.discovery === "") {
    throw new ClusterConfigError("initial cluster unset and no discovery URL found");
  }
}
