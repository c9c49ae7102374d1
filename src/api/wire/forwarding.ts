// The streams the client port's own connection does not answer itself (Watch, LeaseKeepAlive,
// Snapshot, the calls that wait, health, compressed requests, HTTP over TLS) go to Node's HTTP/2 and
// grpc-js as they are: per client connection, one in-process HTTP/2 connection (memory-pair.ts) whose
// server end is served by the port's grpc-js injector, so what etcd bounds per connection (watchers,
// lease keep-alive streams) stays bounded per client connection, and its calls see the client's
// address. Headers, messages both ways, flow control, trailers and resets cross it.
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import type { Duplex } from "node:stream";
import { LeaseService, WatchService } from "../../gen/etcdserverpb/rpc.js";
import { ElectionService } from "../../gen/v3electionpb/v3election.js";
import { LockService } from "../../gen/v3lockpb/v3lock.js";
import { openForwardingSession } from "../forwarding-session.js";
import { repairAuthorityValue } from "../grpc/authority-repair.js";
import { GRPC_TYPE, grpcAnswerType, isGrpcContentType } from "../grpc/grpc-content-type.js";
import { HealthService } from "../grpc/health-service.js";
import type { HeaderField } from "../grpc/hpack.js";
import { etcdServices } from "../grpc/served-services.js";
import { grpcGoMessageValue, grpcMessageValue } from "../grpc/status-text.js";
import { StreamMessageReader } from "../grpc/stream-message-reader.js";
import {
  DEADLINE_TEXT,
  firstMessageLength,
  messagePrefixLength,
  type RequestFailure,
  tooLargeText,
} from "../grpc/unary-request-body.js";
import { requestUnmarshalError, streamUnmarshalText, unaryUnmarshalText } from "../grpc/unmarshal-errors.js";
import type { PeerAddress } from "../socket-like-duplex.js";
import {
  type AnswerBlock,
  answerHeadersBlock,
  failBlock,
  headersBlock,
  okTrailersBlock,
  statusTrailers,
  subtypeAnswerHeaders,
} from "./answer-blocks.js";
import { ErrorCode } from "./frames.js";
import { memoryPair } from "./memory-pair.js";
import type { WireStream, WireStreamHandler } from "./wire-stream.js";

const { NGHTTP2_FLAG_END_STREAM } = constants;
const LEASE_KEEP_ALIVE_PATH = LeaseService.leaseKeepAlive.path;
const WATCH_PATH = WatchService.watch.path;
const noop = () => {};
const emptyBody = Buffer.alloc(0);

/**
 * A forwarded gRPC answer's headers as grpc-go writes them: grpc-js adds a date, its accepted
 * encodings, `grpc-encoding: identity` and names the `+proto` subtype, where grpc-go names the
 * request's (none for `application/grpc`); a trailers-only answer puts its status after the
 * content-type, and keeps it as etcdStatus writes it. Anything else passes as it is.
 */
function etcdHeaders(headers: IncomingHttpHeaders, request: RequestHead): AnswerBlock {
  const type = headers["content-type"];
  if (typeof type !== "string" || !type.startsWith("application/grpc")) return headersBlock(headers);
  const out: IncomingHttpHeaders = { ":status": headers[":status"], "content-type": type };
  if (type === "application/grpc+proto" && isGrpcContentType(request.type))
    out["content-type"] = grpcAnswerType(request.type);
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (name === ":status" || name === "content-type") continue;
    if (name === "date" || name === "grpc-accept-encoding") continue;
    if (name === "grpc-encoding" && value === "identity") continue;
    out[name] = value;
  }
  if (out["grpc-status"] !== undefined) return headersBlock(etcdStatus(out, request));
  const names = Object.keys(out);
  if (names.length === 2 && out[":status"] === "200" && out["content-type"] === GRPC_TYPE)
    return answerHeadersBlock;
  return headersBlock(out);
}

/** grpc-js's text for a unary or server-streaming call whose client sent no message (URI-encoded). */
const noMessage = /^Received(%20| )no(%20| )request(%20| )message/;

/**
 * grpc-js's status text of a call that succeeded is "OK", grpc-go's is empty; other texts are
 * percent-encoded as grpc-go encodes them (grpc-js encodes as encodeURI, spaces too). A deadline
 * that passed is grpc-go's "context deadline exceeded": code 4 where its transport answers (the
 * client's next message read with the call's context done), code 2 from LeaseKeepAlive, Lock and
 * Campaign, whose handlers return the context's error themselves. A call the client ended without its message is grpc-go's
 * code 2 "EOF".
 */
