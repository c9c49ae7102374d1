// URL lists as etcd reads them: comma-separated, each one scheme://host:port with no path,
// sorted by their text. The checks and error texts follow etcd's types.NewURLs and the parts
// of Go's url.Parse it relies on.

import type { EtcdUrl, UrlScheme } from "./codec.js";

export class UrlListError extends Error {}

const SCHEMES: ReadonlySet<string> = new Set(["http", "https", "unix", "unixs"]);

function parseFailure(raw: string, why: string): UrlListError {
  return new UrlListError(`parse ${JSON.stringify(raw)}: ${why}`);
}

/** net.SplitHostPort: "host:port" or "[v6]:port"; the port may be empty. */
export function splitHostPort(hostport: string): { host: string; port: string } | undefined {
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    if (end < 0) return undefined;
    if (hostport[end + 1] !== ":") return undefined;
    const port = hostport.slice(end + 2);
    if (port.includes(":") || port.includes("[") || port.includes("]")) return undefined;
    return { host: hostport.slice(1, end), port };
  }
  const colon = hostport.lastIndexOf(":");
  if (colon < 0) return undefined;
  const host = hostport.slice(0, colon);
  if (host.includes(":") || host.includes("[") || host.includes("]")) return undefined;
  const port = hostport.slice(colon + 1);
  if (port.includes("[") || port.includes("]")) return undefined;
  return { host, port };
}

/** One URL of a list, with etcd's checks. The input is trimmed first, as etcd does. */
export function parseEtcdUrl(input: string): EtcdUrl {
  const raw = input.trim();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Go rejects control characters in URLs
  if (/[\x00-\x1f\x7f]/.test(raw)) throw parseFailure(raw, "net/url: invalid control character in URL");
  let scheme = "";
  let rest = raw;
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw);
  if (schemeMatch) {
    scheme = schemeMatch[1].toLowerCase();
    rest = raw.slice(schemeMatch[0].length);
  } else if (raw.startsWith(":")) {
    throw parseFailure(raw, "missing protocol scheme");
  } else {
    const firstSegment = raw.split("/")[0];
    if (firstSegment.includes(":")) throw parseFailure(raw, "first path segment in URL cannot contain colon");
  }
  if (!SCHEMES.has(scheme)) throw new UrlListError(`URL scheme must be http, https, unix, or unixs: ${raw}`);

  let fragment = "";
  const hash = rest.indexOf("#");
  if (hash >= 0) {
    fragment = rest.slice(hash);
    rest = rest.slice(0, hash);
  }
  let query = "";
  const question = rest.indexOf("?");
  if (question >= 0) {
    query = rest.slice(question);
    rest = rest.slice(0, question);
  }
  let authority = "";
  let path = rest;
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    path = slash < 0 ? "" : rest.slice(slash);
  }
  const at = authority.lastIndexOf("@");
  const userinfo = at >= 0 ? authority.slice(0, at + 1) : "";
  const hostport = at >= 0 ? authority.slice(at + 1) : authority;
  if (hostport.startsWith("[")) {
    const end = hostport.indexOf("]");
    if (end < 0) throw parseFailure(raw, "missing ']' in host");
    const after = hostport.slice(end + 1);
    if (after !== "" && !/^:[0-9]*$/.test(after)) {
      throw parseFailure(raw, `invalid port ${JSON.stringify(after)} after host`);
    }
  } else {
    const colon = hostport.lastIndexOf(":");
    if (colon >= 0) {
      const port = hostport.slice(colon);
      if (!/^:[0-9]*$/.test(port)) throw parseFailure(raw, `invalid port ${JSON.stringify(port)} after host`);
    }
  }
  // url.Parse refuses a host with an ASCII character it would have to escape
  const badHostChar = /[^A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"\x80-\uffff]/.exec(hostport);
  if (badHostChar)
    throw parseFailure(raw, `invalid character ${JSON.stringify(badHostChar[0])} in host name`);
  const parts = splitHostPort(hostport);
  if (!parts) throw new UrlListError(`URL address does not have the form "host:port": ${raw}`);
  if (path !== "") throw new UrlListError(`URL must not contain a path: ${raw}`);
  return {
    scheme: scheme as UrlScheme,
    host: hostport,
    hostname: parts.host,
    port: parts.port,
    href: `${scheme}://${userinfo}${hostport}${query}${fragment}`,
  };
}

/** types.NewURLs over a comma-separated list: every element checked, the result sorted by text. */
export function parseUrlList(list: string): EtcdUrl[] {
  const urls = list.split(",").map(parseEtcdUrl);
  return urls.sort((a, b) => (a.href < b.href ? -1 : a.href > b.href ? 1 : 0));
}

export function urlListText(urls: readonly EtcdUrl[]): string {
  return urls.map((u) => u.href).join(",");
}

/**
 * types.NewURLsMap: "name=url,name=url2,other=url3" to name -> sorted URLs. Empty items are
 * skipped; an item without "=" names a member with an empty URL, which then fails the URL checks.
 */
export function parseUrlsMap(text: string): Map<string, EtcdUrl[]> {
  const grouped = new Map<string, string[]>();
  for (const item of text.split(",")) {
    if (item === "") continue;
    const eq = item.indexOf("=");
    const name = eq >= 0 ? item.slice(0, eq) : item;
    const value = eq >= 0 ? item.slice(eq + 1) : "";
    const list = grouped.get(name) ?? [];
    list.push(value);
    grouped.set(name, list);
  }
  const result = new Map<string, EtcdUrl[]>();
  for (const [name, values] of grouped) result.set(name, parseUrlList(values.join(",")));
  return result;
}

/** URLsMap.String: "name=url" pairs sorted as text. */
export function urlsMapText(map: ReadonlyMap<string, readonly EtcdUrl[]>): string {
  const pairs: string[] = [];
  for (const [name, urls] of map) for (const u of urls) pairs.push(`${name}=${u.href}`);
  return pairs.sort().join(",");
}
