// What a proxy listener serves, in etcd's order: Go's path cleaning (301), /metrics of the proxy
// itself, then for everything else the read-only check (--proxy readonly answers 501 to all but
// GET), the CORS headers, the proxy's /v2/config/local/proxy and the reverse proxy.
import type { IncomingMessage, ServerResponse } from "node:http";
import { posix } from "node:path";
import { type Director, endpointText } from "./director.js";
import type { ProxyMetrics } from "./metrics.js";

export interface ProxyHandlerDeps {
  readonly: boolean;
  /** Allowed CORS origins; "*" (or none) allows all. */
  cors: readonly string[];
  director: Director;
  metrics: ProxyMetrics;
  forward: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

/** Go's ServeMux cleanPath: one slash between elements, no "." or "..", a trailing slash kept. */
function cleanPath(path: string): string {
  if (path === "") return "/";
  let cleaned = posix.normalize(path.startsWith("/") ? path : `/${path}`);
  if (path.endsWith("/") && cleaned !== "/" && !cleaned.endsWith("/")) cleaned += "/";
  return cleaned;
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&#34;",
  "'": "&#39;",
};

/** Go's htmlEscape of a redirect's link. */
function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** Go's http.Redirect with 301, as ServeMux answers a path that is not clean. */
function movedPermanently(req: IncomingMessage, res: ServerResponse, location: string): void {
  res.setHeader("Location", location);
  if (req.method === "GET" || req.method === "HEAD")
    res.setHeader("Content-Type", "text/html; charset=utf-8");
  const body = req.method === "GET" ? `<a href="${htmlEscape(location)}">Moved Permanently</a>.\n\n` : "";
  res.writeHead(301, { "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function plain(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function allowedOrigin(cors: readonly string[], origin: string | undefined): string | undefined {
  if (cors.length === 0 || cors.includes("*")) return "*";
  return origin !== undefined && cors.includes(origin) ? origin : undefined;
}

export function proxyHandler(deps: ProxyHandlerDeps) {
  const fail = (res: ServerResponse) => (err: unknown) => {
    if (res.headersSent) res.destroy();
    else plain(res, 500, `${err instanceof Error ? err.message : String(err)}\n`);
  };

  const metrics = (res: ServerResponse) =>
    deps.metrics.registry
      .metrics()
      .then(
        (text) => plain(res, 200, text, { "Content-Type": deps.metrics.registry.contentType }),
        fail(res),
      );

  const localConfig = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET") return plain(res, 405, "Method Not Allowed\n", { Allow: "GET" });
    const endpoints = deps.director.endpoints().map((e) => endpointText(e.url));
    // json.Encoder's document and newline; Go sniffs it as text
    plain(res, 200, `${JSON.stringify({ endpoints })}\n`);
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    const raw = req.url ?? "/";
    const q = raw.indexOf("?");
    const path = q < 0 ? raw : raw.slice(0, q);
    const clean = cleanPath(path);
    if (req.method !== "CONNECT" && clean !== path) {
      movedPermanently(req, res, clean + (q < 0 ? "" : raw.slice(q)));
      return;
    }
    if (clean === "/metrics") return void metrics(res);

    if (deps.readonly && req.method !== "GET") {
      req.resume();
      res.writeHead(501, { "Content-Length": 0 });
      res.end();
      return;
    }
    const origin = allowedOrigin(deps.cors, req.headers.origin);
    if (origin !== undefined) {
      res.appendHeader("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE");
      res.appendHeader("Access-Control-Allow-Origin", origin);
      res.appendHeader("Access-Control-Allow-Headers", "accept, content-type, authorization");
    }
    if (req.method === "OPTIONS") {
      req.resume();
      res.writeHead(200, { "Content-Length": 0 });
      res.end();
      return;
    }
    if (clean === "/v2/config/local/proxy") {
      localConfig(req, res);
      return;
    }
    deps.forward(req, res).catch(fail(res));
  };
}
