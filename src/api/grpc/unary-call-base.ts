// A unary call served natively, whichever HTTP/2 stream it answers on (Node's in the unary fast path,
// the client port's own in WireUnaryCall): its request read as unary-request-call.ts reads it
// (receive limit, first message, grpc-timeout deadline), grpc-go's status and text for a request it
// cannot decode, the handler's run with the caller's credentials, and the metrics. A subclass
// writes the answers on its stream.
import type { Metadata } from "@grpc/grpc-js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { RequestContext } from "../../server/client-api.js";
import type { UnaryHandler } from "../client-handlers.js";
import { tokenlessMetadata } from "../request-context.js";
import type { RpcMeter } from "./grpc-metrics.js";
import { toRpcStatus } from "./status.js";
import { messagePrefixLength, undecodableText } from "./unary-request-body.js";
import { UnaryRequestCall } from "./unary-request-call.js";

/** The credentials of a call, from its metadata and its connection's peer address. */
export type CallCredentials = (call: { metadata: Metadata; getPeer(): string }) => RequestContext | undefined;

/** A unary RPC as the native paths serve it (the unary fast path, the own connection, the HTTP/2 thread's batches). */
export interface UnaryMethod {
  readonly handler: UnaryHandler;
  readonly startMeter: () => RpcMeter;
  /** The answer framed straight from the message (the key-value RPCs, most of the traffic). */
  readonly frame: ((message: never) => Buffer) | undefined;
  /** The request's decoder (a hand-written one where there is one, else the generated). */
  readonly decode: (bytes: Buffer) => unknown;
}

/** The answer as one gRPC message frame (prefix and message in one buffer). */
export function frameOf(method: UnaryMethod, response: unknown): Buffer {
  if (method.frame !== undefined) return method.frame(response as never);
  // the generated serializer: a growing writer, its copy, a Buffer copy of that, and the frame's copy
  const payload = method.handler.definition.responseSerialize(response);
  const frame = Buffer.allocUnsafe(messagePrefixLength + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, messagePrefixLength);
  return frame;
}

export abstract class UnaryCallBase extends UnaryRequestCall {
  metadata: Metadata = tokenlessMetadata;

  constructor(
    private readonly method: UnaryMethod,
    private readonly meter: RpcMeter,
    maxReceiveBytes: number,
    private readonly credentials: CallCredentials,
  ) {
    super(maxReceiveBytes);
  }

  abstract getPeer(): string;
  /** Writes a failed call's only header block (gRPC's trailers-only answer). */
  protected abstract sendFailure(code: GrpcCode, message: string): void;
  /** Writes the answer: headers, the message, the OK trailers. */
  protected abstract sendAnswer(frame: Buffer): void;
  /** Whether the stream still takes an answer. */
  protected abstract writable(): boolean;
  /** The request's token and authorization as metadata, when it has either. */
  protected abstract tokenMetadata(): Metadata | undefined;
  /** The call lets go of its stream (it answered, or the stream closed). */
  protected released(): void {}

  /** Whether the call may still answer; the first answer (or close) ends its deadline. */
  private finish(): boolean {
    if (!this.finishCall()) return false;
    this.released();
    return this.writable();
  }

  /** A status without a message: one HEADERS frame that ends the stream. */
  fail(code: GrpcCode, message: string): void {
    this.meter.handled(code);
    if (!this.finish()) return;
    this.sendFailure(code, message);
  }

  closed(): void {
    if (this.done) return;
    this.finish();
    this.meter.handled(GrpcCode.Canceled);
  }

  end(): void {
    if (this.done) return;
    const message = this.requestMessage();
    if (message === undefined) return;
    const { method } = this;
    let request: unknown;
    try {
      request = method.decode(message);
    } catch (err) {
      this.fail(GrpcCode.Internal, undecodableText(err));
      return;
    }
    this.meter.received();
    const metadata = this.tokenMetadata();
    if (metadata !== undefined) this.metadata = metadata;
    this.handedOver = true;
    let answer: Promise<unknown>;
    try {
      const ctx = this.credentials(this);
      const deadline = this.clientDeadline;
      answer = method.handler.handle(request, undefined, deadline === undefined ? ctx : { ...ctx, deadline });
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (response) => this.answer(response),
      (err: unknown) => {
        const s = toRpcStatus(err);
        this.fail(s.code, s.message);
      },
    );
  }

  private answer(response: unknown): void {
    let frame: Buffer;
    try {
      frame = frameOf(this.method, response);
    } catch (err) {
      this.fail(GrpcCode.Internal, toRpcStatus(err).message);
      return;
    }
    this.meter.sent();
    this.meter.handled(GrpcCode.OK);
    if (!this.finish()) return;
    this.sendAnswer(frame);
  }
}
