// What every stream of a unary call shares, wherever it is served (the unary fast path on the main
// thread, the client port's HTTP/2 thread): listeners bound once for all calls (a closure per call
// and event cost every request), the OK trailers, and the grpc-timeout header's meaning.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";

/** What a call does with its stream's events, and how it ends with a status. */
export interface StreamCallHandler {
  data(chunk: Buffer): void;
  end(): void;
  closed(): void;
  fail(code: number, message: string): void;
  /** Starts the call's grpc-timeout deadline of `ms` milliseconds (0: passed already). */
  startDeadline(ms: number): void;
}

/** Where a stream's call is found by the shared listeners. */
export const callOf = Symbol("call");
export type CallStream = ServerHttp2Stream & { [callOf]?: StreamCallHandler };

/**
 * The headers of an answer, unary or streamed: etcd's two (grpc-go names no encodings; a message
 * without grpc-encoding is identity-encoded). Each header costs node's conversion and packing.
 */
export const answerHeaders = { ":status": 200, "content-type": "application/grpc" };

/** The trailers of a call that succeeded: as etcd (grpc-go) sends them, with an empty message. */
export const okTrailers = { "grpc-status": "0", "grpc-message": "" };

export function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(okTrailers);
}
export function ignoreStreamError(): void {
  // a reset stream also closes; nothing can be sent on it any more
}
export function onCallData(this: CallStream, chunk: Buffer): void {
  this[callOf]?.data(chunk);
}
export function onCallEnd(this: CallStream): void {
  this[callOf]?.end();
}
export function onCallClose(this: CallStream): void {
  this[callOf]?.closed();
}

const timeoutUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 1e-6 };

/**
 * The grpc-timeout header in milliseconds, or undefined when malformed: one to eight digits and a
 * unit, as grpc-go reads it (it resets the stream of any other).
 */
export function grpcTimeoutMs(timeout: string): number | undefined {
  const last = timeout.length - 1;
  if (last < 1 || last > 8) return undefined;
  const unit = timeout[last];
  if (unit !== "H" && unit !== "M" && unit !== "S" && unit !== "m" && unit !== "u" && unit !== "n")
    return undefined;
  let n = 0;
  for (let i = 0; i < last; i++) {
    const digit = timeout.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    n = n * 10 + digit;
  }
  return (n * timeoutUnitMs[unit]) | 0;
}

/** The HTTP/2 error code of a malformed request. */
const PROTOCOL_ERROR = 1;

/**
 * Points the shared listeners at `call` and starts its grpc-timeout deadline. A malformed header
 * resets the stream, as grpc-go does.
 */
export function listenToCall(
  stream: CallStream,
  call: StreamCallHandler,
  headers: IncomingHttpHeaders,
): void {
  stream[callOf] = call;
  stream.on("error", ignoreStreamError);
  stream.on("close", onCallClose);
  const header = headers["grpc-timeout"];
  if (header !== undefined) {
    const timeout = typeof header === "string" ? header : header[0];
    const ms = grpcTimeoutMs(timeout);
    if (ms === undefined) {
      // grpc-go resets the stream (its call never starts)
      stream.close(PROTOCOL_ERROR);
      return;
    }
    call.startDeadline(ms);
  }
  stream.on("data", onCallData);
  stream.on("end", onCallEnd);
}
