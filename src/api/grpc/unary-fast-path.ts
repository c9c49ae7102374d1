// The unary RPCs of the client API served straight from Node's HTTP/2 streams. grpc-js builds, for
// every call, an intercepting call, a metadata object, a stream decoder, a readable queue, listener
// chains and a deadline timer; for a one-message request and a one-message answer that bookkeeping
// cost more than the request itself (profiles of one-key ranges). This path does what a unary call
// needs and no more: the grpc-timeout deadline, the receive limit, the identity-encoded message, the
// caller's credentials, the metrics, and the same statuses and texts grpc-js sends. Everything else
// (streams, compressed requests, the handlers that wait) stays with grpc-js.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { Metadata } from "@grpc/grpc-js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { UnaryHandler } from "../client-handlers.js";
import { type CallStream, callOf, listenToCall } from "./call-stream.js";
import type { GrpcMetrics, RpcMeter } from "./grpc-metrics.js";
import { kvAnswerFrames } from "./kv-answer-frames.js";
import { kvRequestDecoders } from "./kv-request-decoders.js";
import { MethodTable } from "./method-table.js";
import { answerOk } from "./ok-answer.js";
import { grpcMessageValue } from "./status-text.js";
import { type CallCredentials, UnaryCallBase, type UnaryMethod } from "./unary-call-base.js";
import { checkedDecoder } from "./unmarshal-errors.js";

/** A status without a message ends the stream with its headers (no `date` either). */
const failOptions = { endStream: true, sendDate: false };

/** The unary handlers served without grpc-js: all but those that wait for the client. */
export function unaryMethods(
  handlers: ReadonlyMap<string, UnaryHandler>,
  metrics: GrpcMetrics,
): Map<string, UnaryMethod> {
  const methods = new Map<string, UnaryMethod>();
  for (const [path, handler] of handlers) {
    if (!handler.waits)
      methods.set(path, {
        handler,
        startMeter: metrics.method(path, "unary"),
        frame: kvAnswerFrames.get(path),
        decode: checkedDecoder(path, kvRequestDecoders.get(path) ?? handler.definition.requestDeserialize),
      });
  }
  return methods;
}

/**
 * Returns a stream listener that serves the unary handlers it was given (except those that wait
 * for the client), refuses gRPC calls of no method in `served` and compressed ones as grpc-go does,
 * and answers false for any stream it leaves to grpc-js.
 */
export function unaryFastPath(
  handlers: Map<string, UnaryHandler>,
  metrics: GrpcMetrics,
  maxReceiveBytes: number,
  credentials: CallCredentials,
  served: MethodTable = new MethodTable(),
): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean {
  const methods = unaryMethods(handlers, metrics);
  return (stream, headers) => {
    const path = headers[":path"] ?? "";
    const method = methods.get(path);
    const encoding = headers["grpc-encoding"] as string | undefined;
    if (method === undefined || (encoding !== undefined && encoding !== "identity"))
      return refuse(stream, headers, served, path, encoding);
    serveUnary(stream, headers, method, maxReceiveBytes, credentials);
    return true;
  };
}

/**
 * Answers as grpc-go does a gRPC request for no served method, or with an encoding etcd cannot read
 * (it installs no decompressor, gzip included); false for what grpc-js and the HTTP handlers serve.
 */
function refuse(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  served: MethodTable,
  path: string,
  encoding: string | undefined,
): boolean {
  const type = headers["content-type"];
  if (type === undefined || !type.startsWith("application/grpc")) return false;
  const unserved = served.unserved(path);
  if (unserved !== undefined) {
    failAsGrpcGo(stream, unserved.code, unserved.message);
    return true;
  }
  if (encoding === undefined || encoding === "identity") return false;
  failAsGrpcGo(
    stream,
    GrpcCode.Unimplemented,
    `grpc: Decompressor is not installed for grpc-encoding "${encoding}"`,
  );
  return true;
}

/** A trailers-only answer with one of grpc-go's texts, encoded as grpc-go encodes it. */
function failAsGrpcGo(stream: ServerHttp2Stream, code: number, message: string): void {
  stream.on("error", () => {});
  stream.respond(
    {
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": String(code),
      "grpc-message": grpcMessageValue(message),
    },
    failOptions,
  );
}

/**
 * One unary call on Node's stream: the shared listeners find it on the stream (no closure per call),
 * and it is the caller's view for `CallCredentials` (its metadata and peer).
 */
class UnaryCall extends UnaryCallBase {
  constructor(
    private readonly stream: CallStream,
    private readonly headers: IncomingHttpHeaders,
    method: UnaryMethod,
    meter: RpcMeter,
    maxReceiveBytes: number,
    credentials: CallCredentials,
  ) {
    super(method, meter, maxReceiveBytes, credentials);
  }

  start(): void {
    listenToCall(this.stream, this, this.headers);
  }

  getPeer(): string {
    const socket = this.stream.session?.socket;
    if (!socket?.remoteAddress) return "unknown";
    return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
  }

  protected writable(): boolean {
    return !this.stream.destroyed && !this.stream.closed;
  }

  /**
   * Unlinks the call from its stream. Node's HTTP/2 streams outlive their calls in the heap: most
   * closed streams survive young-generation collections and are promoted, however short their life
   * (only a full collection frees them). Unlinked from its stream, the call and what it holds (the
   * request's headers, the deadline timer, the metadata) die young instead of going to old space with
   * it: about 15 % less promoted per put under 256 clients.
   */
  protected override released(): void {
    this.stream[callOf] = undefined;
  }

  protected sendFailure(code: GrpcCode, message: string): void {
    this.stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(code),
        "grpc-message": grpcMessageValue(message),
      },
      failOptions,
    );
  }

  protected sendAnswer(frame: Buffer): void {
    answerOk(this.stream, frame);
  }

  protected tokenMetadata(): Metadata | undefined {
    const { headers } = this;
    if (headers.token === undefined && headers.authorization === undefined) return undefined;
    return Metadata.fromHttp2Headers(headers);
  }
}

function serveUnary(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  method: UnaryMethod,
  maxReceiveBytes: number,
  credentials: CallCredentials,
): void {
  new UnaryCall(stream, headers, method, method.startMeter(), maxReceiveBytes, credentials).start();
}
