// The gateway over WebSocket, as etcd 3.4 serves it (its /v3/ paths are wrapped in
// tmc/grpc-websocket-proxy): an upgrade on a /v3/ path becomes a POST to the same path on the
// gateway; every WebSocket message is one line of the request body (a newline added), and every
// non-empty line of the answer is sent back as one text message. The answer's status and headers are
// not sent; when the answer ends, the connection is closed, as the proxy closes it (no close frame).
// `Sec-WebSocket-Protocol: Bearer, <token>` is the way a browser passes a token: it becomes
// `Authorization: Bearer <token>`, and "Bearer" is echoed as the chosen protocol. A "token" cookie
// does the same. Of the other headers only Origin and Referer are passed on.
//
// The POST is served by the port's own HTTP server over an in-memory connection, so it is the same
// gateway answering, down to the shutdown line ("transport is closing") of an open watch.
import { type Server as HttpServer, request as httpRequest, type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type * as Ws from "ws";
import { settledWithin } from "./open-streams.js";

const requireHere = createRequire(import.meta.url);

/** Gateway paths whose requests are a stream of messages (Watch, LeaseKeepAlive). */
const BIDIRECTIONAL_PATHS = new Set(["/v3/watch", "/v3/lease/keepalive"]);

/** Two ends of an in-memory connection: what one writes, the other reads. */
function connectionPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const end = (peer: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        peer().push(chunk);
        callback();
      },
      final(callback) {
        peer().push(null);
        callback();
      },
      destroy(err, callback) {
        const other = peer();
        if (!other.destroyed) other.destroy();
        callback(err);
      },
    });
  ends.push(
    end(() => ends[1]),
    end(() => ends[0]),
  );
  return [ends[0], ends[1]];
}

/** The proxy's reading of Sec-WebSocket-Protocol: what follows "Bearer," is the token. */
function bearerFromProtocols(header: string): string | undefined {
  const i = header.indexOf("Bearer,");
  if (i < 0) return undefined;
  return `Bearer ${header.slice(i + "Bearer,".length).trim()}`;
}

function tokenCookie(cookie: string | undefined): string | undefined {
  for (const part of cookie?.split(";") ?? []) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === "token") return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The headers of the gateway request made for an upgrade. */
function proxiedHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = { host: req.headers.host ?? "localhost" };
  const protocols = req.headers["sec-websocket-protocol"];
  if (protocols) {
    const auth = bearerFromProtocols(protocols);
    if (auth !== undefined) headers.authorization = auth;
  }
  for (const name of ["origin", "referer"] as const) {
    const value = req.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const token = tokenCookie(req.headers.cookie);
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return headers;
}

/**
 * The server end of the in-memory connection answers for the client's TLS connection, so the
 * gateway finds the same client certificate it would find on a plain request.
 */
function asClientConnection(end: Duplex, client: IncomingMessage["socket"]): Duplex {
  const tls = client as TLSSocket;
  if (tls.encrypted) {
    Object.assign(end, {
      encrypted: true,
      authorized: tls.authorized,
      getPeerCertificate: (detailed?: boolean) => tls.getPeerCertificate(detailed ?? false),
    });
  }
  Object.assign(end, { remoteAddress: client.remoteAddress, remotePort: client.remotePort });
  return end;
}

function proxy(http: HttpServer, ws: Ws.WebSocket, upgrade: IncomingMessage, finished: () => void): void {
  const [clientEnd, serverEnd] = connectionPair();
  http.emit("connection", asClientConnection(serverEnd, upgrade.socket));
  const request = httpRequest({
    method: "POST",
    path: upgrade.url,
    headers: proxiedHeaders(upgrade),
    createConnection: () => clientEnd as unknown as import("node:net").Socket,
  });
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    request.destroy();
    clientEnd.destroy();
    // as the proxy does: the connection is closed, no close frame
    ws.terminate();
    finished();
  };
  request.on("error", finish);
  request.on("response", (answer) => {
    answer.setEncoding("utf8");
    let partial = "";
    let sending = 0;
    let ended = false;
    const sent = () => {
      sending--;
      if (ended && sending === 0) finish();
    };
    const send = (line: string) => {
      const text = line.endsWith("\r") ? line.slice(0, -1) : line;
      if (text.length === 0 || done) return;
      sending++;
      ws.send(text, sent);
    };
    answer.on("data", (chunk: string) => {
      partial += chunk;
      let nl = partial.indexOf("\n");
      while (nl >= 0) {
        send(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
        nl = partial.indexOf("\n");
      }
    });
    answer.on("end", () => {
      send(partial);
      // the last messages go out before the connection closes
      ended = true;
      if (sending === 0) finish();
    });
    answer.on("error", finish);
  });
  // Only the two bidirectional streams read request after request; every other path decodes one JSON
  // value and answers (etcd answers a unary call over WebSocket at once, without waiting for the client
  // to close), so its request ends with the first message.
  const bidirectional = BIDIRECTIONAL_PATHS.has(new URL(upgrade.url ?? "/", "http://localhost").pathname);
  ws.on("message", (data: Buffer) => {
    if (done || request.writableEnded) return;
    request.write(data);
    request.write("\n");
    if (!bidirectional) request.end();
  });
  ws.on("close", finish);
  ws.on("error", finish);
}

/** A WebSocket handshake (Go's websocket.IsWebSocketUpgrade), not another protocol's upgrade (h2c). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (
    /\bupgrade\b/i.test(req.headers.connection ?? "") &&
    (req.headers.upgrade ?? "").toLowerCase() === "websocket"
  );
}

/** The WebSocket side of the port: closes, and waits for the proxies still sending their last lines. */
export interface GatewayWebSockets {
  close(): void;
  /**
   * Resolves once every proxy open now has sent its answer's last lines and closed (at most `limitMs`):
   * on shutdown, after the gateway's streams were ended with their error line, so that the line reaches
   * the client before the connections go.
   */
  settled(limitMs: number): Promise<void>;
}

/** Serves WebSocket upgrades on /v3/ paths of the port's HTTP server through the gateway. */
export function serveGatewayWebSockets(http: HttpServer): GatewayWebSockets {
  const open = new Set<Promise<void>>();
  // made (and the ws library loaded) at the first upgrade: most members never see one
  let made: Ws.WebSocketServer | undefined;
  const wss = () =>
    (made ??= new (requireHere("ws") as typeof Ws).WebSocketServer({
      noServer: true,
      // "Bearer, <token>" is answered with "Bearer"; anything else with no protocol at all
      handleProtocols: (protocols) => (protocols.has("Bearer") ? "Bearer" : false),
    }));
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let path: string;
    try {
      path = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      return;
    }
    if (!path.startsWith("/v3/") || !isWebSocketUpgrade(req)) return;
    wss().handleUpgrade(req, socket, head, (ws) => {
      let finished = () => {};
      const done = new Promise<void>((resolve) => {
        finished = resolve;
      });
      open.add(done);
      void done.then(() => open.delete(done));
      proxy(http, ws, req, finished);
    });
  });
  return {
    close: () => made?.close(),
    settled: (limitMs) => settledWithin([...open], limitMs),
  };
}
