// The HTTP/JSON gateway under /v3/: etcd 3.4's grpc-gateway, answering from the same handlers as
// the gRPC services. Unary calls read the whole body; streaming calls read JSON values as they
// arrive and write each answer as one chunk holding one line {"result":...}.
import type { IncomingMessage, ServerResponse } from "node:http";
import { StringDecoder } from "node:string_decoder";
import type { TLSSocket } from "node:tls";
import type { DescMessage } from "@bufbuild/protobuf";
import {
  LeaseService,
  MaintenanceService,
  type WatchRequest,
  type WatchResponse,
  WatchService,
} from "../../gen/etcdserverpb/rpc.js";
import { ElectionService, type LeaderRequest } from "../../gen/v3electionpb/v3election.js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { ClientApi, RequestContext } from "../../server/client-api.js";
import {
  type ClientLimits,
  keepAliveResponse,
  leaderObserver,
  type MethodDefinition,
  snapshotMessages,
  type UnaryHandler,
  unimplemented,
} from "../client-handlers.js";
import { type ConnectionBudgets, connectionName, TOO_MANY } from "../connection-limits.js";
import type { GrpcMetrics } from "../grpc/grpc-metrics.js";
import { grpcOverheadBytes } from "../grpc/grpc-services.js";
import { type RpcStatus, toRpcStatus } from "../grpc/status.js";
import { encodeWatchResponse } from "../grpc/watch-response-encoder.js";
import { httpRequestContext } from "../request-context.js";
import { GATEWAY_DEADLINE_STATUS, gatewayTimeoutMs } from "./gateway-deadline.js";
import { JsonIncomplete, type JsonValue, JsonValueReader } from "./go-json.js";
import {
  errorBody,
  goJsonEscape,
  httpStatusOf,
  plainError,
  replyDecodeError,
  replyJson,
  replyRpcError,
  streamErrorLine,
} from "./http-replies.js";
import { type Abridged, decodeAbridged, JsonAbridger, RUN_TAIL_CHARS } from "./json-abridger.js";
import { jsonToWire, parseBody, protoRegistry, wireToJson } from "./json-codec.js";
import { JsonSyntaxScanner, type ScanVerdict } from "./json-syntax-scanner.js";
import type { EndableStream, OpenStreams } from "./open-streams.js";
import { gatewayRoutes } from "./routes.js";

interface MethodDescs {
  input: DescMessage;
  output: DescMessage;
}

/** Input and output message descriptors of a gRPC path ("/pkg.Service/Method"). */
function methodDescs(grpcPath: string): MethodDescs {
  const [, service, method] = grpcPath.split("/");
  const m = protoRegistry.getService(service)?.methods.find((x) => x.name === method);
  if (!m) throw new Error(`no descriptor for ${grpcPath}`);
  return { input: m.input, output: m.output };
}

export type GatewayHandler = (req: IncomingMessage, res: ServerResponse, path: string) => void;

/** etcd's answer to a gateway request with a named client certificate while auth is on. */
const IGNORED_COMMON_NAME =
  "CommonName of client sending a request against gateway will be ignored and not used as expected";

