// etcd's netutil.URLStringsEqual, which matches a joining member's --initial-cluster against the
// running cluster's members: two URL lists are equal as text, or equal once their host names are
// resolved to addresses. As in etcd 3.4, "localhost" and IP addresses are left as written (so
// http://localhost:2380 and http://127.0.0.1:2380 differ), unix URLs are never resolved, and a
// name that does not resolve is tried again every second until the deadline.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

/** A host name to one address (IPv4 or IPv6), as Go's resolver would answer it. */
export type HostResolver = (hostname: string) => Promise<string>;

/** The system resolver: an IPv4 address when there is one, else any. */
export const resolveWithDns: HostResolver = async (hostname) => {
  const found = await lookup(hostname, { family: 4 }).catch(() => lookup(hostname));
  return found.address;
};

export interface ResolveOptions {
  resolve?: HostResolver;
  /**
   * When resolving gives up (Date.now() scale). etcd gives one whole validation 30 s: share one
   * deadline across the comparisons of a validation (see resolveDeadline).
   */
  deadlineAt?: number;
  /** Pause between tries of a name that does not resolve (etcd: 1 s). */
  retryMs?: number;
}

/** etcd's 30 s for resolving the URLs of one validation. */
export function resolveDeadline(now = Date.now()): number {
  return now + 30_000;
}

export type UrlsEqual = { equal: true } | { equal: false; why: string };

const DEFAULT_RETRY_MS = 1_000;

const goQuotedList = (l: readonly string[]) => `[${l.map((s) => JSON.stringify(s)).join(" ")}]`;

/** Go's resolver error texts for the common failures, so the message reads as etcd's. */
function resolverError(hostname: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOTFOUND" || code === "EAI_NONAME") return `lookup ${hostname}: no such host`;
  return err instanceof Error ? err.message : String(err);
}

/** "host:port" of a URL, or undefined when it has no port (Go's SplitHostPort then fails). */
function splitHost(u: URL): { hostname: string; port: string } | undefined {
  if (u.port === "") return undefined;
  return { hostname: u.hostname.replace(/^\[|\]$/g, ""), port: u.port };
}

/** One URL with its host replaced by the address it resolves to (etcd's resolveURL). */
async function resolveUrl(raw: string, opts: Required<ResolveOptions>): Promise<string> {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`failed to parse string to URL: ${JSON.stringify(raw)}`);
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (scheme === "unix" || scheme === "unixs") return raw;
  const hp = splitHost(u);
  if (hp === undefined)
    throw new Error(`failed to resolve ${JSON.stringify(raw)} (address ${u.host}: missing port in address)`);
  if (hp.hostname === "localhost" || isIP(hp.hostname) !== 0) return raw;
  let last: unknown = new Error("context deadline exceeded");
  while (Date.now() < opts.deadlineAt) {
    try {
      const address = await opts.resolve(hp.hostname);
      const host = isIP(address) === 6 ? `[${address}]` : address;
      return `${scheme}://${host}:${hp.port}`;
    } catch (err) {
      last = err;
      if (Date.now() + opts.retryMs >= opts.deadlineAt) break;
      await new Promise((r) => setTimeout(r, opts.retryMs));
    }
  }
  throw new Error(`failed to resolve ${JSON.stringify(raw)} (${resolverError(hp.hostname, last)})`);
}

/** netutil.URLStringsEqual: equal, or why not in etcd's words. */
export async function urlStringsEqual(
  a: readonly string[],
  b: readonly string[],
  options: ResolveOptions = {},
): Promise<UrlsEqual> {
  if (a.length !== b.length)
    return { equal: false, why: `len(${goQuotedList(a)}) != len(${goQuotedList(b)})` };
  const as = [...a].sort();
  const bs = [...b].sort();
  if (as.every((v, i) => v === bs[i])) return { equal: true };
  const opts: Required<ResolveOptions> = {
    resolve: options.resolve ?? resolveWithDns,
    deadlineAt: options.deadlineAt ?? resolveDeadline(),
    retryMs: options.retryMs ?? DEFAULT_RETRY_MS,
  };
  let ra: string[];
  let rb: string[];
  try {
    ra = (await Promise.all(as.map((u) => resolveUrl(u, opts)))).sort();
    rb = (await Promise.all(bs.map((u) => resolveUrl(u, opts)))).sort();
  } catch (err) {
    return { equal: false, why: err instanceof Error ? err.message : String(err) };
  }
  for (let i = 0; i < ra.length; i++) {
    if (ra[i] !== rb[i])
      return { equal: false, why: `resolved urls: ${JSON.stringify(ra[i])} != ${JSON.stringify(rb[i])}` };
  }
  return { equal: true };
}
