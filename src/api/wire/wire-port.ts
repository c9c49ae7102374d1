// The client port's HTTP/2 connections (h2c, and h2 over TLS) served by its own HTTP/2 connection
// (RXETCD_CLIENT_HTTP2=own): each stream's request headers choose its call, a unary RPC answered
// natively or a stream forwarded to Node's HTTP/2 and grpc-js.
import type { IncomingHttpHeaders } from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { WatchService } from "../../gen/etcdserverpb/rpc.js";
import { GrpcCode } from "../../rpctypes/errors.js";
import { grpcTimeoutMs } from "../grpc/call-stream.js";
import { GRPC_TYPE, isGrpcContentType } from "../grpc/grpc-content-type.js";
import type { HeaderField } from "../grpc/hpack.js";
import { MethodTable } from "../grpc/method-table.js";
import type { CallCredentials, UnaryMethod } from "../grpc/unary-call-base.js";
import { DEADLINE_TEXT } from "../grpc/unary-request-body.js";
import { servesWatch, startWatchCall, type WatchFastPathOptions } from "../grpc/watch-fast-path.js";
import { type AnswerBlock, failBlock, subtypeAnswerHeaders } from "./answer-blocks.js";
import { type StreamOpener, WireConnection } from "./connection.js";
import { deadlineCode, Forwarding } from "./forwarding.js";
import { ErrorCode } from "./frames.js";
import { type UnaryRequestHead, WireUnaryCall } from "./unary-call.js";
import { WireAnswerStream } from "./wire-answer-stream.js";
import type { WireStream, WireStreamHandler } from "./wire-stream.js";

export interface WirePortOptions {
  /** The unary RPCs answered natively (unaryMethods). */
  methods: ReadonlyMap<string, UnaryMethod>;
  /** The receive limit of a request message. */
  maxReceiveBytes: number;
  credentials: CallCredentials;
  /** The Watch calls served natively (the watch fast path's options); without them Watch is forwarded. */
  watch?: WatchFastPathOptions;
  /** Serves a forwarding connection as the port's own (the grpc-js injector's injectConnection). */
  inject: (connection: Duplex) => void;
  maxConcurrentStreams?: number;
  pingMinTimeMs: number;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  onPingViolation?: () => void;
}

const WATCH_PATH = WatchService.watch.path;

const servedMethods = new MethodTable();
const noop = () => {};

/** Resets a stream whose request grpc-go refuses before any call; what the client still sends is let go. */
function resetAtOnce(stream: WireStream, code: number): WireStreamHandler {
  stream.reset(code);
  return { data: (chunk) => stream.consumed(chunk.length), end: noop, closed: noop };
}

/** grpc-go's status for a gRPC request it answers before any call (unknown method, unknown encoding). */
function refusal(path: string | undefined, encoding: string | undefined): [number, string] | undefined {
  const unserved = servedMethods.unserved(path ?? "");
  if (unserved !== undefined) return [unserved.code, unserved.message];
  // etcd installs no decompressor, gzip included
  if (encoding !== undefined && encoding !== "identity")
    return [GrpcCode.Unimplemented, `grpc: Decompressor is not installed for grpc-encoding "${encoding}"`];
  return undefined;
}

/**
 * Answers a stream with a status at the end of the turn, when the client's end read with its headers
 * (a unary request's) has been read too: otherwise a reset would follow the answer, where grpc-go's
 * answer, written from the call's goroutine, comes after it. What the client still sends is let go.
 */
function answerStatus(
  stream: WireStream,
  code: number,
  message: string,
  headers: AnswerBlock | undefined,
): WireStreamHandler {
  setImmediate(() => stream.respond(failBlock(code, message, headers), true));
  return { data: (chunk) => stream.consumed(chunk.length), end: noop, closed: noop };
}

/** A stream's request headers as Node gives them (a repeated field's values joined as Node joins them). */
function headerObject(fields: HeaderField[]): IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  for (const [name, value] of fields) {
    const had = headers[name];
    headers[name] = had === undefined ? value : `${had}, ${value}`;
  }
  return headers;
}

/**
 * Opens the streams of one connection of a port: a class, so that every connection's opener calls the
 * same function (see StreamOpener).
 */
class PortStreamOpener implements StreamOpener {
  constructor(
    private readonly options: WirePortOptions,
    private readonly encrypted: boolean,
    private readonly peer: string,
    private readonly forwarding: Forwarding,
  ) {}