export function createGateway(
  api: ClientApi,
  handlers: Map<string, UnaryHandler>,
  limits: ClientLimits,
  metrics: GrpcMetrics,
  options: { clientCertAuth?: boolean; openStreams?: OpenStreams; budgets?: ConnectionBudgets } = {},
): GatewayHandler {
  const maxMessageBytes = limits.maxRequestBytes + grpcOverheadBytes;
  // Base64 makes a body about 4/3 of its message; anything far beyond cannot be a valid request.
  const maxBodyBytes = 2 * maxMessageBytes;
  const streamLimits: StreamLimits = { maxPending: maxBodyBytes, maxMessageBytes };
  const tooBig = (size: number): RpcStatus => ({
    code: GrpcCode.ResourceExhausted,
    message: `grpc: received message larger than max (${size} vs. ${maxMessageBytes})`,
  });

  const unary = (req: IncomingMessage, res: ServerResponse, handler: UnaryHandler, descs: MethodDescs) => {
    const timeoutHeader = req.headers["grpc-timeout"];
    const timeoutMs = gatewayTimeoutMs(timeoutHeader);
    if (timeoutMs === "invalid") return replyRpcError(res, invalidTimeout(timeoutHeader));
    const deadlineAt = performance.now() + (timeoutMs ?? Number.POSITIVE_INFINITY);
    // Grpc-Timeout: once it passes the client's answer is the deadline's, and a call that waits gives up
    let expired = false;
    const gone = handler.waits ? new AbortController() : undefined;
    const deadline =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => {
              expired = true;
              gone?.abort();
              if (!res.headersSent && !res.destroyed) replyRpcError(res, GATEWAY_DEADLINE_STATUS);
            },
            Math.max(0, timeoutMs),
          );
    if (deadline !== undefined || gone !== undefined)
      res.on("close", () => {
        if (deadline !== undefined) clearTimeout(deadline);
        gone?.abort();
      });
    readWholeBody(req, maxBodyBytes)
      .then(
        async (body) => {
          if (expired) return;
          // as etcd, which decodes any body whole: a malformed body is a bad request, and so is one
          // whose fields have the wrong types; a well-formed one is too large when its message is
          if (body.syntaxError !== undefined)
            return replyDecodeError(res, { code: GrpcCode.InvalidArgument, message: body.syntaxError });
          const abridged = body.kind === "too-large" ? body.abridged : undefined;
          if (abridged?.kind === "none") return replyRpcError(res, tooBig(maxBodyBytes));
          let wire: Uint8Array;
          let size: number;
          try {
            const parse = (text: string) => parseBody(descs.input, text);
            if (body.kind === "text") size = (wire = parse(body.text)).length;
            else if (abridged?.kind === "abridged") ({ wire, size } = decodeAbridged(abridged, parse));
            else return replyRpcError(res, tooBig(maxBodyBytes));
          } catch (err) {
            return replyDecodeError(res, { code: GrpcCode.InvalidArgument, message: errorText(err) });
          }
          // etcd's gateway calls its client with the deadline as its context: one passed by then (a negative
          // timeout, or nanoseconds) is refused before the call is sent, and the handler never runs
          if (performance.now() >= deadlineAt) {
            expired = true;
            clearTimeout(deadline);
            return replyRpcError(res, GATEWAY_DEADLINE_STATUS);
          }
          if (size > maxMessageBytes) return replyRpcError(res, tooBig(size));
          const meter = metrics.start(handler.definition.path, "unary");
          meter.received();
          try {
            const def = handler.definition as MethodDefinition<unknown, unknown>;
            const resp = await handler.handle(
              def.requestDeserialize(Buffer.from(wire.buffer, wire.byteOffset, wire.byteLength)),
              gone?.signal,
              httpRequestContext(req.headers),
            );
            if (expired) return;
            const json = goJsonEscape(wireToJson(descs.output, def.responseSerialize(resp)));
            meter.sent();
            meter.handled(GrpcCode.OK);
            replyJson(res, json);
          } catch (err) {
            if (expired) return;
            const status = toRpcStatus(err);
            meter.handled(status.code);
            replyRpcError(res, status);
          }
        },
        () => res.destroy(),
      )
      .catch((err) => failRequest(res, err));
  };

  const observe = leaderObserver(api, handlers);

  return (req, res, path) => {
    const grpcPath = gatewayRoutes.get(path);
    if (grpcPath === undefined) return plainError(res, 404, "Not Found");
    if (req.method !== "POST") return plainError(res, 405, "Method Not Allowed");
    // the gateway never takes a certificate's name for a user; etcd refuses such requests outright
    if (options.clientCertAuth && api.auth?.enabled && certificateName(req) !== undefined)
      return plainError(res, 400, IGNORED_COMMON_NAME);
    const descs = methodDescs(grpcPath);
    const handler = handlers.get(grpcPath);
    if (handler) return unary(req, res, handler, descs);
    // a stream's Grpc-Timeout is its deadline too (grpc-gateway reads it for every call)
    const timeoutHeader = req.headers["grpc-timeout"];
    const timeoutMs = gatewayTimeoutMs(timeoutHeader);
    if (timeoutMs === "invalid") return replyRpcError(res, invalidTimeout(timeoutHeader));
    const lines = new LineWriter(res, options.openStreams);
    if (timeoutMs !== undefined) lines.startDeadline(timeoutMs);
    const { budgets } = options;
    if (grpcPath === WatchService.watch.path)
      return lines.expired
        ? lines.deadlinePassed()
        : gatewayWatch(api, req, lines, descs, streamLimits, budgets);
    // the caller's token (etcd's gateway forwards the Authorization header as gRPC metadata)
    const ctx = httpRequestContext(req.headers);
    if (grpcPath === LeaseService.leaseKeepAlive.path) {
      if (lines.expired) return lines.deadlinePassed();
      const closeSlot = budgets?.openKeepAlive(connectionName(req.socket));
      if (budgets && closeSlot === undefined) return lines.fail(toRpcStatus(TOO_MANY));
      if (closeSlot) lines.res.once("close", closeSlot);
      return gatewayKeepAlive(api, req, lines, descs, ctx, streamLimits);
    }
    if (grpcPath === MaintenanceService.snapshot.path) {
      readWholeBody(req, maxBodyBytes)
        .then(
          (body) => {
            try {
              if (body.syntaxError !== undefined) throw new Error(body.syntaxError);
              parseBody(descs.input, body.kind === "text" ? body.text : "");
            } catch (err) {
              return replyDecodeError(res, { code: GrpcCode.InvalidArgument, message: errorText(err) });
            }
            if (lines.expired) return lines.deadlinePassed();
            void lines.pipe(
              snapshotMessages(api, ctx),
              MaintenanceService.snapshot.responseSerialize,
              descs.output,
            );
          },
          () => res.destroy(),
        )
        .catch((err) => failRequest(res, err));
      return;
    }
    if (grpcPath === ElectionService.observe.path) {
      readWholeBody(req, maxBodyBytes)
        .then(
          (body) => {
            let wire: Uint8Array;
            try {
              if (body.syntaxError !== undefined) throw new Error(body.syntaxError);
              wire = parseBody(descs.input, body.kind === "text" ? body.text : "");
            } catch (err) {
              return replyDecodeError(res, { code: GrpcCode.InvalidArgument, message: errorText(err) });
            }
            if (lines.expired) return lines.deadlinePassed();
            const gone = new AbortController();
            res.on("close", () => gone.abort());
            let request: LeaderRequest;
            try {
              request = ElectionService.observe.requestDeserialize(Buffer.from(wire));
            } catch (err) {
              return replyRpcError(res, toRpcStatus(err));
            }
            void lines.pipe(
              observe(request, gone.signal, ctx),
              ElectionService.observe.responseSerialize,
              descs.output,
            );
          },
          () => res.destroy(),
        )
        .catch((err) => failRequest(res, err));
      return;
    }
    lines.fail(toRpcStatus(unimplemented(grpcPath)));
  };
}

