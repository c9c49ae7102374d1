// The unary RPCs of the client API served straight from Node's HTTP/2 streams. grpc-js builds, for
// every call, an intercepting call, a metadata object, a stream decoder, a readable queue, listener
// chains and a deadline timer; for a one-message request and a one-message answer that bookkeeping
// cost more than the request itself (profiles of one-key ranges). This path does what a unary call
// needs and no more: the grpc-timeout deadline, the receive limit, the identity-encoded message, the
// caller's credentials, the metrics, and the same statuses and texts grpc-js sends. Everything else
// (streams, compressed requests, the handlers that wait) stays with grpc-js.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Metadata } from "@grpc/grpc-js";
import {
  DeleteRangeResponse,
  KVService,
  PutResponse,
  RangeResponse,
  TxnResponse,
} from "../../gen/etcdserverpb/rpc.js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { RequestContext } from "../../server/client-api.js";
import type { UnaryHandler } from "../client-handlers.js";
import type { GrpcMetrics, RpcMeter } from "./grpc-metrics.js";
import { toRpcStatus } from "./status.js";

/** The credentials of a call, from its metadata and its connection's peer address. */
export type CallCredentials = (call: { metadata: Metadata; getPeer(): string }) => RequestContext | undefined;

const messagePrefixLength = 5;
const responseHeaders = {
  ":status": 200,
  "content-type": "application/grpc+proto",
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
};
const okTrailers = { "grpc-status": "0", "grpc-message": "OK" };
const timeoutPattern = /(\d{1,8})\s*([HMSmun])/;
const timeoutUnitMs: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};
const noMetadata = new Metadata();

/** A generated message encoder that writes into a writer it is given. */
type Encoder = (message: never, writer: BinaryWriter) => BinaryWriter;

/**
 * The answers written straight into their gRPC frame (the key-value RPCs, most of the traffic). The
 * generated serializer of the others costs a growing writer, its copy, a Buffer copy of that, and the
 * frame's copy of the Buffer.
 */
const framedEncoders: ReadonlyMap<string, Encoder> = new Map<string, Encoder>([
  [KVService.range.path, RangeResponse.encode],
  [KVService.put.path, PutResponse.encode],
  [KVService.deleteRange.path, DeleteRangeResponse.encode],
  [KVService.txn.path, TxnResponse.encode],
]);

interface Method {
  readonly handler: UnaryHandler;
  readonly startMeter: () => RpcMeter;
  readonly encode: Encoder | undefined;
}

/** The 5-byte gRPC message prefix: not compressed, length filled in once known. */
const emptyPrefix = new Uint8Array(messagePrefixLength);
/** Frames above this size get a writer of their own (a huge range must not keep its buffer alive). */
const REUSED_WRITER_MAX_BYTES = 64 * 1024;
/** The writer answers are framed with: it grows once to the usual size and keeps its buffer. */
let frameWriter = new BinaryWriter();

/** The answer as one gRPC message frame (prefix and message in one buffer). */
function frameOf(method: Method, response: unknown): Buffer {
  if (method.encode === undefined) {
    const payload = method.handler.definition.responseSerialize(response);
    const frame = Buffer.allocUnsafe(messagePrefixLength + payload.length);
    frame[0] = 0;
    frame.writeUInt32BE(payload.length, 1);
    payload.copy(frame, messagePrefixLength);
    return frame;
  }
  let bytes: Uint8Array;
  try {
    // finish() returns an exact-size copy and leaves the writer empty for the next answer
    bytes = method.encode(response as never, frameWriter.raw(emptyPrefix)).finish();
  } catch (err) {
    frameWriter = new BinaryWriter(); // a half-written answer must not lead the next one
    throw err;
  }
  if (bytes.byteLength > REUSED_WRITER_MAX_BYTES) frameWriter = new BinaryWriter();
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  frame.writeUInt32BE(frame.length - messagePrefixLength, 1);
  return frame;
}

/**
 * Returns a stream listener that serves the unary handlers it was given (except those that wait
 * for the client) and answers false for any stream it leaves to grpc-js.
 */
export function unaryFastPath(
  handlers: Map<string, UnaryHandler>,
  metrics: GrpcMetrics,
  maxReceiveBytes: number,
  credentials: CallCredentials,
): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean {
  const methods = new Map<string, Method>();
  for (const [path, handler] of handlers) {
    if (!handler.waits)
      methods.set(path, {
        handler,
        startMeter: metrics.method(path, "unary"),
        encode: framedEncoders.get(path),
      });
  }
  return (stream, headers) => {
    const method = methods.get(headers[":path"] ?? "");
    if (method === undefined) return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    serveUnary(stream, headers, method, maxReceiveBytes, credentials);
    return true;
  };
}