function etcdStatus(fields: IncomingHttpHeaders, request: RequestHead): IncomingHttpHeaders {
  const message = fields["grpc-message"];
  const { refused } = request;
  if (fields["grpc-status"] === "0" && refused !== undefined) {
    // the call ended as its request's stream did: with the status grpc-go's receive gave
    fields["grpc-status"] = String(refused.code);
    fields["grpc-message"] = grpcMessageValue(refused.message);
  } else if (fields["grpc-status"] === "0" && message === "OK") fields["grpc-message"] = "";
  else if (
    fields["grpc-status"] === "4" &&
    (message === "Deadline%20exceeded" || message === "Deadline exceeded")
  ) {
    fields["grpc-message"] = DEADLINE_TEXT;
    fields["grpc-status"] = String(waitDeadlineCode(request.path));
  } else if (fields["grpc-status"] === "12" && typeof message === "string" && noMessage.test(message)) {
    // the client's end before the request's one message was whole: grpc-go's io.EOF, or its
    // io.ErrUnexpectedEOF after part of one (code 13 where a server-streaming handler reads it)
    const cut = request.sent && serverStreaming.has(request.path ?? "");
    fields["grpc-status"] = cut ? "13" : "2";
    fields["grpc-message"] = request.sent ? "unexpected EOF" : "EOF";
  } else if (typeof message === "string" && message.includes("%"))
    fields["grpc-message"] = grpcGoMessageValue(message);
  return fields;
}

/**
 * The status code of a forwarded call whose deadline passed, as etcd answers it: 2 from
 * LeaseKeepAlive (its handler returns the context's error), 4 from the others (grpc-go's transport).
 */
export function deadlineCode(path: string | undefined): number {
  return path === LEASE_KEEP_ALIVE_PATH ? 2 : 4;
}

/**
 * Lock and Campaign wait under the call's context, and their handlers return its error when the deadline passes
 * there (grpc-go's code 2), as LeaseKeepAlive's does.
 */
const WAITS_UNDER_CONTEXT: ReadonlySet<string> = new Set([
  LockService.lock.path,
  ElectionService.campaign.path,
]);

/** The status code of a forwarded call whose deadline passed while it was served (see deadlineCode). */
function waitDeadlineCode(path: string | undefined): number {
  return path !== undefined && WAITS_UNDER_CONTEXT.has(path) ? 2 : deadlineCode(path);
}

/** A forwarded answer's trailers as grpc-go writes them (etcdStatus). */
function etcdTrailers(trailers: IncomingHttpHeaders, request: RequestHead): AnswerBlock {
  const names = Object.keys(trailers);
  if (
    request.refused === undefined &&
    names.length === 2 &&
    trailers["grpc-status"] === "0" &&
    (trailers["grpc-message"] === "OK" || trailers["grpc-message"] === "")
  )
    return okTrailersBlock;
  return headersBlock(etcdStatus({ ...trailers }, request));
}

/** What a forwarded answer's headers depend on of its request. */
interface RequestHead {
  path: string | undefined;
  /** The content-type, which a gRPC answer's names back as grpc-go's does. */
  type: string | undefined;
  /** The client sent DATA. */
  sent: boolean;
  /**
   * grpc-go's status for the request stream's end, once a message was refused or the client ended
   * partway through one: the forwarded call ends there, and this replaces the OK it ends with.
   */
  refused?: RequestFailure;
}

const methods: { path: string; requestStream: boolean; responseStream: boolean }[] = [
  ...etcdServices,
  HealthService,
].flatMap((service) => Object.values(service));
/** The paths of the methods of one request message: unary and server-streaming. */
const oneMessage = new Set(methods.filter((m) => !m.requestStream).map((m) => m.path));
/** The paths of the server-streaming methods (one request message, answers streamed). */
const serverStreaming = new Set(
  methods.filter((m) => !m.requestStream && m.responseStream).map((m) => m.path),
);

/** One client connection's forwarding: its in-process HTTP/2 connection, opened with its first stream. */
export class Forwarding {
  private session: ClientHttp2Session | undefined = undefined;
  private server: Duplex | undefined = undefined;

  constructor(
    private readonly peer: PeerAddress,
    private readonly inject: (connection: Duplex) => void,
    /** grpc-go's receive limit (--max-request-bytes and its allowance). */
    private readonly maxReceiveBytes: number,
  ) {}

  private sessionOf(): ClientHttp2Session {
    const existing = this.session;
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    // the client's address, carried to the in-process connection for getPeer and per-connection budgets
    const [client, server] = memoryPair(this.peer);
    server.on("error", noop);
    client.on("error", noop);
    this.inject(server);
    const session = openForwardingSession(client);
    this.session = session;
    this.server = server;
    return session;
  }

