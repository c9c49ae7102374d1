// One client port for every protocol, as etcd 3.4 serves it: each connection is sorted by its first
// bytes (the HTTP/2 preface goes to gRPC, anything else to HTTP/1.1: gateway, /health, /metrics...).
// With TLS the ALPN choice sorts it ("h2" -> gRPC); without ALPN the decrypted bytes are sniffed.
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestListener,
  ServerResponse,
} from "node:http";
import {
  constants,
  type Http2Server,
  Http2ServerRequest,
  Http2ServerResponse,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from "node:http2";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
} from "node:tls";
import { type ConnectionInjector, type Metadata, type Server, ServerCredentials } from "@grpc/grpc-js";
import type { ClientApi } from "../server/client-api.js";
import { type ClientLimits, defaultClientLimits, unaryHandlers } from "./client-handlers.js";
import { ConnectionBudgets, type ConnectionLimits, defaultConnectionLimits } from "./connection-limits.js";
import { type FrontThread, startFrontThread } from "./front/front-thread.js";
import type { PortDuplex } from "./front/port-duplex.js";
import { lazyGateway } from "./gateway/lazy-gateway.js";
import { OpenStreams, TRANSPORT_CLOSING } from "./gateway/open-streams.js";
import { isWebSocketUpgrade, serveGatewayWebSockets } from "./gateway/websocket-proxy.js";
import { gateHttp2Connection } from "./grpc/authority-gate.js";
import { GRPC_TYPE, isGrpcContentType } from "./grpc/grpc-content-type.js";
import { GrpcMetrics } from "./grpc/grpc-metrics.js";
import { createGrpcServer, grpcOverheadBytes, serverPings } from "./grpc/grpc-services.js";
import { applyHeaderLimits } from "./grpc/header-limits.js";
import { enforcePingPolicy } from "./grpc/ping-policy.js";
import { unaryFastPath, unaryMethods } from "./grpc/unary-fast-path.js";
import { watchFastPath } from "./grpc/watch-fast-path.js";
import { nameWrappedConnection } from "./grpc/wrapped-connection.js";
import type { HttpExtension } from "./http/http-extension.js";
import { createHttpHandler } from "./http/http-handler.js";
import { grpcRequestContext, TlsIdentities } from "./request-context.js";
import { sniffHttp2 } from "./sniff-http2.js";
import type { ClientHttp2 } from "./wire/client-http2-option.js";
import { WirePort } from "./wire/wire-port.js";

/** TLS material for https:// client URLs (--cert-file, --key-file, --trusted-ca-file, --client-cert-auth). */
export interface ClientTls {
  cert: string | Buffer;
  key: string | Buffer;
  trustedCa?: string | Buffer;
  clientCertAuth?: boolean;
  /** OpenSSL cipher list (from --cipher-suites). */
  ciphers?: string;
  /**
   * Called once a handshake is done (--client-crl-file): closes the connection and answers true when
   * the client's certificate is revoked.
   */
  revoked?: (socket: TLSSocket) => boolean;
}

/**
 * Whether a listener with these files asks for, and verifies, a client certificate. etcd 3.4 does whenever a
 * trusted CA is given, with or without --client-cert-auth (which only adds the certificate's CN as the user):
 * a client without one is refused in the handshake ("tls: client didn't provide a certificate").
 */
export function requiresClientCert(tls: ClientTls): boolean {
  return (tls.clientCertAuth ?? false) || tls.trustedCa !== undefined;
}

/** The certificate part of the TLS options (what a reload replaces). */
function secureContextOptions(tls: ClientTls): SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.trustedCa ? { ca: tls.trustedCa } : {}),
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
  };
}

/** gRPC transport limits (etcd's defaults: unlimited streams, a ping every 2 h, 20 s to answer it). */
export interface GrpcLimits {
  maxConcurrentStreams?: number;
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  /** --grpc-keepalive-min-time: clients pinging more often are sent GOAWAY "too_many_pings" (default 5 s). */
  keepaliveMinTimeMs?: number;
}