/** The Common Name of the request's verified TLS client certificate, if any. */
function certificateName(req: IncomingMessage): string | undefined {
  const socket = req.socket as TLSSocket;
  if (!socket.encrypted || !socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/** Last resort for an unexpected failure: answer it if nothing was sent yet, never take the server down. */
function failRequest(res: ServerResponse, err: unknown): void {
  if (!res.headersSent) replyRpcError(res, toRpcStatus(err));
  else res.destroy();
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A request body: its text, what is known of one too large to hold, or the syntax error that ended it. */
type Body =
  | { kind: "text"; text: string; syntaxError?: undefined }
  | { kind: "too-large"; syntaxError?: string; abridged: Abridged }
  | { kind: "malformed"; syntaxError: string };

/** Characters of an abridged copy of a large body worth keeping (structure and short strings). */
const MAX_ABRIDGED_CHARS = 64 * 1024;

/**
 * Characters at the start of a body whose syntax is checked as they arrive. Go's json.Decoder stops
 * reading at the first syntax error, so etcd answers a malformed body (megabytes of "{", say) at once;
 * checking its start is enough to do the same without holding the rest.
 */
const EARLY_SCAN_CHARS = 64 * 1024;

/**
 * The whole body as text. A body above `limit` bytes (or declaring more in Content-Length) is not
 * kept: its first JSON value is only checked as it streams past, since etcd answers a malformed body
 * with its syntax error whatever its size. Chunks are decoded as they arrive, so the body is held
 * once, as text. A syntax error in the body's first 64 KiB (or anywhere in a body too large to hold)
 * settles it at once: the rest is read and dropped.
 */
function readWholeBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const decoder = new StringDecoder("utf8");
    /** The body's text so far; undefined once it is known to be too large to hold. */
    let held: string[] | undefined = [];
    let heldChars = 0;
    let size = 0;
    let scanner: JsonSyntaxScanner | undefined = new JsonSyntaxScanner();
    let abridger: JsonAbridger | undefined;
    let settled = false;
    const settle = (body: Body) => {
      settled = true;
      held = undefined;
      scanner = undefined;
      abridger = undefined;
      resolve(body);
    };
    /** Settles the body as malformed when the syntax check says so; true then. */
    const settleIfMalformed = (verdict: ScanVerdict | undefined): boolean => {
      if (verdict?.kind !== "error") return false;
      settle({ kind: "malformed", syntaxError: verdict.message });
      return true;
    };
    /** Feeds the syntax check; true when the body turned out malformed (and is settled). */
    const check = (text: string): boolean => settleIfMalformed(scanner?.feed(text));
    /** Text of a body too large to hold: checked and abridged, not kept. */
    const pass = (text: string) => {
      if (!check(text)) abridger?.feed(text);
    };
    /**
     * A chunk of a body too large to hold. Its first bytes become text only when the check or the
     * abridged copy needs them: the middle of a long string (megabytes of base64, say) is only counted,
     * so that a large body does not turn into megabytes of short-lived strings (each scavenge in
     * between keeps the one in hand, and V8 grows its young generation by what scavenges keep).
     */
    const passChunk = (chunk: Buffer) => {
      let seen = 0;
      if (abridger?.failed && scanner) {
        // nothing is copied any more: the check reads the chunk's ASCII start as bytes
        seen = asciiPrefixLength(chunk);
        if (seen > 0 && settleIfMalformed(scanner.feedAscii(chunk.subarray(0, seen)))) return;
      } else if (scanner?.inString && abridger?.inBase64Run()) {
        seen = base64PrefixLength(chunk);
        if (seen > 0)
          abridger.takeRun(chunk.toString("latin1", Math.max(0, seen - RUN_TAIL_CHARS), seen), seen);
      }
      if (seen < chunk.length) pass(decoder.write(seen === 0 ? chunk : chunk.subarray(seen)));
    };
    const giveUpHolding = () => {
      const pieces = held ?? [];
      held = undefined;
      scanner = new JsonSyntaxScanner();
      abridger = new JsonAbridger(MAX_ABRIDGED_CHARS);
      for (const piece of pieces) if (!settled) pass(piece);
    };
    if (Number(req.headers["content-length"]) > limit) giveUpHolding();
    req.on("data", (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (held !== undefined && size > limit) giveUpHolding();
      if (held === undefined) {
        passChunk(chunk);
        return;
      }
      const text = decoder.write(chunk);
      // the start of a held body is checked as it comes; the rest is checked by its parse
      if (heldChars < EARLY_SCAN_CHARS && check(text)) return;
      if (heldChars >= EARLY_SCAN_CHARS) scanner = undefined;
      held.push(text);
      heldChars += text.length;
    });
    req.on("end", () => {
      if (settled) return;
      const rest = decoder.end();
      if (held !== undefined) {
        held.push(rest);
        return settle({ kind: "text", text: held.join("") });
      }
      pass(rest);
      if (settled || scanner === undefined || abridger === undefined) return;
      const verdict = scanner.end();
      const abridged = abridger.result();
      settle(
        verdict.kind === "error"
          ? { kind: "too-large", syntaxError: verdict.message, abridged }
          : { kind: "too-large", abridged },
      );
    });
    req.on("error", (err) => {
      if (!settled) reject(err);
    });
  });
}

