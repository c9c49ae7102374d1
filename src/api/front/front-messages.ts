// What the main thread and the client port's HTTP/2 thread tell each other besides the call and answer
// batches (call-batch.ts): the thread's start options, and its reports. Checked on arrival: they cross
// a structured-clone boundary, where the types of either side's code do not reach.
import { MessagePort } from "node:worker_threads";
import * as t from "io-ts";
import { PathReporter } from "io-ts/lib/PathReporter.js";

/** The HTTP/2 thread's workerData. */
export const FrontWorkerOptions = t.intersection([
  t.type({
    /** The client listeners the thread owns (port 0 picks a free port). */
    listeners: t.array(t.type({ host: t.string, port: t.number })),
    /** The largest gRPC message taken (--max-request-bytes plus gRPC's overhead). */
    maxReceiveBytes: t.number,
    /** The unary RPCs handed over in batches, in wire-index order (call-batch.ts). */
    batchPaths: t.array(t.string),
    /** Every unary RPC's path (the ping policy reads their streams' writes differently). */
    unaryPaths: t.array(t.string),
    /** --grpc-keepalive-min-time. */
    pingMinTimeMs: t.number,
    /** How often the thread pings each client connection, and how long it waits for the answer. */
    pingIntervalMs: t.number,
    pingTimeoutMs: t.number,
  }),
  t.partial({ maxConcurrentStreams: t.number }),
]);
export type FrontWorkerOptions = t.TypeOf<typeof FrontWorkerOptions>;

const Port = new t.Type<MessagePort, MessagePort, unknown>(
  "MessagePort",
  (u): u is MessagePort => u instanceof MessagePort,
  (u, c) => (u instanceof MessagePort ? t.success(u) : t.failure(u, c)),
  (p) => p,
);

/** A report of the HTTP/2 thread (answer and call batches are ArrayBuffers, not reports). */
export const FrontReport = t.union([
  /** Every listener listens: the ports bound, in the order of the options' listeners. */
  t.type({ kind: t.literal("listening"), ports: t.array(t.number) }),
  t.type({ kind: t.literal("failed"), message: t.string }),
  /**
   * A client connection (HTTP/1.1), or a client connection's forwarded HTTP/2 streams, for the main
   * thread to serve: its bytes cross over `port` (port-duplex.ts).
   */
  t.intersection([
    t.type({ kind: t.literal("connection"), http2: t.boolean, port: Port }),
    t.partial({ remoteAddress: t.string, remotePort: t.number }),
  ]),
]);
export type FrontReport = t.TypeOf<typeof FrontReport>;

/** Decodes a value of `codec` or throws one line naming what is wrong. */
export function decodeOrThrow<A>(codec: t.Decoder<unknown, A>, value: unknown, what: string): A {
  const decoded = codec.decode(value);
  if (decoded._tag === "Left") throw new Error(`${what}: ${PathReporter.report(decoded).join("; ")}`);
  return decoded.right;
}