/** The few logger methods used here (a pino logger fits). */
export interface ApiLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface ServeClientsOptions {
  api: ClientApi;
  /** --listen-client-urls; http:// or https://, port 0 picks a free port. */
  listenUrls: URL[];
  tls?: ClientTls;
  /** --max-request-bytes (default 1.5 MiB). */
  maxRequestBytes?: number;
  /** --max-txn-ops (default 128). */
  maxTxnOps?: number;
  /** --max-concurrent-streams, --grpc-keepalive-interval, --grpc-keepalive-timeout. */
  grpc?: GrpcLimits;
  /** --max-watchers-per-connection, --max-lease-keepalive-streams-per-connection. */
  connections?: Partial<ConnectionLimits>;
  logger?: ApiLogger;
  /** More HTTP served on the port (the event feed and the dashboard). */
  http?: readonly HttpExtension[];
  /**
   * Experimental, off by default: the http:// client listeners are owned by a worker thread that
   * runs their HTTP/2 and answers the unary calls from batches (src/api/front/); https:// ones stay.
   */
  clientThread?: boolean;
  /**
   * Who serves the HTTP/2 of the client listeners, http:// and https:// (h2 by ALPN): the port's own
   * connection (src/api/wire/; RXETCD_CLIENT_HTTP2=own) or Node's.
   */
  clientHttp2?: ClientHttp2;
  /** Experimental, off by default: one more client listener, served by that thread (for bench:front). */
  front?: { listenUrl: URL };
}

export interface ClientListeners {
  /** The URLs actually bound (port 0 replaced by the chosen port), in the order given. */
  readonly urls: URL[];
  /** The URL of the thread's extra port, when `front` asked for one. */
  readonly frontUrl?: URL;
  /** New certificates for the https listeners (connections opened from now on use them). */
  setTls(tls: ClientTls): void;
  close(): Promise<void>;
}

/**
 * The largest HTTP/1.1 header block taken: Go's http.Server default (DefaultMaxHeaderBytes, 1 MiB, plus
 * the 4 KiB it allows on top), where Node's default is 16 KiB; larger ones are answered 431 as Go does.
 */
const MAX_HEADER_BYTES = (1 << 20) + 4096;

/** etcd's --grpc-keepalive-min-time default. */
const DEFAULT_KEEPALIVE_MIN_TIME_MS = 5_000;

/** Socket errors that only mean the client went away. */
const ROUTINE_SOCKET_ERRORS = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "ETIMEDOUT"]);

type StreamListener = (
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  flags: number,
  raw: string[],
) => void;

/** Marks a connection from a cleartext socket (h2c), on which every stream is gRPC's. */
const cleartext = Symbol("h2c");

/** A stream closed with an error code reports it as an error of its own. */
function ignoreResetError(): void {}

/** Whether a stream's connection is a marked one (Node's session.socket reads through to it). */
function isCleartext(stream: ServerHttp2Stream): boolean {
  const socket = stream.session?.socket as unknown as Record<symbol, unknown> | undefined;
  return socket?.[cleartext] === true;
}

/**
 * A grpc-js connection injector whose HTTP/2 streams that are not gRPC (curl over TLS negotiates h2)
 * reach the HTTP handler instead of grpc-js's 415, as etcd's TLS listener routes them. grpc-js keeps
 * its HTTP/2 server private, so it is found as the one the injector added.
 */