/**
 * How many bytes at the start of a chunk are ASCII: text the syntax check can read as bytes. A
 * character cut between two chunks is still being decoded, and none of its bytes is ASCII.
 */
function asciiPrefixLength(chunk: Buffer): number {
  let i = 0;
  while (i < chunk.length && chunk[i] < 0x80) i++;
  return i;
}

/** How many bytes at the start of a chunk are base64's alphabet (what a long string's middle holds). */
function base64PrefixLength(chunk: Buffer): number {
  let i = 0;
  while (i < chunk.length && isBase64Byte(chunk[i])) i++;
  return i;
}

const isBase64Byte = (c: number) =>
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x2b ||
  c === 0x2f;

/**
 * Finds where top-level JSON values end in text arriving in pieces (strings and nesting tracked
 * across pieces), so a streaming body is parsed once per value instead of once per piece.
 */
class TopLevelScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;

  /** Scans more text; true when a top-level value may have ended in it. */
  feed(text: string): boolean {
    let ended = false;
    for (let i = 0; i < text.length; i++) if (this.step(text.charCodeAt(i))) ended = true;
    return ended;
  }

  /**
   * The same for UTF-8 bytes not decoded yet: only ASCII characters matter here, and no byte of a
   * longer character is one.
   */
  feedBytes(bytes: Uint8Array): boolean {
    let ended = false;
    for (let i = 0; i < bytes.length; i++) if (this.step(bytes[i])) ended = true;
    return ended;
  }

  /** One character (or byte); true when a top-level value may have ended with it. */
  private step(c: number): boolean {
    if (this.inString) {
      if (this.escaped) this.escaped = false;
      else if (c === 0x5c) this.escaped = true;
      else if (c === 0x22) {
        this.inString = false;
        return this.depth === 0;
      }
      return false;
    }
    if (c === 0x22) this.inString = true;
    else if (c === 0x7b || c === 0x5b) this.depth++;
    else if (c === 0x7d || c === 0x5d) {
      this.depth = Math.max(0, this.depth - 1);
      return this.depth === 0;
    } else return this.depth === 0 && c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d;
    return false;
  }
}

