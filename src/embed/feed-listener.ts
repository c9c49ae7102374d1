// --listen-feed-urls: the event feed (/socket.io) and the dashboard (/dashboard) on listeners of their
// own, so observers can be kept off the client port (another interface, another firewall rule). An https
// URL uses the client port's certificates, reloaded with them; with --client-cert-auth the feed reads
// the user from the client certificate as it does on the client port.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server, Socket } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { type ClientTls, type HttpExtension, requiresClientCert } from "../api/index.js";

export interface FeedListener {
  readonly url: URL;
  setTls(tls: ClientTls): void;
  close(): Promise<void>;
}

const NOT_HERE =
  "404 page not found: this listener serves only the event feed (/socket.io/) and the dashboard (/dashboard)\n";

function handler(extensions: readonly HttpExtension[]) {
  return (req: IncomingMessage, res: ServerResponse) => {
    for (const ext of extensions) if (ext.handle(req, res)) return;
    res.writeHead(404, {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(NOT_HERE),
    });
    res.end(NOT_HERE);
  };
}

/** Listens on one feed URL (port 0 picks a free port) and serves `extensions` there. */
export function listenFeed(
  url: URL,
  extensions: readonly HttpExtension[],
  tls: ClientTls | undefined,
): Promise<FeedListener> {
  const secure = url.protocol === "https:";
  if (url.protocol !== "http:" && !secure)
    throw new Error(`--listen-feed-urls ${url.href}: only http and https URLs are served`);
  if (secure && !tls)
    throw new Error(`TLS is required for feed URL ${url.href} but no --cert-file/--key-file was given`);
  const h = handler(extensions);
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
  for (const ext of extensions) ext.attach?.(server as ReturnType<typeof createHttpServer>);
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
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
            // upgraded WebSockets are no longer the HTTP server's: end them too
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