function injectorServingHttp(
  grpcServer: Server,
  httpHandler: RequestListener,
  fastUnary: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean,
  pingMinTimeMs: number,
  isUnary: (path: string) => boolean,
  logger?: ApiLogger,
): ConnectionInjector {
  const servers = (grpcServer as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  const known = new Set(servers?.keys() ?? []);
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  const h2 = [...(servers?.keys() ?? [])].find((x) => !known.has(x));
  if (!h2) {
    logger?.warn({}, "HTTP over HTTP/2 is not served: grpc-js internals changed");
    return injector;
  }
  if (!applyHeaderLimits(h2))
    logger?.warn({}, "HTTP/2 header fields stay at Node's 128: its internals changed");
  h2.on("session", (session: ServerHttp2Session) => {
    nameWrappedConnection(session);
    enforcePingPolicy(session, {
      minTimeMs: pingMinTimeMs,
      isUnary,
      onViolation: () => logger?.warn({}, "client pinged too often; closing the connection (too_many_pings)"),
    });
  });
  const grpcListeners = h2.listeners("stream") as StreamListener[];
  h2.removeAllListeners("stream");
  h2.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]) => {
    const contentType = headers["content-type"];
    const h2c = contentType !== GRPC_TYPE && isCleartext(stream);
    if (h2c ? isGrpcContentType(contentType) : contentType?.startsWith(GRPC_TYPE)) {
      if (fastUnary(stream, headers)) return;
      for (const listener of grpcListeners) listener.call(h2, stream, headers, flags, raw);
      return;
    }
    if (h2c) {
      // etcd gives all of h2c to grpc-go (cmux), which resets a stream whose content-type is not gRPC's
      stream.on("error", ignoreResetError);
      stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    const req = new Http2ServerRequest(stream, headers, {}, raw);
    const res = new Http2ServerResponse(stream);
    httpHandler(req as unknown as IncomingMessage, res as unknown as ServerResponse);
  });
  return injector;
}