/** grpc-gateway's answer to a Grpc-Timeout it cannot read. */
function invalidTimeout(header: string | string[] | undefined): RpcStatus {
  return {
    code: GrpcCode.InvalidArgument,
    message: `invalid grpc-timeout: ${Array.isArray(header) ? header[0] : header}`,
  };
}

/** Writes a gateway response stream: headers with the first line, one chunk per message. */
class LineWriter implements EndableStream {
  private started = false;
  /** When the stream's Grpc-Timeout passes (performance.now() ms). */
  private deadlineAt = Number.POSITIVE_INFINITY;
  constructor(
    readonly res: ServerResponse,
    openStreams?: OpenStreams,
  ) {
    if (openStreams) res.once("close", openStreams.track(this));
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }

  private start(status: number): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(status, {
      "Content-Type": "application/json",
      "Grpc-Metadata-Content-Type": "application/grpc",
    });
  }

  /** Writes one message line; false when the response's buffer is full (wait for "drain"). */
  result(json: string): boolean {
    if (this.closed) return true;
    this.start(200);
    return this.res.write(`{"result":${goJsonEscape(json)}}\n`);
  }

  /** The stream ended normally. */
  end(): void {
    if (this.closed) return;
    this.start(200);
    this.res.end();
  }

  /** The RPC failed: an error line, with the mapped status if nothing was sent yet. */
  fail(status: RpcStatus): void {
    if (this.closed) return;
    this.start(httpStatusOf(status.code));
    this.res.end(streamErrorLine(status));
  }

  endWith(status: RpcStatus): Promise<void> {
    if (this.closed) return Promise.resolve();
    const over = new Promise<void>((resolve) => this.res.once("close", () => resolve()));
    this.fail(status);
    return over;
  }

  /** Starts the stream's deadline of `ms` milliseconds (passed already when not positive). */
  startDeadline(ms: number): void {
    this.deadlineAt = performance.now() + ms;
    const timer = setTimeout(() => this.deadlinePassed(), Math.max(0, ms));
    this.res.once("close", () => clearTimeout(timer));
  }

  /** Whether the deadline has passed (a call that would start now is refused, as etcd's gateway client does). */
  get expired(): boolean {
    return performance.now() >= this.deadlineAt;
  }

  /**
   * The deadline passed. grpc-gateway waits for a stream's headers, which come with its first message: before that
   * it answers like a unary call (504 and an error body); after, the stream ends with an error line.
   */
  deadlinePassed(): void {
    if (this.closed) return;
    if (this.started) {
      this.fail(GATEWAY_DEADLINE_STATUS);
      return;
    }
    this.started = true;
    replyRpcError(this.res, GATEWAY_DEADLINE_STATUS);
  }

  /** The first request message could not be read: the gateway answers 500 with code Unknown. */
  badFirstMessage(message: string): void {
    if (this.closed || this.started) return;
    this.started = true;
    const body = errorBody({ code: GrpcCode.Unknown, message });
    this.res.writeHead(500, {
      "Content-Type": "application/json",
      "Content-Length": Buffer.byteLength(body),
    });
    this.res.end(body);
  }

  async pipe<T>(messages: AsyncIterable<T>, serialize: (m: T) => Buffer, desc: DescMessage): Promise<void> {
    try {
      for await (const m of messages) {
        if (this.closed) return;
        this.result(wireToJson(desc, serialize(m)));
      }
      this.end();
    } catch (err) {
      this.fail(toRpcStatus(err));
    }
  }
}

