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

const timeoutPattern = /(\d{1,8})\s*([HMSmun])/;
const timeoutUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 1e-6 };

/** The grpc-timeout header in milliseconds (up to 8 digits and a unit), or undefined when malformed. */
export function grpcTimeoutMs(timeout: string): number | undefined {
  // what clients send (digits and a unit, nothing else) is read without a match object; the rest as the pattern reads it
  const last = timeout.length - 1;
  const unit = last >= 1 && last <= 8 ? timeout[last] : "";
  if (unit === "H" || unit === "M" || unit === "S" || unit === "m" || unit === "u" || unit === "n") {
    let n = 0;
    for (let i = 0; i < last; i++) {
      const digit = timeout.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return timeoutByPattern(timeout);
      n = n * 10 + digit;
    }
    return (n * timeoutUnitMs[unit]) | 0;
  }
  return timeoutByPattern(timeout);
}

function timeoutByPattern(timeout: string): number | undefined {
  const match = timeoutPattern.exec(timeout);
  if (match === null) return undefined;
  return (Number(match[1]) * timeoutUnitMs[match[2]]) | 0;
}

/** gRPC status codes a call's start answers with. */
const DEADLINE_EXCEEDED = 4;
const INTERNAL = 13;

/**
 * Points the shared listeners at `call` and starts its grpc-timeout deadline (the timer, to clear
 * when the call ends). A malformed header fails the call at once, with grpc-js's status and text.
 */
export function listenToCall(
  stream: CallStream,
  call: StreamCallHandler,
  headers: IncomingHttpHeaders,
): NodeJS.Timeout | undefined {
  stream[callOf] = call;
  stream.on("error", ignoreStreamError);
  stream.on("close", onCallClose);
  const header = headers["grpc-timeout"];
  let deadline: NodeJS.Timeout | undefined;
  if (header !== undefined) {
    const timeout = typeof header === "string" ? header : header[0];
    const ms = grpcTimeoutMs(timeout);
    if (ms === undefined) {
      call.fail(INTERNAL, `Invalid grpc-timeout value "${timeout}"`);
      return undefined;
    }
    deadline = setTimeout(() => call.fail(DEADLINE_EXCEEDED, "Deadline exceeded"), ms);
  }
  stream.on("data", onCallData);
  stream.on("end", onCallEnd);
  return deadline;
}
