// What every stream of a unary call shares, wherever it is served (the unary fast path on the main
// thread, the client port's HTTP/2 thread): listeners bound once for all calls (a closure per call
// and event cost every request), the OK trailers, and the grpc-timeout header's meaning.
import type { ServerHttp2Stream } from "node:http2";

/** What a call does with its stream's events. */
export interface StreamCallHandler {
  data(chunk: Buffer): void;
  end(): void;
  closed(): void;
}

/** Where a stream's call is found by the shared listeners. */
export const callOf = Symbol("call");
export type CallStream = ServerHttp2Stream & { [callOf]?: StreamCallHandler };

/** The trailers of a call that succeeded. */
export const okTrailers = { "grpc-status": "0", "grpc-message": "OK" };

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
  const match = timeoutPattern.exec(timeout);
  if (match === null) return undefined;
  return (Number(match[1]) * timeoutUnitMs[match[2]]) | 0;
}