  /** Forwards one stream; its handler is what the connection tells of the client's side. */
  open(stream: WireStream, fields: HeaderField[]): WireStreamHandler {
    const request: OutgoingHttpHeaders = {};
    for (const [name, rawValue] of fields) {
      const value = name === ":authority" ? repairAuthorityValue(rawValue) : rawValue;
      const had = request[name];
      if (had === undefined) request[name] = value;
      else if (Array.isArray(had)) had.push(value);
      else request[name] = [String(had), value];
    }
    let upstream: ClientHttp2Stream;
    try {
      upstream = this.sessionOf().request(request);
    } catch {
      // headers Node's HTTP/2 refuses (connection-specific ones): the request is malformed
      stream.reset(ErrorCode.PROTOCOL_ERROR);
      return { data: (chunk) => stream.consumed(chunk.length), end: noop, closed: noop };
    }
    const type = request["content-type"];
    const path = request[":path"];
    return new ForwardedStream(
      stream,
      upstream,
      {
        path: typeof path === "string" ? path : undefined,
        type: typeof type === "string" ? type : undefined,
        sent: false,
      },
      this.maxReceiveBytes,
    );
  }

  /** The client connection is gone. */
  close(): void {
    this.session?.destroy();
    this.server?.destroy();
    this.session = undefined;
    this.server = undefined;
  }
}

class ForwardedStream implements WireStreamHandler {
  private ended = false;
  private responded = false;
  /** Node emits a response's headers a tick late: the DATA read with them waits here for them. */
  private early: Buffer[] | undefined = undefined;
  private trailers: IncomingHttpHeaders | undefined = undefined;
  /**
   * A call of one request message (unary or server-streaming): the request's bytes until the client's
   * end, whose first message alone goes on, read as grpc-go reads it (unary-request-body.ts).
   */
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  /** A streaming call's request messages, each forwarded once it is whole and grpc-go would read it. */
  private readonly reader: StreamMessageReader | undefined;
  /** The client's bytes not yet forwarded, whose window goes back once they are. */
  private unforwarded = 0;

  constructor(
    private readonly stream: WireStream,
    private readonly upstream: ClientHttp2Stream,
    private readonly request: RequestHead,
    private readonly maxReceiveBytes: number,
  ) {
    // only gRPC bodies are messages; a plain HTTP request (the gateway over h2 on TLS) goes as it came
    const grpc = isGrpcContentType(request.type);
    const one = grpc && oneMessage.has(request.path ?? "");
    this.held = one ? [] : undefined;
    this.reader = grpc && !one ? new StreamMessageReader(maxReceiveBytes) : undefined;
    upstream.on("error", noop);
    upstream.on("response", (headers: IncomingHttpHeaders, flags: number) => this.response(headers, flags));
    upstream.on("data", (chunk: Buffer) => {
      if (!this.responded) (this.early ??= []).push(chunk);
      else if (!stream.sendData(chunk, false)) upstream.pause();
    });
    upstream.on("trailers", (trailers: IncomingHttpHeaders) => {
      this.trailers = trailers;
    });
    upstream.on("end", () => this.upstreamEnded());
    upstream.on("close", () => this.upstreamClosed());
  }

  private response(headers: IncomingHttpHeaders, flags: number): void {
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    if (endStream) this.ended = true;
    this.responded = true;
    this.stream.respond(etcdHeaders(headers, this.request), endStream);
    const early = this.early;
    this.early = undefined;
    if (early !== undefined) for (const chunk of early) this.stream.sendData(chunk, false);
  }

  private upstreamEnded(): void {
    if (this.ended || !this.responded) return;
    this.ended = true;
    if (this.trailers !== undefined) this.stream.sendTrailers(etcdTrailers(this.trailers, this.request));
    else this.stream.sendData(emptyBody, true);
  }

  private upstreamClosed(): void {
    const stream = this.stream;
    // an answer whose end is queued (its last DATA waiting for the client's window) ends as it is
    if (stream.done || stream.localEnded || this.ended) return;
    const code = this.upstream.rstCode;
    // a close without an end of the answer is a reset as far as the client is concerned
    stream.reset(code !== undefined && code !== ErrorCode.NO_ERROR ? code : ErrorCode.INTERNAL_ERROR);
  }