  open(stream: WireStream, fields: HeaderField[]): WireStreamHandler {
    let path: string | undefined;
    let contentType: string | undefined;
    let encoding: string | undefined;
    const head: UnaryRequestHead = {
      timeout: undefined,
      token: undefined,
      authorization: undefined,
      answerHeaders: undefined,
    };
    for (const [name, value] of fields) {
      switch (name) {
        case ":path":
          path = value;
          break;
        case "content-type":
          contentType = value;
          break;
        case "grpc-encoding":
          encoding = value;
          break;
        case "grpc-timeout":
          head.timeout ??= value;
          break;
        case "token":
          head.token ??= value;
          break;
        case "authorization":
          head.authorization ??= value;
          break;
      }
    }
    if (contentType !== GRPC_TYPE) {
      if (!isGrpcContentType(contentType)) {
        // etcd's TLS listener serves HTTP/2 that is not gRPC with its HTTP handlers; over h2c every
        // stream is grpc-go's, which resets one whose content-type is not gRPC's
        if (this.encrypted) return this.forwarding.open(stream, fields);
        return resetAtOnce(stream, ErrorCode.PROTOCOL_ERROR);
      }
      head.answerHeaders = subtypeAnswerHeaders(contentType);
    }
    let timeoutMs: number | undefined;
    if (head.timeout !== undefined) {
      timeoutMs = grpcTimeoutMs(head.timeout);
      // grpc-go resets a stream whose grpc-timeout it cannot read
      if (timeoutMs === undefined) return resetAtOnce(stream, ErrorCode.PROTOCOL_ERROR);
    }
    if (path === WATCH_PATH && this.options.watch !== undefined) {
      const headers = headerObject(fields);
      if (servesWatch(headers)) {
        const answer = new WireAnswerStream(stream, this.peer);
        startWatchCall(answer, headers, this.options.watch);
        return answer.handler;
      }
    }
    const method = path === undefined ? undefined : this.options.methods.get(path);
    if (method === undefined || (encoding !== undefined && encoding !== "identity")) {
      // gRPC that etcd refuses is refused here; the rest goes to grpc-js
      const refused = refusal(path, encoding);
      if (refused !== undefined) return answerStatus(stream, refused[0], refused[1], head.answerHeaders);
      // a deadline passed already: etcd's answer without a grpc-js call (whose deadline could come
      // after its answer's message)
      if (timeoutMs === 0) return answerStatus(stream, deadlineCode(path), DEADLINE_TEXT, head.answerHeaders);
      return this.forwarding.open(stream, fields);
    }
    const call = new WireUnaryCall(
      stream,
      head,
      method,
      this.options.maxReceiveBytes,
      this.options.credentials,
      this.peer,
    );
    if (timeoutMs !== undefined) call.startDeadline(timeoutMs);
    return call;
  }
}

/** The own connections of one client port. */
export class WirePort {
  private readonly connections = new Set<WireConnection>();

  constructor(private readonly options: WirePortOptions) {}

  /** Serves a connection (TCP, or TLS over it) whose first bytes still to be read are the preface. */
  serve(socket: Socket): WireConnection {
    const { options } = this;
    const encrypted = (socket as TLSSocket).encrypted === true;
    const peer = socket.remotePort
      ? `${socket.remoteAddress}:${socket.remotePort}`
      : (socket.remoteAddress ?? "unknown");
    const forwarding = new Forwarding(
      { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort },
      options.inject,
      options.maxReceiveBytes,
    );
    const connection = new WireConnection(socket, {
      opener: new PortStreamOpener(options, encrypted, peer, forwarding),
      goawayOnError: encrypted,
      ...(options.maxConcurrentStreams !== undefined
        ? { maxConcurrentStreams: options.maxConcurrentStreams }
        : {}),
      pingMinTimeMs: options.pingMinTimeMs,
      pingIntervalMs: options.pingIntervalMs,
      pingTimeoutMs: options.pingTimeoutMs,
      ...(options.onPingViolation !== undefined ? { onPingViolation: options.onPingViolation } : {}),
    });
    this.connections.add(connection);
    connection.onClose(() => {
      this.connections.delete(connection);
      forwarding.close();
    });
    return connection;
  }

  /** Ends every connection gracefully (GOAWAY with its last stream, then the socket's end). */
  closeAll(): void {
    for (const c of [...this.connections]) c.close();
  }
}
