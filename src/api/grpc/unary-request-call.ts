// The request side of a unary call served natively, wherever it runs (unary-call-base.ts on the main
// thread, stream-calls.ts on the HTTP/2 thread): its body, with grpc-go's receive limit checked as
// soon as the first prefix is in and its first message read at the client's end, and its
// grpc-timeout deadline. Passed before the request was read, grpc-go's transport answers code 4 as it
// reads it with the call's context done; passed once the request went on, the wait that listens to
// the deadline ends with etcd's error for it (a proposal raft took: parseProposeCtxErr's), and a call
// that nothing of the kind waits for (a linearizable read, a proposal without a leader) answers as
// etcd's handler that returns the context's error as it is, which grpc-go answers with code 2.
import type { ClientDeadline } from "../../auth/context.js";
import { DeadlineQueue, type QueuedDeadline } from "./deadline-queue.js";
import {
  DEADLINE_TEXT,
  firstMessageLength,
  messagePrefixLength,
  tooLargeText,
} from "./unary-request-body.js";

const emptyBody = Buffer.alloc(0);
/**
 * How long past its deadline a call handed to another thread waits for that thread's answer (which
 * comes at the deadline) before answering by itself.
 */
const ANSWERED_ELSEWHERE_GRACE_MS = 1000;

/** Every call's deadline on this thread, behind one timer (see deadline-queue.ts). */
const callDeadlines = new DeadlineQueue();

export abstract class UnaryRequestCall implements ClientDeadline, QueuedDeadline {
  private finished = false;
  /** When the grpc-timeout passes (performance.now() ms); Infinity without one. */
  at = Number.POSITIVE_INFINITY;
  prevDeadline: QueuedDeadline | undefined = undefined;
  nextDeadline: QueuedDeadline | undefined = undefined;
  queued = false;
  /** Told when the deadline passes after the request went on. */
  private expiryListener: (() => void) | undefined = undefined;
  /** The grpc-timeout was 0 (1n, 0S): the deadline passed before the request could be read. */
  private expired = false;
  /** The request went on (to its handler, or to the main thread). */
  protected handedOver = false;
  /** The request went to a thread that answers its deadline itself (the main thread's call runner). */
  protected deadlineAnsweredElsewhere = false;
  /** The request's bytes so far: one chunk, or the list once a second arrives. */
  private body: Buffer | undefined = undefined;
  private chunks: Buffer[] | undefined = undefined;
  private received = 0;

  constructor(private readonly maxReceiveBytes: number) {}

  /** Ends the call with a status and no message (one HEADERS frame). */
  abstract fail(code: number, message: string): void;

  startDeadline(ms: number): void {
    if (ms <= 0) this.expired = true;
    this.at = performance.now() + ms;
    callDeadlines.add(this);
  }

  /** The call's deadline for its handler's waits; undefined without a grpc-timeout. */
  protected get clientDeadline(): ClientDeadline | undefined {
    return this.at === Number.POSITIVE_INFINITY ? undefined : this;
  }

  onExpiry(expired: () => void): void {
    this.expiryListener = expired;
  }

  deadlinePassed(): void {
    if (!this.handedOver) {
      this.fail(4, DEADLINE_TEXT);
      return;
    }
    const told = this.expiryListener;
    this.expiryListener = undefined;
    told?.();
    // the wait told settles its answer in microtasks; with none told, the context's error
    const fallback = () => {
      if (!this.finished) this.fail(2, DEADLINE_TEXT);
    };
    if (this.deadlineAnsweredElsewhere) setTimeout(fallback, ANSWERED_ELSEWHERE_GRACE_MS).unref();
    else setImmediate(fallback);
  }

  /** The call answered or closed. */
  protected get done(): boolean {
    return this.finished;
  }

  /** The call's first answer or close lets go of its deadline and body; false after the first. */
  protected finishCall(): boolean {
    if (this.finished) return false;
    this.finished = true;
    callDeadlines.remove(this);
    this.expiryListener = undefined;
    this.body = undefined;
    this.chunks = undefined;
    return true;
  }

  data(chunk: Buffer): void {
    if (this.finished) return;
    if (this.body === undefined) this.body = chunk;
    else if (this.chunks === undefined) this.chunks = [this.body, chunk];
    else this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.received >= messagePrefixLength) {
      const head = this.body.length >= messagePrefixLength ? this.body : Buffer.concat(this.chunks ?? []);
      const length = head.readUInt32BE(1);
      if (length > this.maxReceiveBytes) this.fail(8, tooLargeText(length, this.maxReceiveBytes));
    }
  }

  /**
   * At the client's end: the request's first message; undefined once the call failed with grpc-go's
   * status for a body without one it reads, or with the deadline's, passed already. (A request whose
   * headers end the stream, which grpc-go leaves unanswered, is answered as one ended before any
   * message.)
   */
  protected requestMessage(): Buffer | undefined {
    if (this.expired) {
      this.fail(4, DEADLINE_TEXT);
      return undefined;
    }
    const body = this.chunks !== undefined ? Buffer.concat(this.chunks) : (this.body ?? emptyBody);
    this.body = undefined;
    this.chunks = undefined;
    const length = firstMessageLength(body);
    if (typeof length !== "number") {
      this.fail(length.code, length.message);
      return undefined;
    }
    return body.subarray(messagePrefixLength, messagePrefixLength + length);
  }
}
