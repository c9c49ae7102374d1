// --listen-metrics-urls: /metrics and /health on listeners of their own, as etcd's metrics mux.
// An https URL uses the client port's certificates (etcd uses the client TLS info), reloaded with them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClientTls } from "../api/index.js";
import type { ClientApi } from "../server/client-api.js";
import { listenSide, type SideListener } from "./side-listener.js";

export type MetricsListener = SideListener;

function handler(api: ClientApi) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://metrics.invalid").pathname;
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    };
    if (path === "/metrics") {
      api.metrics.metrics().then(
        (text) => reply(200, api.metrics.contentType, text),
        (err: unknown) => reply(500, "text/plain; charset=utf-8", `${String(err)}\n`),
      );
      return;
    }
    if (path === "/health") {
      if (req.method !== "GET") {
        res.setHeader("Allow", "GET");
        return reply(405, "text/plain; charset=utf-8", "Method Not Allowed\n");
      }
      api.health().then(
        (h) => reply(h.health ? 200 : 503, "text/plain; charset=utf-8", `{"health":"${h.health}"}`),
        () => reply(503, "text/plain; charset=utf-8", '{"health":"false"}'),
      );
      return;
    }
    reply(404, "text/plain; charset=utf-8", "404 page not found\n");
  };
}

/** Listens on one metrics URL (port 0 picks a free port). */
export function listenMetrics(
  url: URL,
  api: ClientApi,
  tls: ClientTls | undefined,
): Promise<MetricsListener> {
  return listenSide("metrics URL", url, tls, handler(api));
}