// Listeners every call shares (a once() wrapper or a closure per call costs every request).
function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(okTrailers);
}
function ignoreStreamError(): void {
  // a reset stream also closes; nothing can be sent on it any more
}

function serveUnary(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  method: Method,
  maxReceiveBytes: number,
  credentials: CallCredentials,
): void {
  const meter = method.startMeter();
  let finished = false;
  let deadline: NodeJS.Timeout | undefined;
  const finish = (): boolean => {
    if (finished) return false;
    finished = true;
    if (deadline !== undefined) clearTimeout(deadline);
    return !stream.destroyed && !stream.closed;
  };
  /** A status without a message: one HEADERS frame that ends the stream (gRPC's trailers-only). */
  const fail = (code: GrpcCode, message: string) => {
    meter.handled(code);
    if (!finish()) return;
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc+proto",
        "grpc-status": String(code),
        "grpc-message": encodeURI(message),
      },
      { endStream: true },
    );
  };
  stream.on("error", ignoreStreamError);
  stream.on("close", () => {
    if (!finished) {
      finished = true;
      if (deadline !== undefined) clearTimeout(deadline);
      meter.handled(GrpcCode.Canceled);
    }
  });

  const timeoutHeader = headers["grpc-timeout"];
  if (timeoutHeader !== undefined) {
    const timeout = typeof timeoutHeader === "string" ? timeoutHeader : timeoutHeader[0];
    const match = timeoutPattern.exec(timeout);
    if (match === null) {
      fail(GrpcCode.Internal, `Invalid grpc-timeout value "${timeout}"`);
      return;
    }
    deadline = setTimeout(
      () => fail(GrpcCode.DeadlineExceeded, "Deadline exceeded"),
      (Number(match[1]) * timeoutUnitMs[match[2]]) | 0,
    );
  }

  const chunks: Buffer[] = [];
  let received = 0;
  stream.on("data", (chunk: Buffer) => {
    if (finished) return;
    chunks.push(chunk);
    received += chunk.length;
    if (received >= messagePrefixLength) {
      const head = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      const length = head.readUInt32BE(1);
      if (length > maxReceiveBytes) {
        // etcd's text (Go's grpc), which clients of etcd see for an oversize request
        fail(
          GrpcCode.ResourceExhausted,
          `grpc: received message larger than max (${length} vs. ${maxReceiveBytes})`,
        );
      }
    }
  });
  stream.on("end", () => {
    if (finished) return;
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    if (body.length < messagePrefixLength) {
      fail(
        GrpcCode.Unimplemented,
        `Received no request message for server streaming method ${headers[":path"]}`,
      );
      return;
    }
    const length = body.readUInt32BE(1);
    if (body.length > messagePrefixLength + length) {
      fail(
        GrpcCode.Unimplemented,
        `Received a second request message for server streaming method ${headers[":path"]}`,
      );
      return;
    }
    if (body.length < messagePrefixLength + length) {
      fail(GrpcCode.Internal, "Error deserializing request");
      return;
    }
    let request: unknown;
    try {
      request = method.handler.definition.requestDeserialize(body.subarray(messagePrefixLength));
    } catch {
      fail(GrpcCode.Internal, "Error deserializing request");
      return;
    }
    meter.received();
    const metadata =
      headers.token !== undefined || headers.authorization !== undefined
        ? Metadata.fromHttp2Headers(headers)
        : noMetadata;
    const getPeer = () => {
      const socket = stream.session?.socket;
      if (!socket?.remoteAddress) return "unknown";
      return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
    };
    let answer: Promise<unknown>;
    try {
      answer = method.handler.handle(request, undefined, credentials({ metadata, getPeer }));
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (response) => {
        let frame: Buffer;
        try {
          frame = frameOf(method, response);
        } catch (err) {
          const s = toRpcStatus(err);
          fail(GrpcCode.Internal, s.message);
          return;
        }
        meter.sent();
        meter.handled(GrpcCode.OK);
        if (!finish()) return;
        stream.respond(responseHeaders, { waitForTrailers: true });
        stream.on("wantTrailers", sendOkTrailers);
        stream.end(frame);
      },
      (err) => {
        const s = toRpcStatus(err);
        fail(s.code, s.message);
      },
    );
  });
}
