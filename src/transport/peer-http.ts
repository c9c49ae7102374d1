import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { ETCD_VERSION } from "../config/defaults.js";
import type { Member } from "../membership/cluster.js";
import { formatId } from "../membership/ids.js";
import { encodeMemberListJson } from "../membership/member-json.js";

export interface PeerHttpDeps {
  clusterId: () => bigint;
  members: () => Member[];
}

/**
 * The peer listener's `/version` and `/members` for a member without a Transport (a single member
 * before the server wires one in); Transport.handler serves every peer endpoint.
 */
export function peerHandler(deps: PeerHttpDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end("Method Not Allowed\n");
      return;
    }
    if (path === "/version") {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ etcdserver: ETCD_VERSION, etcdcluster: "3.4.0" }));
      return;
    }
    if (path === "/members") {
      const body = encodeMemberListJson(
        deps.members().map((m) => ({
          id: m.id,
          peerURLs: m.peerUrls,
          ...(m.isLearner ? { isLearner: true } : {}),
          name: m.name,
          clientURLs: m.clientUrls,
        })),
      );
      res.writeHead(200, {
        "Content-Type": "application/json",
        "X-Etcd-Cluster-ID": formatId(deps.clusterId()),
      });
      res.end(`${body}\n`);
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
    res.end("404 page not found\n");
  };
}

export interface Listening {
  readonly url: URL;
  close(): Promise<void>;
}

/** Server certificate (and client CAs) of an https listener. */
export interface ListenTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  /** Ask for and verify client certificates (peer client-cert-auth). */
  requestCert?: boolean;
  /**
   * Called once a handshake is done (--peer-crl-file): closes the connection and answers true when the
   * peer's certificate is revoked.
   */
  revoked?: (socket: TLSSocket) => boolean;
}

/**
 * Listens on one http(s) URL (port 0 picks a free port) with the given handler. Requests have no
 * overall time limit: peer streams and snapshot uploads last as long as they need.
 */
export function listenHttp(
  url: URL,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  tls?: ListenTls,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server: Server =
      url.protocol === "https:" && tls
        ? createTlsServer(
            {
              cert: tls.cert,
              key: tls.key,
              ...(tls.ca ? { ca: tls.ca } : {}),
              requestCert: tls.requestCert ?? false,
              rejectUnauthorized: tls.requestCert ?? false,
            },
            handler,
          )
        : createServer(handler);
    if (url.protocol === "https:" && tls?.revoked) server.prependListener("secureConnection", tls.revoked);
    server.requestTimeout = 0;
    server.once("error", reject);
    server.listen(Number(url.port || 80), url.hostname.replace(/^\[|\]$/g, ""), () => {
      server.off("error", reject);
      const bound = new URL(url.href);
      bound.port = String((server.address() as AddressInfo).port);
      resolve({
        url: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
