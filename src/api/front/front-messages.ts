// What the main thread and the client port's HTTP/2 thread tell each other besides the call and answer
// batches (call-batch.ts): the thread's start options, and its reports. Checked on arrival: they cross
// a structured-clone boundary, where the types of either side's code do not reach.
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";

/** The HTTP/2 thread's workerData. */
export const FrontWorkerOptions = t.type({
  host: t.string,
  /** 0 picks a free port. */
  port: t.number,
  /** The largest gRPC message taken (--max-request-bytes plus gRPC's overhead). */
  maxReceiveBytes: t.number,
});
export type FrontWorkerOptions = t.TypeOf<typeof FrontWorkerOptions>;

/** A report of the HTTP/2 thread (answer and call batches are ArrayBuffers, not reports). */
export const FrontReport = t.union([
  t.type({ kind: t.literal("listening"), port: t.number }),
  t.type({ kind: t.literal("failed"), message: t.string }),
]);
export type FrontReport = t.TypeOf<typeof FrontReport>;

/** Decodes a value of `codec` or throws one line naming what is wrong. */
export function decodeOrThrow<A>(codec: t.Decoder<unknown, A>, value: unknown, what: string): A {
  const decoded = codec.decode(value);
  if (decoded._tag === "Left") throw new Error(`${what}: ${PathReporter.report(decoded).join("; ")}`);
  return decoded.right;
}