  data(chunk: Buffer): void {
    this.request.sent = true;
    const { held, reader } = this;
    if (held !== undefined) {
      // the stream's window, given back at the end, bounds what is held
      held.push(chunk);
      const before = this.heldBytes;
      this.heldBytes += chunk.length;
      // grpc-go refuses a length over its limit as soon as the first prefix is in
      if (before < messagePrefixLength && this.heldBytes >= messagePrefixLength) {
        const length = Buffer.concat(held).readUInt32BE(1);
        if (length > this.maxReceiveBytes)
          this.refuseHeld(8, tooLargeText(length, this.maxReceiveBytes), this.heldBytes);
      }
      return;
    }
    if (reader === undefined && !this.ended) {
      const n = chunk.length;
      if (!this.upstream.destroyed) this.upstream.write(chunk, () => this.stream.consumed(n));
      else this.stream.consumed(n);
      return;
    }
    if (reader === undefined || this.request.refused !== undefined || this.ended) {
      // what follows a refused message, or an answer's end, is not read
      this.stream.consumed(chunk.length);
      return;
    }
    this.unforwarded += chunk.length;
    const refused = reader.push(chunk, this.forward);
    if (refused === undefined) return;
    this.stream.consumed(this.unforwarded);
    this.unforwarded = 0;
    this.endRequest(refused);
  }

  /** Forwards a whole message of a streaming call. */
  private readonly forward = (framed: Buffer): void => {
    const n = this.unforwarded;
    this.unforwarded = 0;
    const refused = requestUnmarshalError(this.request.path ?? "", framed.subarray(messagePrefixLength));
    if (refused !== undefined) {
      this.stream.consumed(n);
      this.reader?.stop();
      this.endRequest({ code: 13, message: streamUnmarshalText(refused) });
      return;
    }
    if (!this.upstream.destroyed) this.upstream.write(framed, () => this.stream.consumed(n));
  };

  /**
   * Ends the forwarded call's request stream where grpc-go's receive failed: the messages before
   * are answered, then the call ends with that status in place of its OK.
   */
  private endRequest(refused: RequestFailure): void {
    this.request.refused = refused;
    if (this.request.path !== WATCH_PATH) {
      if (!this.upstream.destroyed && !this.upstream.writableEnded) this.upstream.end();
      return;
    }
    // a Watch goes on after its client's end: it ends here, after what it answered so far
    this.ended = true;
    const { code, message } = refused;
    if (this.responded) this.stream.sendTrailers(statusTrailers(code, message));
    else this.stream.respond(failBlock(code, message, this.answerHeaders()), true);
    if (!this.upstream.destroyed) this.upstream.close(ErrorCode.CANCEL);
  }

  /** Answers a call of one request message with grpc-go's status for its body; grpc-js sees nothing. */
  private refuseHeld(code: number, message: string, bytes: number): void {
    this.held = undefined;
    this.stream.consumed(bytes);
    this.ended = true;
    this.stream.respond(failBlock(code, message, this.answerHeaders()), true);
    if (!this.upstream.destroyed) this.upstream.close(ErrorCode.CANCEL);
  }

  end(): void {
    const held = this.held;
    if (held !== undefined) {
      this.held = undefined;
      const body = Buffer.concat(held);
      const length = firstMessageLength(body);
      if (typeof length !== "number") {
        // grpc-go's answer to a body without one message it reads (grpc-js's differ, or serve it);
        // a server-streaming handler reads a message cut short as code 13 (grpc-go's toRPCErr)
        const code =
          length.code === 2 && length.message !== "EOF" && serverStreaming.has(this.request.path ?? "")
            ? 13
            : length.code;
        this.refuseHeld(code, length.message, body.length);
        return;
      }
      // the first message alone: grpc-go reads no further
      const message = body.subarray(0, messagePrefixLength + length);
      const path = this.request.path ?? "";
      const refused = requestUnmarshalError(path, message.subarray(messagePrefixLength));
      if (refused !== undefined) {
        const text = serverStreaming.has(path) ? streamUnmarshalText(refused) : unaryUnmarshalText(refused);
        this.refuseHeld(13, text, body.length);
        return;
      }
      if (!this.upstream.destroyed) this.upstream.write(message, () => this.stream.consumed(body.length));
    } else if (this.ended) return;
    const cut = this.reader?.end();
    if (cut !== undefined) {
      this.stream.consumed(this.unforwarded);
      this.unforwarded = 0;
      this.endRequest(cut);
      return;
    }
    if (!this.upstream.destroyed && !this.upstream.writableEnded) this.upstream.end();
  }

  /** The headers of an answer of ours: the content subtype named back, as grpc-go does. */
  private answerHeaders(): AnswerBlock | undefined {
    const type = this.request.type;
    return type === undefined || type === GRPC_TYPE ? undefined : subtypeAnswerHeaders(type);
  }

  closed(code: number): void {
    if (this.upstream.closed || this.upstream.destroyed) return;
    this.upstream.close(code === ErrorCode.NO_ERROR ? ErrorCode.CANCEL : code);
  }

  drained(): void {
    this.upstream.resume();
  }
}
