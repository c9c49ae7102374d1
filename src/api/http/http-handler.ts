// Everything HTTP/1.1 on the client port, routed as etcd 3.4 does: the /v3beta -> /v3 rewrite,
// CORS headers (default --cors "*"), Go's path cleaning (301), the gateway under /v3/, and the
// plain endpoints /health, /version, /metrics, /debug/vars, /config/local/log.
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { posix } from "node:path";
import type { Counter } from "prom-client";
import promClient from "prom-client";
import type { ClientApi } from "../../server/client-api.js";
import type { GatewayHandler } from "../gateway/gateway.js";
import { plainError } from "../gateway/http-replies.js";
import type { HttpExtension } from "./http-extension.js";

/** The server version /version reports; gateway clients pick the /v3/ prefix from a 3.4 server version. */
export const SERVER_VERSION = "3.4.23";

/** Go's ServeMux path cleaning: one slash between elements, no "." or "..", trailing slash kept. */
function cleanPath(path: string): string {
  if (path === "") return "/";
  let cleaned = posix.normalize(path.startsWith("/") ? path : `/${path}`);
  if (path.endsWith("/") && cleaned !== "/" && !cleaned.endsWith("/")) cleaned += "/";
  return cleaned;
}

function healthCounters(api: ClientApi): { success: Counter; failures: Counter } {
  const get = (name: string, help: string): Counter => {
    const existing = api.metrics.getSingleMetric(name);
    if (existing) return existing as Counter;
    return new promClient.Counter({ name, help, registers: [api.metrics] });
  };
  return {
    success: get("etcd_server_health_success", "The total number of successful health checks"),
    failures: get("etcd_server_health_failures", "The total number of failed health checks"),
  };
}

export function createHttpHandler(
  api: ClientApi,
  gateway: GatewayHandler,
  extensions: readonly HttpExtension[] = [],
): RequestListener {
  const counters = healthCounters(api);
  const allow = (req: IncomingMessage, res: ServerResponse, method: string): boolean => {
    if (req.method === method) return true;
    res.setHeader("Allow", method);
    plainError(res, 405, "Method Not Allowed");
    return false;
  };

  const health = async (req: IncomingMessage, res: ServerResponse) => {
    if (!allow(req, res, "GET")) return;
    let healthy = false;
    try {
      healthy = (await api.health()).health;
    } catch {
      healthy = false;
    }
    (healthy ? counters.success : counters.failures).inc();
    if (!healthy) return plainError(res, 503, '{"health":"false"}');
    const body = '{"health":"true"}';
    res.writeHead(200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
    });
    res.end(body);
  };

  const version = (req: IncomingMessage, res: ServerResponse) => {
    if (!allow(req, res, "GET")) return;
    // as etcd: the cluster version once the members decided it, "not_decided" before
    const body = JSON.stringify({
      etcdserver: SERVER_VERSION,
      etcdcluster: api.clusterVersion() ?? "not_decided",
    });
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  };

  const metrics = async (_req: IncomingMessage, res: ServerResponse) => {
    const body = await api.metrics.metrics();
    res.writeHead(200, {
      "Content-Type": api.metrics.contentType,
      "Content-Length": Buffer.byteLength(body),
    });
    res.end(body);
  };

  const debugVars = (req: IncomingMessage, res: ServerResponse) => {
    if (!allow(req, res, "GET")) return;
    const body = `{\n"cmdline": ${JSON.stringify(process.argv)},\n"memstats": ${JSON.stringify(process.memoryUsage())}\n}\n`;
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8" });
    res.end(body);
  };

  // 3.4 still answers the old log-level endpoint; only PUT is allowed and the level is not kept.
  const logLevel = (req: IncomingMessage, res: ServerResponse) => {
    if (!allow(req, res, "PUT")) return;
    req.resume();
    req.on("end", () => {
      res.writeHead(204);
      res.end();
    });
  };

  return (req, res) => {
    for (const ext of extensions) if (ext.handle(req, res)) return;
    const url = new URL(req.url ?? "/", "http://client.invalid");
    let path = url.pathname;
    if (path.startsWith("/v3beta/")) path = `/v3/${path.slice("/v3beta/".length)}`;

    res.setHeader("Access-Control-Allow-Headers", "accept, content-type, authorization");
    res.setHeader("Access-Control-Allow-Methods", "POST, GET, OPTIONS, PUT, DELETE");
    res.setHeader("Access-Control-Allow-Origin", "*");
    if (req.method === "OPTIONS") {
      res.writeHead(200, { "Content-Length": 0 });
      res.end();
      return;
    }

    const clean = cleanPath(path);
    if (clean !== path) {
      res.writeHead(301, { Location: clean + url.search, "Content-Length": 0 });
      res.end();
      return;
    }

    const fail = (err: unknown) => {
      if (!res.headersSent) plainError(res, 500, err instanceof Error ? err.message : String(err));
      else res.destroy();
    };
    if (path.startsWith("/v3/")) return gateway(req, res, path);
    switch (path) {
      case "/health":
        return void health(req, res).catch(fail);
      case "/version":
        return version(req, res);
      case "/metrics":
        return void metrics(req, res).catch(fail);
      case "/debug/vars":
        return debugVars(req, res);
      case "/config/local/log":
        return logLevel(req, res);
      default:
        return plainError(res, 404, "404 page not found");
    }
  };
}