/** The bounds of a streaming request body's messages. */
interface StreamLimits {
  /** The most JSON text held for one unfinished value. */
  maxPending: number;
  /** The gRPC receive limit (--max-request-bytes plus gRPC's overhead) of each decoded message. */
  maxMessageBytes: number;
}

/**
 * Reads the JSON values of a streaming request body as they arrive. A bad first value is reported
 * through `onBadFirst`; a bad later value ends the client's side quietly, as grpc-gateway does. A
 * message over the gRPC receive limit ends the stream through `onTooLarge` with the status etcd's
 * server gives it (its gateway relays it as the stream's error line).
 */
function readBodyMessages(
  req: IncomingMessage,
  limits: StreamLimits,
  input: DescMessage,
  onMessage: (wire: Uint8Array) => void,
  onBadFirst: (message: string) => void,
  onEnd: () => void,
  onTooLarge: (status: RpcStatus) => void,
): void {
  const { maxPending, maxMessageBytes } = limits;
  const decoder = new StringDecoder("utf8");
  let text = "";
  let count = 0;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    onEnd();
  };
  const tooLarge = (size: number) => {
    if (done) return;
    done = true;
    onTooLarge({
      code: GrpcCode.ResourceExhausted,
      message: `grpc: received message larger than max (${size} vs. ${maxMessageBytes})`,
    });
  };
  const fail = (message: string) => {
    if (done) return;
    if (count === 0) {
      done = true;
      onBadFirst(message);
    } else finish();
  };
  const drain = (atEnd: boolean) => {
    while (!done) {
      const reader = new JsonValueReader(text);
      let value: JsonValue | undefined;
      try {
        value = reader.next();
      } catch (err) {
        if (err instanceof JsonIncomplete && !atEnd) return;
        return fail(errorText(err));
      }
      if (value === undefined) {
        text = "";
        return;
      }
      text = text.slice(reader.offset);
      let wire: Uint8Array;
      try {
        wire = jsonToWire(input, value);
      } catch (err) {
        return fail(errorText(err));
      }
      if (wire.length > maxMessageBytes) return tooLarge(wire.length);
      count++;
      onMessage(wire);
    }
  };
  // each value is parsed once, when the scanner saw it end; an unfinished one has a size limit
  const scanner = new TopLevelScanner();
  // a first value too large to hold is only checked for syntax as it streams past (etcd reports a
  // malformed one's syntax error, whatever its size)
  let oversized: JsonSyntaxScanner | undefined;
  let oversizedLength = 0;
  const judgeOversized = (verdict: ScanVerdict) => {
    if (verdict.kind === "error") fail(verdict.message);
    // (its size here is the value's length in characters: the message itself is never decoded)
    else if (verdict.kind === "complete") tooLarge(oversizedLength);
  };
  // the start of the first value is checked as it comes: Go's decoder answers a malformed one at
  // once, without waiting for the rest of it (or for the end of a stream that never ends)
  let early: JsonSyntaxScanner | undefined = new JsonSyntaxScanner();
  let earlyChars = 0;
  // Past the early check, what arrives is held as the bytes it came in until the scanner sees a value
  // end, and only then decoded: a large first value that never completes never becomes text (strings
  // held across scavenges are what V8 grows its young generation by; bytes live outside it).
  let held: Buffer[] = [];
  let heldBytes = 0;
  const takeHeld = () => {
    if (held.length === 0) return;
    text += decoder.write(held.length === 1 ? held[0] : Buffer.concat(held));
    held = [];
    heldBytes = 0;
  };
  /** A chunk of a first value too large to hold: checked as it streams past, its ASCII start as bytes. */
  const passOversized = (checker: JsonSyntaxScanner, chunk: Buffer) => {
    const ascii = asciiPrefixLength(chunk);
    let verdict = checker.feedAscii(chunk.subarray(0, ascii));
    oversizedLength += ascii;
    if (ascii < chunk.length) {
      const more = decoder.write(chunk.subarray(ascii));
      oversizedLength += more.length;
      if (verdict.kind === "more") verdict = checker.feed(more);
    }
    judgeOversized(verdict);
  };

  req.on("data", (chunk: Buffer) => {
    if (done) return;
    if (oversized) return passOversized(oversized, chunk);
    if (early !== undefined && count === 0 && earlyChars < EARLY_SCAN_CHARS) {
      const more = decoder.write(chunk);
      earlyChars += more.length;
      const verdict = early.feed(more);
      if (verdict.kind === "error") {
        text = "";
        return fail(verdict.message);
      }
      if (verdict.kind === "complete") early = undefined;
      text += more;
      if (scanner.feed(more)) drain(false);
    } else {
      early = undefined;
      held.push(chunk);
      heldBytes += chunk.length;
      if (scanner.feedBytes(chunk)) {
        takeHeld();
        drain(false);
      }
    }
    const pending = text.length + heldBytes;
    if (!done && pending > maxPending) {
      if (count === 0) {
        const checker = new JsonSyntaxScanner();
        oversized = checker;
        oversizedLength = text.length;
        const start = text;
        const rest = held;
        text = "";
        held = [];
        heldBytes = 0;
        judgeOversized(checker.feed(start));
        for (const piece of rest) if (!done) passOversized(checker, piece);
      } else tooLarge(pending);
      req.resume();
    }
  });
  req.on("end", () => {
    if (oversized && !done) {
      const verdict = oversized.feed(decoder.end());
      judgeOversized(verdict.kind === "more" ? oversized.end() : verdict);
      return finish();
    }
    takeHeld();
    text += decoder.end();
    drain(true);
    finish();
  });
  req.on("error", finish);
}

