import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ETCD_VERSION } from "../config/defaults.js";
import type { Member } from "../membership/cluster.js";
import { formatId } from "../membership/ids.js";

export interface PeerHttpDeps {
  clusterId: () => bigint;
  members: () => Member[];
}

/**
 * The peer listener's HTTP endpoints that do not carry raft traffic: `/version` and `/members`,
 * which joining members and tools read. Raft message streams are not served yet.
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
      const body = deps.members().map((m) => ({
        id: formatId(m.id),
        name: m.name,
        peerURLs: m.peerUrls,
        clientURLs: m.clientUrls,
      }));
      res.writeHead(200, {
        "Content-Type": "application/json",
        "X-Etcd-Cluster-ID": formatId(deps.clusterId()),
      });
      res.end(JSON.stringify(body));
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

/** Listens on one http URL (port 0 picks a free port) with the given handler. */
export function listenHttp(
  url: URL,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server: Server = createServer(handler);
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
