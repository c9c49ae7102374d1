// A listener of its own beside the client port (--listen-metrics-urls, --listen-feed-urls): plain HTTP,
// or HTTPS with the client port's certificates, reloaded with them; --client-crl-file applies as on the
// client port.
import { createServer as createHttpServer, type RequestListener } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Server, Socket } from "node:net";
import type { Server as TlsServer } from "node:tls";
import { type ClientTls, requiresClientCert } from "../api/index.js";

export interface SideListener {
  readonly url: URL;
  setTls(tls: ClientTls): void;
  close(): Promise<void>;
}

/**
 * Listens on `url` (port 0 picks a free port) and serves `handle`; `attach` sees the server before it
 * listens (socket.io hooks its upgrades there). `what` names the listener in errors ("metrics URL").
 */
export function listenSide(
  what: string,
  url: URL,
  tls: ClientTls | undefined,
  handle: RequestListener,
  attach?: (server: ReturnType<typeof createHttpServer>) => void,
): Promise<SideListener> {
  const secure = url.protocol === "https:";
  if (secure && !tls)
    throw new Error(`TLS is required for ${what} ${url.href} but no --cert-file/--key-file was given`);
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
          handle,
        )
      : createHttpServer(handle);
  const revoked = secure ? tls?.revoked : undefined;
  if (revoked) server.prependListener("secureConnection", revoked);
  attach?.(server as ReturnType<typeof createHttpServer>);
  // every connection is ended on close, upgraded ones (WebSockets) included: they are no longer the
  // HTTP server's, so its own closeAllConnections would leave them open
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
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}
