// --listen-metrics-urls: /metrics and /health on listeners of their own, as etcd's metrics mux.
// An https URL uses the client port's certificates (etcd uses the client TLS info), reloaded with them.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { type ClientTls, requiresClientCert } from "../api/index.js";
import type { ClientApi } from "../server/client-api.js";

export interface MetricsListener {
  readonly url: URL;
  setTls(tls: ClientTls): void;
  close(): Promise<void>;
}

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
  const secure = url.protocol === "https:";
  if (secure && !tls)
    throw new Error(`TLS is required for metrics URL ${url.href} but no --cert-file/--key-file was given`);
  const h = handler(api);
  const server: Server =
    secure && tls
      ? createHttpsServer(
          {
            cert: tls.cert,
            key: tls.key,
            ...(tls.trustedCa ? { ca: tls.trustedCa } : {}),
            requestCert: requiresClientCert(tls),
            rejectUnauthorized: requiresClientCert(tls),
            ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
          },
          h,
        )
      : createHttpServer(h);
  // --client-crl-file: a revoked client certificate's connection is closed once the handshake is done
  const revoked = secure ? tls?.revoked : undefined;
  if (revoked) server.prependListener("secureConnection", revoked);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(url.port || (secure ? 443 : 80)), url.hostname.replace(/^\[|\]$/g, ""), () => {
      server.off("error", reject);
      const bound = new URL(url.href);
      bound.port = String((server.address() as AddressInfo).port);
      resolve({
        url: bound,
        setTls: (t) => {
          if (!secure) return;
          (server as TlsServer).setSecureContext({
            cert: t.cert,
            key: t.key,
            ...(t.trustedCa ? { ca: t.trustedCa } : {}),
            ...(t.ciphers ? { ciphers: t.ciphers } : {}),
          });
        },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
  });
}
