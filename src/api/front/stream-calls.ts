// The HTTP/2 thread's side of a unary call handed over in a batch: it reads the request off its stream, checks what
// the unary fast path checks (encoding, size, one message, the grpc-timeout deadline), hands the
// message to the main thread in the turn's call batch, and writes the answer back when it arrives.
// Statuses and texts are those of the unary fast path (grpc-js's own).
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { type CallStream, listenToCall } from "../grpc/call-stream.js";
import { answerOk } from "../grpc/ok-answer.js";
import { grpcMessageValue } from "../grpc/status-text.js";
import { UnaryRequestCall } from "../grpc/unary-request-call.js";
import { type BatchMethods, CallBatch, type FrontAnswer, type FrontCall } from "./call-batch.js";
import { TurnSender } from "./turn-sender.js";

/** The most calls one batch carries; a larger turn sends more than one. */
const MAX_BATCH_CALLS = 4096;

function tokenOf(headers: IncomingHttpHeaders): string | undefined {
  const token = headers.token ?? headers.authorization;
  if (token === undefined) return undefined;
  return Array.isArray(token) ? token[0] : token;
}

/** One call while its stream is open. */
class StreamCall extends UnaryRequestCall {
  constructor(
    readonly id: number,
    private readonly method: number,
    private readonly stream: CallStream,
    private readonly headers: IncomingHttpHeaders,
    private readonly calls: StreamCalls,
  ) {
    super(calls.maxReceiveBytes);
  }

  start(): void {
    listenToCall(this.stream, this, this.headers);
  }

  private finish(): boolean {
    if (!this.finishCall()) return false;
    this.calls.forget(this.id);
    return !this.stream.destroyed && !this.stream.closed;
  }

  fail(code: number, message: string): void {
    if (!this.finish()) return;
    this.stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": String(code),
        "grpc-message": grpcMessageValue(message),
      },
      { endStream: true },
    );
  }

  answer(frame: Uint8Array): void {
    if (!this.finish()) return;
    answerOk(this.stream, frame);
  }

  closed(): void {
    this.finish();
  }

  end(): void {
    if (this.done) return;
    const request = this.requestMessage();
    if (request === undefined) return;
    this.handedOver = true;
    // with a deadline, the main thread answers it (its waits end with etcd's errors there)
    const deadline = this.clientDeadline;
    this.deadlineAnsweredElsewhere = deadline !== undefined;
    this.calls.send({
      id: this.id,
      method: this.method,
      token: tokenOf(this.headers),
      deadlineMs: deadline === undefined ? undefined : deadline.at - performance.now(),
      request,
    });
  }
}

/**
 * The HTTP/2 thread's open calls and the turn's call batch. `post` sends a batch to the main thread;
 * `answer` takes one answer back from it.
 */
export class StreamCalls {
  private readonly open = new Map<number, StreamCall>();
  private readonly calls: TurnSender<FrontCall>;
  private nextId = 0;

  constructor(
    readonly maxReceiveBytes: number,
    private readonly methods: BatchMethods,
    post: (batch: ArrayBuffer) => void,
  ) {
    this.calls = new TurnSender(new CallBatch(), MAX_BATCH_CALLS, post);
  }

  /** Takes a gRPC stream: false when it is not one of the calls handed over (the caller forwards it). */
  take(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean {
    const method = this.methods.indexOf(headers[":path"] ?? "");
    if (method < 0) return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const id = this.nextId;
    this.nextId = (this.nextId + 1) >>> 0;
    const call = new StreamCall(id, method, stream, headers, this);
    this.open.set(id, call);
    call.start();
    return true;
  }

  forget(id: number): void {
    this.open.delete(id);
  }

  send(call: FrontCall): void {
    this.calls.add(call);
  }

  answer(answer: FrontAnswer): void {
    const call = this.open.get(answer.id);
    if (call === undefined) return; // the client went away or the deadline passed
    if ("frame" in answer) call.answer(answer.frame);
    else call.fail(answer.code, answer.message);
  }

  /** The open calls (a closing thread fails them). */
  get size(): number {
    return this.open.size;
  }
}
