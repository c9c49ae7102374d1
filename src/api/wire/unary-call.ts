// A unary call served natively on the client port's own HTTP/2 connection: the call of the unary
// fast path (unary-call-base.ts) on a WireStream. The answer is HEADERS, DATA and the OK trailers
// appended to the connection's output together.
import { Metadata } from "@grpc/grpc-js";
import type { GrpcCode } from "../../rpctypes/errors.js";
import { type CallCredentials, UnaryCallBase, type UnaryMethod } from "../grpc/unary-call-base.js";
import { type AnswerBlock, failBlock } from "./answer-blocks.js";
import type { WireStream, WireStreamHandler } from "./wire-stream.js";

/** What a unary call reads from its request headers. */
export interface UnaryRequestHead {
  /** The grpc-timeout header, when there is one. */
  timeout: string | undefined;
  token: string | undefined;
  authorization: string | undefined;
  /** The answer's headers when the request's content-type names a subtype (grpc-go names it back). */
  answerHeaders: AnswerBlock | undefined;
}

export class WireUnaryCall extends UnaryCallBase implements WireStreamHandler {
  constructor(
    private readonly stream: WireStream,
    private readonly head: UnaryRequestHead,
    method: UnaryMethod,
    maxReceiveBytes: number,
    credentials: CallCredentials,
    private readonly peer: string,
  ) {
    super(method, method.startMeter(), maxReceiveBytes, credentials);
  }

  getPeer(): string {
    return this.peer;
  }

  protected writable(): boolean {
    return !this.stream.done;
  }

  protected sendFailure(code: GrpcCode, message: string): void {
    this.stream.respond(failBlock(code, message, this.head.answerHeaders), true);
  }

  protected sendAnswer(frame: Buffer): void {
    this.stream.answerOk(frame, this.head.answerHeaders);
  }

  protected tokenMetadata(): Metadata | undefined {
    const { head } = this;
    if (head.token === undefined && head.authorization === undefined) return undefined;
    const metadata = new Metadata();
    if (head.token !== undefined) metadata.set("token", head.token);
    if (head.authorization !== undefined) metadata.set("authorization", head.authorization);
    return metadata;
  }

  override data(chunk: Buffer): void {
    this.stream.consumed(chunk.length);
    super.data(chunk);
  }
}
