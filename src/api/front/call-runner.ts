// The main thread's side of the calls the HTTP/2 thread hands over: each request is decoded, answered
// by the same handler the gRPC services use, and its answer encoded straight into its gRPC frame; the
// answers of one turn go back to the HTTP/2 thread as one batch.
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { DeleteRangeResponse, PutResponse, RangeResponse, TxnResponse } from "../../gen/etcdserverpb/rpc.js";
import { GrpcCode } from "../../rpctypes/errors.js";
import type { UnaryHandler } from "../client-handlers.js";
import type { GrpcMetrics, RpcMeter } from "../grpc/grpc-metrics.js";
import { toRpcStatus } from "../grpc/status.js";
import { AnswerBatch, type FrontAnswer, type FrontCall, frontMethodPaths, readCalls } from "./call-batch.js";

/** A generated message encoder that writes into a writer it is given. */
type Encoder = (message: never, writer: BinaryWriter) => BinaryWriter;

/** The encoders of the answers, in the order of `frontMethodPaths`. */
const encoders: readonly Encoder[] = [
  RangeResponse.encode,
  PutResponse.encode,
  DeleteRangeResponse.encode,
  TxnResponse.encode,
];

interface Method {
  readonly handler: UnaryHandler;
  readonly startMeter: () => RpcMeter;
  readonly encode: Encoder;
}

const messagePrefixLength = 5;
const emptyPrefix = new Uint8Array(messagePrefixLength);
/** Frames above this size get a writer of their own (a huge range must not keep its buffer alive). */
const REUSED_WRITER_MAX_BYTES = 64 * 1024;
/** The most answers one batch carries; a larger turn sends more than one. */
const MAX_BATCH_ANSWERS = 4096;

/** Runs the calls of the batches it is given and posts their answers back, a batch per turn. */
export class CallRunner {
  private readonly methods: Method[];
  private batch = new AnswerBatch();
  private flushing = false;
  private writer = new BinaryWriter();

  constructor(
    handlers: ReadonlyMap<string, UnaryHandler>,
    metrics: GrpcMetrics,
    private readonly post: (batch: ArrayBuffer) => void,
  ) {
    this.methods = frontMethodPaths.map((path, i) => {
      const handler = handlers.get(path);
      if (handler === undefined) throw new Error(`no handler for ${path}`);
      return { handler, startMeter: metrics.method(path, "unary"), encode: encoders[i] };
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
      request = method.handler.definition.requestDeserialize(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
    } catch {
      meter.handled(GrpcCode.Internal);
      this.add({ id: call.id, code: GrpcCode.Internal, message: "Error deserializing request" });
      return;
    }
    meter.received();
    let answer: Promise<unknown>;
    try {
      answer = method.handler.handle(
        request,
        undefined,
        call.token === undefined ? undefined : { token: call.token },
      );
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (response) => {
        let frame: Uint8Array;
        try {
          frame = this.frameOf(method.encode, response);
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
        const s = toRpcStatus(err);
        meter.handled(s.code);
        this.add({ id: call.id, code: s.code, message: s.message });
      },
    );
  }

  /** The answer as one gRPC message frame (prefix and message in one buffer). */
  private frameOf(encode: Encoder, response: unknown): Uint8Array {
    let bytes: Uint8Array;
    try {
      // finish() returns an exact-size copy and leaves the writer empty for the next answer
      bytes = encode(response as never, this.writer.raw(emptyPrefix)).finish();
    } catch (err) {
      this.writer = new BinaryWriter(); // a half-written answer must not lead the next one
      throw err;
    }
    if (bytes.byteLength > REUSED_WRITER_MAX_BYTES) this.writer = new BinaryWriter();
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(
      1,
      bytes.byteLength - messagePrefixLength,
    );
    return bytes;
  }

  private add(answer: FrontAnswer): void {
    this.batch.add(answer);
    if (this.batch.length >= MAX_BATCH_ANSWERS) this.flush();
    else if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushing = false;
    if (this.batch.length > 0) this.post(this.batch.take());
  }
}
