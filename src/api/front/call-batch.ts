// The bytes that cross between the client port's HTTP/2 thread and the main thread: calls one way,
// answers the other, many in one message. A message wakes the other thread and is copied or
// transferred as a whole, so a batch per event-loop turn pays that once for every call of the turn.
// Each batch is one ArrayBuffer, transferred (not copied); records follow each other, integers are
// little-endian:
//   call:   id u32 | method u8 (an index of BatchMethods) | deadline ms u32 (0xffffffff: none) | token length u32
//           (0xffffffff: none) | token UTF-8 | request length u32 | request
//   answer: id u32 | kind u8 = 0 | frame length u32 | frame (the gRPC-framed answer: prefix and message)
//           id u32 | kind u8 = 1 | code u8 | message length u32 | message UTF-8 (a gRPC status)

/** The most methods a batch can name (the method is one byte). */
export const MAX_BATCH_METHODS = 256;

/**
 * The unary RPCs the HTTP/2 thread hands over in batches, by their index on the wire: the main thread
 * names them when it starts the thread, and both sides index this list.
 */
export class BatchMethods {
  private readonly indexes: ReadonlyMap<string, number>;

  constructor(readonly paths: readonly string[]) {
    if (paths.length > MAX_BATCH_METHODS) throw new Error(`more than ${MAX_BATCH_METHODS} batch methods`);
    this.indexes = new Map(paths.map((path, i) => [path, i]));
  }

  /** The wire index of a path, or -1 when the HTTP/2 thread does not hand it over in a batch. */
  indexOf(path: string): number {
    return this.indexes.get(path) ?? -1;
  }
}

/** One call handed to the main thread: the request is the protobuf message, without its gRPC prefix. */
export interface FrontCall {
  readonly id: number;
  readonly method: number;
  /** The `token` (or `authorization`) metadata entry, when the call has one. */
  readonly token: string | undefined;
  /** Milliseconds left of the call's grpc-timeout as it is handed over (the main thread's waits end there). */
  readonly deadlineMs: number | undefined;
  readonly request: Uint8Array;
}

/** One answer: a framed message, or a status without one. */
export type FrontAnswer =
  | { readonly id: number; readonly frame: Uint8Array }
  | { readonly id: number; readonly code: number; readonly message: string };

const NO_TOKEN = 0xffffffff;
const NO_DEADLINE = 0xffffffff;
const ANSWER_FRAME = 0;
const ANSWER_STATUS = 1;

/** A batch that does not parse: a bug on one side of the thread boundary, never client input. */
export class BatchFormatError extends Error {}

/** Bounds-checked reading of one batch. */
class BatchReader {
  private offset = 0;
  private readonly view: Buffer;

  constructor(buffer: ArrayBuffer) {
    this.view = Buffer.from(buffer);
  }

  get done(): boolean {
    return this.offset >= this.view.length;
  }

  private need(n: number): void {
    if (this.offset + n > this.view.length)
      throw new BatchFormatError(`batch ends ${this.offset + n - this.view.length} bytes early`);
  }

  u8(): number {
    this.need(1);
    return this.view[this.offset++];
  }

  u32(): number {
    this.need(4);
    const v = this.view.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  /** A view of the next n bytes (no copy: the batch's buffer belongs to its reader). */
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.view.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  text(n: number): string {
    this.need(n);
    const s = this.view.toString("utf8", this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
}

/** Calls gathered for one batch; `take` lays them out in one buffer and starts a new batch. */
export class CallBatch {
  private calls: FrontCall[] = [];
  private tokenBytes: number[] = [];
  private bytes = 0;

  get length(): number {
    return this.calls.length;
  }

  add(call: FrontCall): void {
    const tokenLength = call.token === undefined ? 0 : Buffer.byteLength(call.token);
    this.calls.push(call);
    this.tokenBytes.push(tokenLength);
    this.bytes += 17 + tokenLength + call.request.length;
  }

  take(): ArrayBuffer {
    const buffer = new ArrayBuffer(this.bytes);
    const out = Buffer.from(buffer);
    let at = 0;
    for (let i = 0; i < this.calls.length; i++) {
      const { id, method, token, deadlineMs, request } = this.calls[i];
      at = out.writeUInt32LE(id, at);
      at = out.writeUInt8(method, at);
      at = out.writeUInt32LE(
        deadlineMs === undefined
          ? NO_DEADLINE
          : Math.min(NO_DEADLINE - 1, Math.max(0, Math.ceil(deadlineMs))),
        at,
      );
      if (token === undefined) at = out.writeUInt32LE(NO_TOKEN, at);
      else {
        at = out.writeUInt32LE(this.tokenBytes[i], at);
        at += out.write(token, at, "utf8");
      }
      at = out.writeUInt32LE(request.length, at);
      out.set(request, at);
      at += request.length;
    }
    this.calls = [];
    this.tokenBytes = [];
    this.bytes = 0;
    return buffer;
  }
}

/** Calls `each` with every call of a batch, in order; the requests are views of the batch's buffer. */
export function readCalls(buffer: ArrayBuffer, each: (call: FrontCall) => void): void {
  const r = new BatchReader(buffer);
  while (!r.done) {
    const id = r.u32();
    const method = r.u8();
    const deadline = r.u32();
    const tokenLength = r.u32();
    const token = tokenLength === NO_TOKEN ? undefined : r.text(tokenLength);
    const request = r.bytes(r.u32());
    each({ id, method, token, deadlineMs: deadline === NO_DEADLINE ? undefined : deadline, request });
  }
}

/** Answers gathered for one batch, as `CallBatch` gathers calls. */
export class AnswerBatch {
  private answers: FrontAnswer[] = [];
  private messageBytes: number[] = [];
  private bytes = 0;

  get length(): number {
    return this.answers.length;
  }

  add(answer: FrontAnswer): void {
    this.answers.push(answer);
    if ("frame" in answer) {
      this.messageBytes.push(0);
      this.bytes += 9 + answer.frame.length;
    } else {
      const n = Buffer.byteLength(answer.message);
      this.messageBytes.push(n);
      this.bytes += 10 + n;
    }
  }

  take(): ArrayBuffer {
    const buffer = new ArrayBuffer(this.bytes);
    const out = Buffer.from(buffer);
    let at = 0;
    for (let i = 0; i < this.answers.length; i++) {
      const answer = this.answers[i];
      at = out.writeUInt32LE(answer.id, at);
      if ("frame" in answer) {
        at = out.writeUInt8(ANSWER_FRAME, at);
        at = out.writeUInt32LE(answer.frame.length, at);
        out.set(answer.frame, at);
        at += answer.frame.length;
      } else {
        at = out.writeUInt8(ANSWER_STATUS, at);
        at = out.writeUInt8(answer.code, at);
        at = out.writeUInt32LE(this.messageBytes[i], at);
        at += out.write(answer.message, at, "utf8");
      }
    }
    this.answers = [];
    this.messageBytes = [];
    this.bytes = 0;
    return buffer;
  }
}

/** Calls `each` with every answer of a batch, in order; frames are views of the batch's buffer. */
export function readAnswers(buffer: ArrayBuffer, each: (answer: FrontAnswer) => void): void {
  const r = new BatchReader(buffer);
  while (!r.done) {
    const id = r.u32();
    const kind = r.u8();
    if (kind === ANSWER_FRAME) each({ id, frame: r.bytes(r.u32()) });
    else if (kind === ANSWER_STATUS) {
      const code = r.u8();
      each({ id, code, message: r.text(r.u32()) });
    } else throw new BatchFormatError(`unknown answer kind ${kind}`);
  }
}
