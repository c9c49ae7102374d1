// A unary call served natively, whichever HTTP/2 stream it answers on (Node's in the unary fast path,
// the client port's own in WireUnaryCall): the receive limit as the request arrives, grpc-go's
// statuses and texts for a request it cannot read, the grpc-timeout deadline, the handler's run with
// the caller's credentials, and the metrics. A subclass writes the answers on its stream.
import type { Metadata } from "@grpc/grpc-js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { RequestContext } from "../../server/client-api.js";
import type { UnaryHandler } from "../client-handlers.js";
import { tokenlessMetadata } from "../request-context.js";
import type { RpcMeter } from "./grpc-metrics.js";
import { toRpcStatus } from "./status.js";
import {
  DEADLINE_TEXT,
  firstMessageLength,
  messagePrefixLength,
  tooLargeText,
  undecodableText,
} from "./unary-request-body.js";

/** The credentials of a call, from its metadata and its connection's peer address. */
export type CallCredentials = (call: { metadata: Metadata; getPeer(): string }) => RequestContext | undefined;

const emptyBody = Buffer.alloc(0);

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

export abstract class UnaryCallBase {
  metadata: Metadata = tokenlessMetadata;
  private finished = false;
  private deadline: NodeJS.Timeout | undefined = undefined;
  /** The grpc-timeout was 0 (1n, 0S): the deadline passed before the request could be read. */
  private expired = false;
  /** The request went to the handler. */
  private handedOver = false;
  /** The request's bytes so far: one chunk, or the list once a second arrives. */
  private body: Buffer | undefined = undefined;
  private chunks: Buffer[] | undefined = undefined;
  private received = 0;

  constructor(
    private readonly method: UnaryMethod,
    private readonly meter: RpcMeter,
    private readonly maxReceiveBytes: number,
    private readonly credentials: CallCredentials,
  ) {}

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

  /**
   * Starts the grpc-timeout deadline. Passed before the request was read, grpc-go's transport answers
   * as it reads it with the call's context done: code 4 "context deadline exceeded" (an expired one
   * can also reach a handler, whose own answer etcd then gives; the transport's is always one grpc-go
   * may give). Passed while the handler waits (a proposal or a linearizable read without a leader),
   * etcd's handler returns the context's error as it is, which grpc-go answers with code 2.
   */
  startDeadline(ms: number): void {
    if (ms <= 0) this.expired = true;
    this.deadline = setTimeout(
      () => this.fail(this.handedOver ? GrpcCode.Unknown : GrpcCode.DeadlineExceeded, DEADLINE_TEXT),
      ms,
    );
  }

  /** Whether the call may still answer; the first answer (or close) ends its deadline. */
  private finish(): boolean {
    if (this.finished) return false;
    this.finished = true;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.body = undefined;
    this.chunks = undefined;
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
    if (this.finished) return;
    this.finish();
    this.meter.handled(GrpcCode.Canceled);
  }

  private bytes(): Buffer {
    if (this.chunks !== undefined) return Buffer.concat(this.chunks);
    return this.body ?? emptyBody;
  }

  data(chunk: Buffer): void {
    if (this.finished) return;
    if (this.body === undefined) this.body = chunk;
    else if (this.chunks === undefined) this.chunks = [this.body, chunk];
    else this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.received >= messagePrefixLength) {
      const head = this.body.length >= messagePrefixLength ? this.body : this.bytes();
      const length = head.readUInt32BE(1);
      if (length > this.maxReceiveBytes)
        this.fail(GrpcCode.ResourceExhausted, tooLargeText(length, this.maxReceiveBytes));
    }
  }

  end(): void {
    if (this.finished) return;
    if (this.expired) {
      this.fail(GrpcCode.DeadlineExceeded, DEADLINE_TEXT);
      return;
    }
    const { method } = this;
    const body = this.bytes();
    // (a request whose headers end the stream, which grpc-go leaves unanswered, is answered as one
    // that ends before any message)
    const length = firstMessageLength(body);
    if (typeof length !== "number") {
      this.fail(length.code as GrpcCode, length.message);
      return;
    }
    let request: unknown;
    try {
      request = method.decode(body.subarray(messagePrefixLength, messagePrefixLength + length));
    } catch (err) {
      this.fail(GrpcCode.Internal, undecodableText(err));
      return;
    }
    this.body = undefined;
    this.chunks = undefined;
    this.meter.received();
    const metadata = this.tokenMetadata();
    if (metadata !== undefined) this.metadata = metadata;
    this.handedOver = true;
    let answer: Promise<unknown>;
    try {
      answer = method.handler.handle(request, undefined, this.credentials(this));
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