/** Starts serving the client API on every listen URL. */
export async function serveClients(options: ServeClientsOptions): Promise<ClientListeners> {
  const { api, logger } = options;
  const limits: ClientLimits = {
    maxRequestBytes: options.maxRequestBytes ?? defaultClientLimits.maxRequestBytes,
    maxTxnOps: options.maxTxnOps ?? defaultClientLimits.maxTxnOps,
  };
  const handlers = unaryHandlers(api, limits);
  const metrics = new GrpcMetrics(api.metrics);
  const identities = new TlsIdentities();
  const budgets = new ConnectionBudgets({ ...defaultConnectionLimits, ...options.connections });
  const grpcServer = createGrpcServer(api, handlers, limits, metrics, identities, options.grpc, budgets);
  const extensions = options.http ?? [];
  const openStreams = new OpenStreams();
  const httpHandler = createHttpHandler(
    api,
    lazyGateway(async () =>
      (await import("./gateway/gateway.js")).createGateway(api, handlers, limits, metrics, {
        clientCertAuth: options.tls?.clientCertAuth ?? false,
        openStreams,
        budgets,
      }),
    ),
    extensions,
  );
  const callCredentials = (call: { metadata: Metadata; getPeer(): string }) =>
    grpcRequestContext(call.metadata, identities.commonNameOf(call));
  const fastUnary = unaryFastPath(
    handlers,
    metrics,
    limits.maxRequestBytes + grpcOverheadBytes,
    callCredentials,
  );
  const watchOptions = {
    api,
    metrics,
    maxReceiveBytes: limits.maxRequestBytes + grpcOverheadBytes,
    credentials: callCredentials,
    budgets,
  };
  const fastWatch = watchFastPath(watchOptions);
  const injector = injectorServingHttp(
    grpcServer,
    httpHandler,
    (stream, headers) => fastUnary(stream, headers) || fastWatch(stream, headers),
    options.grpc?.keepaliveMinTimeMs ?? DEFAULT_KEEPALIVE_MIN_TIME_MS,
    (path) => handlers.has(path),
    logger,
  );
  const pingMinTimeMs = options.grpc?.keepaliveMinTimeMs ?? DEFAULT_KEEPALIVE_MIN_TIME_MS;
  const wirePort =
    options.clientHttp2 === "own"
      ? (() => {
          const pings = serverPings(options.grpc ?? {});
          return new WirePort({
            methods: unaryMethods(handlers, metrics),
            maxReceiveBytes: limits.maxRequestBytes + grpcOverheadBytes,
            credentials: callCredentials,
            watch: watchOptions,
            inject: (connection) => injector.injectConnection(connection),
            ...(options.grpc?.maxConcurrentStreams !== undefined
              ? { maxConcurrentStreams: options.grpc.maxConcurrentStreams }
              : {}),
            pingMinTimeMs,
            pingIntervalMs: pings["grpc.keepalive_time_ms"],
            pingTimeoutMs: pings["grpc.keepalive_timeout_ms"],
            onPingViolation: () =>
              logger?.warn({}, "client pinged too often; closing the connection (too_many_pings)"),
          });
        })()
      : undefined;
  const httpServer: HttpServer = createHttpServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    // Go's server says nothing of keep-alive on an HTTP/1.1 connection that stays open (Node would add
    // "Connection: keep-alive" and "Keep-Alive: timeout=5")
    if (req.httpVersion === "1.1" && !/\bclose\b/i.test(req.headers.connection ?? ""))
      res.removeHeader("connection");
    httpHandler(req, res);
  });
  // etcd's HTTP server has no idle timeout: an idle client connection stays open (Node closes it after 5 s)
  httpServer.keepAliveTimeout = 0;
  // Upgrades: WebSockets on /v3/ to the gateway; other WebSockets to the extensions (the feed); any
  // other upgrade (curl's h2c) is refused by answering the request itself over HTTP/1.1, as Go does.
  const gatewaySockets = serveGatewayWebSockets(httpServer);
  httpServer.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    if (isWebSocketUpgrade(req)) return;
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once("finish", () => socket.end());
    httpHandler(req, res);
  });
  for (const ext of extensions) ext.attach?.(httpServer);

  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    // small request/response frames must not wait for Nagle and delayed ACKs (40 ms each)
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    // A peer that resets mid-sniff must not take the process down. A client going away (reset, broken
    // pipe) is routine and, as in etcd, not worth a warning.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === undefined || !ROUTINE_SOCKET_ERRORS.has(err.code))
        logger?.warn({ err: err.message }, "client connection error");
    });
  };
  const route = (socket: Socket, http2: boolean) => {
    if (http2 && wirePort !== undefined) {
      // a TLS client's certificate name, found again by the peer name its calls give
      identities.track(socket, socket);
      wirePort.serve(socket);
    } else if (http2) {
      gateHttp2Connection(socket, (connection) => {
        // the caller's certificate name, found again by the peer name grpc-js gives its calls
        identities.track(socket, connection);
        if ((socket as TLSSocket).encrypted !== true)
          (connection as Duplex & Record<symbol, unknown>)[cleartext] = true;
        injector.injectConnection(connection);
      });
    } else {
      httpServer.emit("connection", socket);
      // The HTTP parser reads through stream events; the sniffer left the socket paused.
      socket.resume();
    }
  };

  const listeners: NetServer[] = [];
  const tlsListeners: TlsServer[] = [];
  const urls: URL[] = [];
  let front: FrontThread | undefined;
  try {
    const threadUrls = options.clientThread
      ? options.listenUrls.filter((url) => url.protocol === "http:")
      : [];
    if (options.front) threadUrls.push(options.front.listenUrl);
    if (threadUrls.length > 0) {
      const pings = serverPings(options.grpc ?? {});
      front = await startFrontThread(
        {
          listenUrls: threadUrls,
          maxReceiveBytes: limits.maxRequestBytes + grpcOverheadBytes,
          methods: unaryMethods(handlers, metrics),
          unaryPaths: [...handlers.keys()],
          pingMinTimeMs: options.grpc?.keepaliveMinTimeMs ?? DEFAULT_KEEPALIVE_MIN_TIME_MS,
          pingIntervalMs: pings["grpc.keepalive_time_ms"],
          pingTimeoutMs: pings["grpc.keepalive_timeout_ms"],
          ...(options.grpc?.maxConcurrentStreams !== undefined
            ? { maxConcurrentStreams: options.grpc.maxConcurrentStreams }
            : {}),
          accept: (connection: PortDuplex, http2: boolean) => {
            connection.on("error", () => {});
            if (http2) injector.injectConnection(connection);
            else httpServer.emit("connection", connection);
          },
        },
        logger,
      );
      for (const url of front.urls)
        logger?.info({ address: url.href }, "serving client traffic from a thread");
    }
    for (const url of options.listenUrls) {
      const threadIndex = threadUrls.indexOf(url);
      if (threadIndex >= 0 && front !== undefined) {
        urls.push(front.urls[threadIndex]);
        continue;
      }
      const secure = url.protocol === "https:";
      if (!secure && url.protocol !== "http:")
        throw new Error(`unsupported client URL scheme ${url.protocol}`);
      if (secure && !options.tls)
        throw new Error(`TLS is required for ${url.href} but no cert/key was given`);
      let listener: NetServer;
      if (secure && options.tls) {
        const tls = options.tls;
        const tlsListener = createTlsServer(
          {
            ...secureContextOptions(tls),
            requestCert: requiresClientCert(tls),
            rejectUnauthorized: requiresClientCert(tls),
            ALPNProtocols: ["h2", "http/1.1"],
          },
          (socket: TLSSocket) => {
            if (tls.revoked?.(socket)) return;
            track(socket);
            if (socket.alpnProtocol === "h2") route(socket, true);
            else if (socket.alpnProtocol === "http/1.1") route(socket, false);
            else sniffHttp2(socket, (h2) => route(socket, h2));
          },
        );
        tlsListener.on("tlsClientError", (err) =>
          logger?.warn({ err: err.message }, "client TLS handshake failed"),
        );
        tlsListeners.push(tlsListener);
        listener = tlsListener;
      } else {
        listener = createNetServer((socket) => {
          track(socket);
          sniffHttp2(socket, (h2) => route(socket, h2));
        });
      }
      const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(Number(url.port || (secure ? 443 : 80)), host, () => {
          listener.off("error", reject);
          resolve();
        });
      });
      listener.on("error", (err) => logger?.warn({ err: err.message }, "client listener error"));
      listeners.push(listener);
      const address = listener.address();
      const bound = new URL(url.href);
      if (address && typeof address === "object") bound.port = String(address.port);
      urls.push(bound);
      logger?.info({ address: bound.href }, "serving client traffic");
      if (wirePort !== undefined)
        logger?.info({ address: bound.href }, "serving client HTTP/2 with the port's own connection");
      else logger?.info({ address: bound.href }, "serving client HTTP/2 with Node's HTTP/2");
    }
  } catch (err) {
    for (const l of listeners) l.close();
    await front?.close();
    injector.destroy();
    grpcServer.forceShutdown();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    urls,
    ...(front && options.front ? { frontUrl: front.urls[front.urls.length - 1] } : {}),
    setTls(tls) {
      for (const l of tlsListeners) l.setSecureContext(secureContextOptions(tls));
    },
    close() {
      closing ??= (async () => {
        const stopped = listeners.map((l) => new Promise<void>((resolve) => l.close(() => resolve())));
        // open gateway streams get etcd's last line before their connections go (those of the
        // thread's connections through it)
        await openStreams.endAll(TRANSPORT_CLOSING, 1000);
        // and WebSocket clients get that line from their proxy before the connections go
        await gatewaySockets.settled(1000);
        await front?.close();
        wirePort?.closeAll();
        gatewaySockets.close();
        injector.destroy();
        grpcServer.forceShutdown();
        httpServer.closeAllConnections();
        for (const s of sockets) s.destroy();
        await Promise.all(stopped);
      })();
      return closing;
    },
  };
}
