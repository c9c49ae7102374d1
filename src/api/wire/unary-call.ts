// A unary call served natively on the client port's own HTTP/2 connection: what the unary fast path
// (src/api/grpc/unary-fast-path.ts) does on Node's streams, on a WireStream: the receive limit, the
// grpc-timeout deadline, the caller's credentials, the metrics, and the same statuses and texts. The
// answer is HEADERS, DATA and the OK trailers appended to the connection's output together.
import { Metadata } from "@grpc/grpc-js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { RpcMeter } from "../grpc/grpc-metrics.js";
import { toRpcStatus } from "../grpc/status.js";
import {
  type CallCredentials,
  frameOf,
  messagePrefixLength,
  type UnaryMethod,
} from "../grpc/unary-fast-path.js";
import { tokenlessMetadata } from "../request-context.js";
import { type AnswerBlock, failBlock } from "./answer-blocks.js";
import type { WireStream, WireStreamHandler } from "./wire-stream.js";

const emptyBody = Buffer.alloc(0);

/** What a unary call reads from its request headers. */
export interface UnaryRequestHead {
  path: string;
  /** The grpc-timeout header, when there is one. */
  timeout: string | undefined;
  token: string | undefined;
  authorization: string | undefined;
  /** The answer's headers when the request's content-type names a subtype (grpc-go names it back). */
  answerHeaders: AnswerBlock | undefined;
}

export class WireUnaryCall implements WireStreamHandler {
  metadata: Metadata = tokenlessMetadata;
  private finished = false;
  private deadline: NodeJS.Timeout | undefined = undefined;
  /** The request's bytes so far: one chunk, or the list once a second arrives. */
  private body: Buffer | undefined = undefined;
  private chunks: Buffer[] | undefined = undefined;
  private received = 0;
  private readonly meter: RpcMeter;

  constructor(
    private readonly stream: WireStream,
    private readonly head: UnaryRequestHead,
    private readonly method: UnaryMethod,
    private readonly maxReceiveBytes: number,
    private readonly credentials: CallCredentials,
    private readonly peer: string,
  ) {
    this.meter = method.startMeter();
  }

  /** Starts the call's deadline; a malformed one fails the call at once, with grpc-js's status and text. */
  start(timeoutMs: number | undefined): void {
    if (this.head.timeout === undefined) return;
    if (timeoutMs === undefined) {
      this.fail(GrpcCode.Internal, `Invalid grpc-timeout value "${this.head.timeout}"`);
      return;
    }
    this.deadline = setTimeout(() => this.fail(GrpcCode.DeadlineExceeded, "Deadline exceeded"), timeoutMs);
  }

  getPeer(): string {
    return this.peer;
  }

  /** Whether the call may still answer; the first answer (or close) ends its deadline. */
  private finish(): boolean {
    if (this.finished) return false;
    this.finished = true;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.body = undefined;
    this.chunks = undefined;
    return !this.stream.done;
  }

  /** A status without a message: one HEADERS frame that ends the stream (gRPC's trailers-only). */
  fail(code: GrpcCode, message: string): void {
    this.meter.handled(code);
    if (!this.finish()) return;
    this.stream.respond(failBlock(code, message, this.head.answerHeaders), true);
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
    this.stream.consumed(chunk.length);
    if (this.finished) return;
    if (this.body === undefined) this.body = chunk;
    else if (this.chunks === undefined) this.chunks = [this.body, chunk];
    else this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.received >= messagePrefixLength) {
      const head = this.body.length >= messagePrefixLength ? this.body : this.bytes();
      const length = head.readUInt32BE(1);
      if (length > this.maxReceiveBytes) {
        // etcd's text (Go's grpc), which clients of etcd see for an oversize request
        this.fail(
          GrpcCode.ResourceExhausted,
          `grpc: received message larger than max (${length} vs. ${this.maxReceiveBytes})`,
        );
      }
    }
  }

  end(): void {
    if (this.finished) return;
    const { head, method } = this;
    const body = this.bytes();
    if (body.length === 0) {
      this.fail(
        GrpcCode.Unimplemented,
        `Received no request message for server streaming method ${head.path}`,
      );
      return;
    }
    // a message cut short is grpc-go's io.ErrUnexpectedEOF; what follows the first message is not read
    const length = body.length < messagePrefixLength ? -1 : body.readUInt32BE(1);
    if (length < 0 || body.length < messagePrefixLength + length) {
      this.fail(GrpcCode.Unknown, "unexpected EOF");
      return;
    }
    if (body[0] !== 0) {
      // only identity reaches a native call, so a compressed flag is grpc-go's payload error
      this.fail(
        GrpcCode.Internal,
        body[0] === 1
          ? "grpc: compressed flag set with identity or empty encoding"
          : `grpc: received unexpected payload format ${body[0]}`,
      );
      return;
    }
    let request: unknown;
    try {
      request = method.decode(body.subarray(messagePrefixLength, messagePrefixLength + length));
    } catch (err) {
      // protobufjs reads past the end of a truncated message (Go's proto: unexpected EOF)
      if (err instanceof RangeError)
        this.fail(GrpcCode.Internal, "grpc: error unmarshalling request: unexpected EOF");
      else this.fail(GrpcCode.Internal, "Error deserializing request");
      return;
    }
    this.body = undefined;
    this.chunks = undefined;
    this.meter.received();
    if (head.token !== undefined || head.authorization !== undefined) {
      const metadata = new Metadata();
      if (head.token !== undefined) metadata.set("token", head.token);
      if (head.authorization !== undefined) metadata.set("authorization", head.authorization);
      this.metadata = metadata;
    }
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
    this.stream.answerOk(frame, this.head.answerHeaders);
  }
}
