// --listen-feed-urls: the event feed (/socket.io) and the dashboard (/dashboard) on listeners of their
// own, so observers can be kept off the client port (another interface, another firewall rule). An https
// URL uses the client port's certificates, reloaded with them; with --client-cert-auth the feed reads
// the user from the client certificate as it does on the client port.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ClientTls, HttpExtension } from "../api/index.js";
import { listenSide, type SideListener } from "./side-listener.js";

export type FeedListener = SideListener;

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
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new Error(`--listen-feed-urls ${url.href}: only http and https URLs are served`);
  return listenSide("feed URL", url, tls, handler(extensions), (server) => {
    for (const ext of extensions) ext.attach?.(server);
  });
}
