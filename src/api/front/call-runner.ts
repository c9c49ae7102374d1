// The main thread's side of the calls the HTTP/2 thread hands over: each request is decoded, answered
// by the same handler the gRPC services use, and its answer framed as the unary fast path frames it; the
// answers of one turn go back to the HTTP/2 thread as one batch.
import type { ClientDeadline } from "../../auth/context.js";
import { GrpcCode } from "../../rpctypes/errors.js";
import { toRpcStatus } from "../grpc/status.js";
import { frameOf, type UnaryMethod } from "../grpc/unary-call-base.js";
import { DEADLINE_TEXT, undecodableText } from "../grpc/unary-request-body.js";
import { AnswerBatch, type BatchMethods, type FrontAnswer, type FrontCall, readCalls } from "./call-batch.js";
import { TurnSender } from "./turn-sender.js";

/** The most answers one batch carries; a larger turn sends more than one. */
const MAX_BATCH_ANSWERS = 4096;

/**
 * The grpc-timeout of a call handed over by the HTTP/2 thread, which leaves its answer to this thread:
 * when it passes, the wait that listens is told (its answer follows in microtasks), else the call
 * answers the context's error, as the unary paths of this thread do.
 */
class HandedOverDeadline implements ClientDeadline {
  readonly at: number;
  private listener: (() => void) | undefined = undefined;
  private readonly timer: NodeJS.Timeout;
  /** Whether the call has its answer (the handler's, or the deadline's). */
  answered = false;

  constructor(ms: number, expired: () => void) {
    this.at = performance.now() + ms;
    this.timer = setTimeout(() => {
      const told = this.listener;
      this.listener = undefined;
      told?.();
      setImmediate(() => {
        if (!this.answered) {
          this.answered = true;
          expired();
        }
      });
    }, ms);
  }

  onExpiry(expired: () => void): void {
    this.listener = expired;
  }

  /** The handler answered: true when the call did not have its answer yet. */
  settle(): boolean {
    clearTimeout(this.timer);
    this.listener = undefined;
    if (this.answered) return false;
    this.answered = true;
    return true;
  }
}

/** Runs the calls of the batches it is given and posts their answers back, a batch per turn. */
export class CallRunner {
  private readonly methods: UnaryMethod[];
  private readonly answers: TurnSender<FrontAnswer>;

  constructor(
    batchMethods: BatchMethods,
    methods: ReadonlyMap<string, UnaryMethod>,
    post: (batch: ArrayBuffer) => void,
  ) {
    this.answers = new TurnSender(new AnswerBatch(), MAX_BATCH_ANSWERS, post);
    this.methods = batchMethods.paths.map((path) => {
      const method = methods.get(path);
      if (method === undefined) throw new Error(`no handler for ${path}`);
      return method;
    });
  }

  /** Runs every call of a batch from the HTTP/2 thread. */
  run(batch: ArrayBuffer): void {
    readCalls(batch, (call) => this.runOne(call));
  }

  private runOne(call: FrontCall): void {
    const method = this.methods[call.method];
    if (method === undefined) {
      this.add({ id: call.id, code: GrpcCode.Internal, message: `unknown method index ${call.method}` });
      return;
    }
    const meter = method.startMeter();
    let request: unknown;
    try {
      const bytes = call.request;
      request = method.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (err) {
      meter.handled(GrpcCode.Internal);
      this.add({ id: call.id, code: GrpcCode.Internal, message: undecodableText(err) });
      return;
    }
    meter.received();
    const deadline =
      call.deadlineMs === undefined
        ? undefined
        : new HandedOverDeadline(call.deadlineMs, () => {
            meter.handled(GrpcCode.Unknown);
            this.add({ id: call.id, code: GrpcCode.Unknown, message: DEADLINE_TEXT });
          });
    const credentials = call.token === undefined ? undefined : { token: call.token };
    let answer: Promise<unknown>;
    try {
      answer = method.handler.handle(
        request,
        undefined,
        deadline === undefined ? credentials : { ...credentials, deadline },
      );
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (response) => {
        if (deadline !== undefined && !deadline.settle()) return;
        let frame: Uint8Array;
        try {
          frame = frameOf(method, response);
        } catch (err) {
          meter.handled(GrpcCode.Internal);
          this.add({ id: call.id, code: GrpcCode.Internal, message: toRpcStatus(err).message });
          return;
        }
        meter.sent();
        meter.handled(GrpcCode.OK);
        this.add({ id: call.id, frame });
      },
      (err: unknown) => {
        if (deadline !== undefined && !deadline.settle()) return;
        const s = toRpcStatus(err);
        meter.handled(s.code);
        this.add({ id: call.id, code: s.code, message: s.message });
      },
    );
  }

  private add(answer: FrontAnswer): void {
    this.answers.add(answer);
  }
}
