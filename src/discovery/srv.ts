// --discovery-srv: the initial cluster from DNS SRV records (etcd's pkg/srv GetCluster and embed's
// GetDNSClusterNames). Each record of _etcd-server-ssl[-name]._tcp.<domain> (https) and
// _etcd-server[-name]._tcp.<domain> (http) is one member at target:port; the record whose address is
// one of this member's advertised peer URLs is this member, the others are named 0, 1, ...
import { promises as dns } from "node:dns";
import type { Logger } from "pino";

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** The DNS questions SRV discovery asks; injectable (tests point it at their own server). */
export interface SrvResolver {
  /** The SRV records of a full name (_service._tcp.domain). */
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /** A host name's address, as Go's net.ResolveTCPAddr finds it (IPv4 preferred). */
  lookupHost(host: string): Promise<string>;
}

/** The first DNS server as Go names it in its errors ("10.0.0.53:53"). */
function firstServer(resolver: Pick<InstanceType<typeof dns.Resolver>, "getServers">): string | undefined {
  const s = resolver.getServers()[0];
  if (s === undefined) return undefined;
  if (s.startsWith("[") || /^[^:]+:\d+$/.test(s)) return s;
  return s.includes(":") ? `[${s}]:53` : `${s}:53`;
}

/** A failed DNS question in Go's words: "lookup <name> on <server>: no such host". */
function goDnsError(err: unknown, name: string, server: string | undefined): Error {
  const e = err as NodeJS.ErrnoException;
  const on = server ? ` on ${server}` : "";
  if (e.code === "ENOTFOUND" || e.code === "ENODATA" || e.code === "EAI_NONAME")
    return new Error(`lookup ${name}${on}: no such host`);
  if (e.code === "ETIMEOUT") return new Error(`lookup ${name}${on}: i/o timeout`);
  return e instanceof Error ? e : new Error(String(err));
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The system's resolver, or a dns.promises.Resolver given (its servers set by the caller). */
export function dnsSrvResolver(resolver?: InstanceType<typeof dns.Resolver>): SrvResolver {
  const server = () => firstServer(resolver ?? dns);
  return {
    resolveSrv: (name) =>
      (resolver ?? dns).resolveSrv(name).catch((err: unknown) => {
        throw goDnsError(err, name, server());
      }),
    lookupHost: async (host) => {
      try {
        if (resolver) {
          const v4 = await resolver.resolve4(host).catch(() => [] as string[]);
          if (v4.length > 0) return v4[0];
          const v6 = await resolver.resolve6(host);
          return v6[0];
        }
        const found = await dns.lookup(host, { family: 4 }).catch(() => dns.lookup(host));
        return found.address;
      } catch (err) {
        throw goDnsError(err, host, server());
      }
    },
  };
}

/** Go's net.JoinHostPort. */
function joinHostPort(host: string, port: string | number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function splitUrlHost(u: URL): { host: string; port: string } {
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  return { host: u.hostname.replace(/^\[|\]$/g, ""), port };
}

/** RFC 2782's weighted pick, as Go's shuffleByWeight: heavier records tend to come first. */
function shuffleByWeight(records: SrvRecord[], random: () => number): SrvRecord[] {
  const rest = [...records];
  const out: SrvRecord[] = [];
  let sum = rest.reduce((n, r) => n + r.weight, 0);
  while (sum > 0 && rest.length > 1) {
    const pick = Math.floor(random() * sum);
    let running = 0;
    let chosen = 0;
    for (let i = 0; i < rest.length; i++) {
      running += rest[i].weight;
      if (running > pick) {
        chosen = i;
        break;
      }
    }
    [rest[0], rest[chosen]] = [rest[chosen], rest[0]];
    const first = rest.shift() as SrvRecord;
    sum -= first.weight;
    out.push(first);
  }
  return [...out, ...rest];
}

/** Go's LookupSRV order: by priority, and within one priority shuffled by weight. */
export function srvOrder(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const sorted = [...records].sort((a, b) => a.priority - b.priority || a.weight - b.weight);
  const out: SrvRecord[] = [];
  let start = 0;
  for (let j = 1; j <= sorted.length; j++) {
    if (j === sorted.length || sorted[j].priority !== sorted[start].priority) {
      out.push(...shuffleByWeight(sorted.slice(start, j), random));
      start = j;
    }
  }
  return out;
}

/**
 * pkg/srv GetCluster: "name=scheme://target:port" for each SRV record of _<service>._tcp.<domain>; this
 * member's record (same address as one of its advertised peer URLs) carries its name.
 */
export async function srvCluster(
  scheme: "http" | "https",
  service: string,
  name: string,
  domain: string,
  advertisePeerUrls: readonly string[],
  resolver: SrvResolver,
): Promise<string[]> {
  const byAddress = new Map<string, URL>();
  for (const raw of advertisePeerUrls) {
    const u = new URL(raw);
    const { host, port } = splitUrlHost(u);
    const address = await resolver.lookupHost(host);
    byAddress.set(joinHostPort(address, port), u);
  }
  const fullName = `_${service}._tcp.${domain}`;
  let records: SrvRecord[];
  try {
    records = srvOrder(await resolver.resolveSrv(fullName));
  } catch (err) {
    throw new Error(`error querying DNS SRV records for _${service} ${messageOf(err)}`);
  }
  const parts: string[] = [];
  let lastError: string | undefined;
  let tempName = 0;
  for (const srv of records) {
    const target = srv.name;
    let address: string;
    try {
      address = joinHostPort(await resolver.lookupHost(target.replace(/\.$/, "")), srv.port);
    } catch (err) {
      lastError = messageOf(err);
      continue;
    }
    const own = byAddress.get(address);
    const memberName = own ? name : String(tempName++);
    // SRV targets end with a dot, URLs do not
    const urlHost = joinHostPort(target.replace(/\.$/, ""), srv.port);
    if (own && own.protocol !== `${scheme}:`) {
      lastError = `bootstrap at ${scheme}://${urlHost} from DNS for ${service} has scheme mismatch with expected peer ${own.href.replace(/\/$/, "")}`;
    } else {
      parts.push(`${memberName}=${scheme}://${urlHost}`);
    }
  }
  if (parts.length === 0 && lastError !== undefined)
    throw new Error(`error querying DNS SRV records for _${service} ${lastError}`);
  return parts;
}

export interface SrvDiscoveryOptions {
  /** --discovery-srv */
  domain: string;
  /** --discovery-srv-name: a suffix of the service names. */
  serviceName: string;
  /** --name */
  name: string;
  /** --initial-advertise-peer-urls */
  advertisePeerUrls: readonly string[];
  resolver?: SrvResolver;
  logger?: Pick<Logger, "info" | "warn">;
}

/**
 * GetDNSClusterNames: the members from both services, https first. etcd 3.4.23 drops the http records
 * (it appends them only when their lookup failed); here they count, as etcd documents the flag. Fails
 * with the https lookup's error when neither service has a usable record.
 */
export async function srvClusterNames(opts: SrvDiscoveryOptions): Promise<string[]> {
  const resolver = opts.resolver ?? dnsSrvResolver();
  const suffix = opts.serviceName !== "" ? `-${opts.serviceName}` : "";
  const fields = (scheme: string, service: string) => ({
    "service-scheme": scheme,
    "service-name": service,
    "server-name": opts.name,
    "discovery-srv": opts.domain,
    "advertise-peer-urls": opts.advertisePeerUrls,
  });
  const attempt = async (scheme: "http" | "https", service: string) => {
    try {
      return {
        found: await srvCluster(scheme, service, opts.name, opts.domain, opts.advertisePeerUrls, resolver),
      };
    } catch (err) {
      return { found: [] as string[], error: err as Error };
    }
  };
  const https = await attempt("https", `etcd-server-ssl${suffix}`);
  opts.logger?.info(
    {
      ...fields("https", `etcd-server-ssl${suffix}`),
      "found-cluster": https.found,
      error: https.error?.message,
    },
    "get cluster for etcd-server-ssl SRV",
  );
  const http = await attempt("http", `etcd-server${suffix}`);
  const all = [...https.found, ...http.found];
  opts.logger?.info(
    { ...fields("http", `etcd-server${suffix}`), "found-cluster": all, error: http.error?.message },
    "get cluster for etcd-server SRV",
  );
  if (all.length === 0) throw https.error ?? http.error ?? new Error(`no SRV records for ${opts.domain}`);
  return all;
}