function gatewayWatch(
  api: ClientApi,
  req: IncomingMessage,
  lines: LineWriter,
  descs: MethodDescs,
  limits: StreamLimits,
  budgets: ConnectionBudgets | undefined,
): void {
  const stream = api.watchStream(
    httpRequestContext(req.headers),
    budgets ? { admission: budgets.watchers(connectionName(req.socket)) } : undefined,
  );
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    stream.close();
  };
  // as on gRPC: while the client does not read, neither its requests are read nor events handed out
  let held = false;
  stream.onResponse((resp: WatchResponse) => {
    if (!open) return;
    if (lines.result(wireToJson(descs.output, encodeWatchResponse(resp))) || held) return;
    held = true;
    stream.pause?.();
    req.pause();
    lines.res.once("drain", () => {
      held = false;
      stream.resume?.();
      req.resume();
    });
  });
  readBodyMessages(
    req,
    limits,
    descs.input,
    (wire) => {
      if (!open) return;
      try {
        const request: WatchRequest = WatchService.watch.requestDeserialize(Buffer.from(wire));
        stream.request(request);
      } catch (err) {
        close();
        lines.fail(toRpcStatus(err));
      }
    },
    (message) => {
      close();
      lines.badFirstMessage(message);
    },
    // The end of the request body only half-closes the watch: events keep coming.
    () => {},
    (status) => {
      close();
      lines.fail(status);
    },
  );
  lines.res.on("close", close);
}

function gatewayKeepAlive(
  api: ClientApi,
  req: IncomingMessage,
  lines: LineWriter,
  descs: MethodDescs,
  ctx: RequestContext | undefined,
  limits: StreamLimits,
): void {
  let queue: Promise<void> = Promise.resolve();
  let failed = false;
  readBodyMessages(
    req,
    limits,
    descs.input,
    (wire) => {
      queue = queue.then(async () => {
        if (failed || lines.closed) return;
        try {
          const { ID } = LeaseService.leaseKeepAlive.requestDeserialize(Buffer.from(wire));
          const resp = await keepAliveResponse(api, ID, ctx);
          lines.result(wireToJson(descs.output, LeaseService.leaseKeepAlive.responseSerialize(resp)));
        } catch (err) {
          failed = true;
          lines.fail(toRpcStatus(err));
        }
      });
    },
    (message) => lines.badFirstMessage(message),
    () => {
      void queue.then(() => {
        if (!failed) lines.end();
      });
    },
    (status) => {
      // after the answers to the messages before it
      void queue.then(() => {
        if (failed) return;
        failed = true;
        lines.fail(status);
      });
    },
  );
}
