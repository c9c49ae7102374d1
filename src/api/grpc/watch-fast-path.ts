// The Watch stream served without grpc-js. Through grpc-js, an event seen by a
// hundred watchers costs a hundred serialisations, a hundred frame copies and a hundred stream
// writes, all before the put that caused it is answered. Here a stream's responses are queued and
// written together once the callback that produced them has run to its end (its promise
// continuations included), framed into one buffer (one HTTP/2 write per stream, not per watcher),
// after whatever that callback answers (a put is handed to HTTP/2 before its events, as etcd
// notifies its watchers after the apply) and in the same socket write; a fan-out too big to frame
// without holding those answers up waits one turn of the event loop, so that the answers leave
// first. Everything a client sees stays as grpc-js gives it:
// headers, trailers, statuses and their texts, the stream checks (learner, `hasleader`), the leader
// loss that ends a `hasleader` stream, flow control, and the metrics. Streams with a deadline or a
// compressed request are left to grpc-js. The call runs on any AnswerStream: Node's HTTP/2 streams
// (watchFastPath) or a transport's own (startWatchCall).
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Metadata } from "@grpc/grpc-js";
import type { Subscription } from "rxjs";
import { take } from "rxjs";
import {
  type ResponseHeader,
  type WatchRequest,
  type WatchResponse,
  WatchService,
} from "../../gen/etcdserverpb/rpc.js";
import type { Event } from "../../gen/mvccpb/kv.js";
import { Errors, GrpcCode } from "../../rpctypes/errors.js";
import type {
  ClientApi,
  ClientWatchEvents,
  ClientWatchStream,
  WatchEventsListener,
} from "../../server/client-api.js";
import { checkRequireLeader } from "../client-handlers.js";
import type { ConnectionBudgets } from "../connection-limits.js";
import { callMetadata } from "../request-context.js";
import type { AnswerStream, AnswerStreamListener } from "./answer-stream.js";
import type { GrpcMetrics, RpcMeter } from "./grpc-metrics.js";
import { NodeAnswerStream } from "./node-answer-stream.js";
import { type MessageShape, requestShapes } from "./request-shapes.js";
import { type RpcStatus, toRpcStatus } from "./status.js";
import { StreamMessageReader } from "./stream-message-reader.js";
import type { CallCredentials } from "./unary-call-base.js";
import { messagePrefixLength } from "./unary-request-body.js";
import { gogoUnmarshalError, streamUnmarshalText } from "./unmarshal-errors.js";
import {
  appendEventsFrame,
  appendWatchFrame,
  frameWatchResponses,
  rewindWatchFrames,
  takeWatchFrames,
  viewWatchFrames,
  watchFramesEnd,
} from "./watch-response-encoder.js";

const WATCH_PATH = WatchService.watch.path;
/** How etcd's codec reads a WatchRequest. */
const watchRequestShape = requestShapes.get(WATCH_PATH) as MessageShape;

export interface WatchFastPathOptions {
  readonly api: ClientApi;
  readonly metrics: GrpcMetrics;
  /** The receive limit for one request message (as grpc-js's grpc.max_receive_message_length). */
  readonly maxReceiveBytes: number;
  readonly credentials: CallCredentials;
  /** Per-connection places for watchers; without it a stream holds any number. */
  readonly budgets?: ConnectionBudgets;
}

/**
 * Whether a stream is a Watch call served here: those without a deadline and with identity encoding
 * (grpc-js serves the others).
 */
export function servesWatch(headers: IncomingHttpHeaders): boolean {
  if (headers[":path"] !== WATCH_PATH) return false;
  const encoding = headers["grpc-encoding"];
  if (encoding !== undefined && encoding !== "identity") return false;
  return headers["grpc-timeout"] === undefined;
}

/**
 * Starts a Watch call on a stream that `servesWatch` accepts; `headers` are the request's (the call
 * reads `hasleader`, `token` and `authorization` from them).
 */
export function startWatchCall(
  stream: AnswerStream,
  headers: IncomingHttpHeaders,
  options: WatchFastPathOptions,
): void {
  new WatchCall(stream, headers, options).start();
}

/**
 * Returns a stream listener that serves Watch streams (those without a deadline and with identity
 * encoding) and answers false for any other stream.
 */
export function watchFastPath(
  options: WatchFastPathOptions,
): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean {
  return (stream, headers) => {
    if (!servesWatch(headers)) return false;
    startWatchCall(new NodeAnswerStream(stream), headers, options);
    return true;
  };
}

/**
 * Streams with responses queued, written out together by a process.nextTick callback: Node runs it
 * once the promise continuations of the current callback are done (an apply, the waiters it
 * resolves and the answers they write), so the answers are handed to HTTP/2 first, and everything
 * leaves in the session's next write. A setImmediate would run one turn later, after the session
 * wrote the answers alone, and cost the events a second turn of the event loop to reach the socket
 * (a closed loop of one put and a hundred watchers waited for that turn on every put).
 */
const toFlush: Array<WatchCall | undefined> = [];
/** Calls in toFlush (the array is kept from one flush to the next, its slots emptied). */
let toFlushCount = 0;
let flushScheduled = false;
/** Responses queued since the last flush, on every stream. */
let queuedResponses = 0;

/**
 * The most responses framed in the turn that made them. Framing costs about a microsecond per
 * response, and the session writes the turn's answers only after it: a bigger fan-out is written
 * one turn later, once those answers have left.
 */
export const SAME_TURN_MAX_RESPONSES = 256;

/** Where each stream's frames of a flush end (kept from one flush to the next). */
const flushEnds: number[] = [];

/** The last header a flush framed events with, the function that gave it and its revision. */
let flushHeader: ResponseHeader | undefined;
let flushHeaderOf: ((revision: number) => ResponseHeader) | undefined;
let flushHeaderRevision = -1;

/** Writes every queued response; `deferred`: already waited a turn, so it writes whatever the count. */
function flushAll(deferred?: boolean): void {
  if (deferred !== true && queuedResponses > SAME_TURN_MAX_RESPONSES) {
    setImmediate(flushAll, true);
    return;
  }
  flushScheduled = false;
  queuedResponses = 0;
  // headers are the member's at the flush: none is kept from an earlier one (its term may have passed)
  flushHeader = undefined;
  flushHeaderOf = undefined;
  flushHeaderRevision = -1;
  const count = toFlushCount;
  // every stream's frames in one buffer, each stream written its part: the same memory every time when
  // every stream copies what it writes (fresh memory for each fan-out counts against V8's heap limits),
  // else memory of its own (one allocation, not one per stream)
  let copying = true;
  for (let i = 0; i < count; i++) {
    const call = toFlush[i] as WatchCall;
    call.flushQueued = false;
    flushEnds[i] = call.frameQueued();
    if (!call.copiesWrites) copying = false;
  }
  const frames = copying ? viewWatchFrames() : takeWatchFrames();
  const shared = copying || frames.length <= SHARED_FRAMES_MAX_BYTES;
  let start = 0;
  for (let i = 0; i < count; i++) {
    const call = toFlush[i] as WatchCall;
    const end = flushEnds[i];
    if (end < 0) continue;
    if (shared) call.writePart(frames, start, end);
    else call.write(Buffer.from(frames.subarray(start, end)));
    start = end;
  }
  // calls queued while these wrote are moved to the front, for the next flush
  const later = toFlushCount - count;
  for (let i = 0; i < later; i++) toFlush[i] = toFlush[count + i];
  toFlush.fill(undefined, later, toFlushCount);
  toFlushCount = later;
}

/** Queued responses a call keeps room for between flushes (a fan-out's few; not a burst's thousands). */
const PENDING_KEPT = 1024;

/**
 * Streams share one buffer of frames up to this size. A stream held by flow control keeps its part,
 * and with it the whole buffer, alive: a bigger fan-out gives each stream a copy of its own.
 */
const SHARED_FRAMES_MAX_BYTES = 64 * 1024;

/**
 * One Watch RPC: requests in, responses out, until the client leaves or the member ends it. The call
 * is its stream's listener, and the caller's view for `CallCredentials` (its metadata and peer).
 */
class WatchCall implements AnswerStreamListener, WatchEventsListener {
  private readonly meter: RpcMeter;
  private watch: ClientWatchStream | undefined;
  /** The stream's responses of events alone, queued without a response object each. */
  private watchEvents: ClientWatchEvents | undefined;
  private leaderLoss: Subscription | undefined;
  /**
   * The responses queued, in order: a WatchResponse, or the events of a response of events alone
   * (its watch id and revision at the same place of pendingIds and pendingRevisions). The arrays are
   * kept from one flush to the next: a fan-out queues into the same memory every time.
   */
  private readonly pending: Array<WatchResponse | readonly Event[] | undefined> = [];
  private readonly pendingIds: number[] = [];
  private readonly pendingRevisions: number[] = [];
  private pendingCount = 0;
  /** In toFlush. */
  flushQueued = false;
  private readonly reader: StreamMessageReader;
  private headersSent = false;
  /** The transport is full: events are held and requests not read until it drains. */
  private held = false;
  private open = true;
  /** Opened with `hasleader: true` (clientv3's WithRequireLeader). */
  private readonly requireLeader: boolean;
  readonly metadata: Metadata;

  constructor(
    private readonly stream: AnswerStream,
    headers: IncomingHttpHeaders,
    private readonly options: WatchFastPathOptions,
  ) {
    this.meter = options.metrics.start(WATCH_PATH, "bidi_stream");
    this.metadata = callMetadata(headers);
    this.requireLeader = hasTrue(headers.hasleader);
    this.reader = new StreamMessageReader(options.maxReceiveBytes);
  }

  getPeer(): string {
    return this.stream.connection;
  }

  /** Its stream is done with the memory of what it is written once the write returns. */
  get copiesWrites(): boolean {
    return this.stream.copiesWrites === true;
  }

  start(): void {
    const { stream, options, requireLeader } = this;
    const { api } = options;
    stream.listen(this);
    // etcd's stream interceptor: learners serve no stream; `hasleader` streams need a leader to start
    try {
      if (api.isLearner()) throw Errors.NotSupportedForLearner;
      checkRequireLeader(api, requireLeader);
    } catch (err) {
      this.fail(toRpcStatus(err));
      return;
    }
    const ctx = options.credentials(this);
    const watch = api.watchStream(
      ctx,
      options.budgets ? { admission: options.budgets.watchers(stream.connection) } : undefined,
    );
    this.watch = watch;
    watch.onResponse((resp) => this.queue(resp));
    const events = watch.events;
    if (events !== undefined) {
      this.watchEvents = events;
      events.listen(this);
    }
    // once without a leader for long, a `hasleader` stream ends with etcd's no-leader error
    if (requireLeader)
      this.leaderLoss = api.leaderLoss$
        .pipe(take(1))
        .subscribe(() => this.fail(toRpcStatus(Errors.NoLeader)));
  }

  private queue(resp: WatchResponse): void {
    this.enqueue(resp, 0, 0);
  }

  /** A response of events alone (see WatchEventsListener). */
  events(watchId: number, revision: number, events: readonly Event[]): void {
    this.enqueue(events, watchId, revision);
  }

  private enqueue(item: WatchResponse | readonly Event[], watchId: number, revision: number): void {
    if (!this.open) return;
    this.meter.sent();
    queuedResponses++;
    const n = this.pendingCount++;
    this.pending[n] = item;
    this.pendingIds[n] = watchId;
    this.pendingRevisions[n] = revision;
    if (!this.flushQueued) {
      this.flushQueued = true;
      toFlush[toFlushCount++] = this;
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushAll);
      }
    }
  }

  /**
   * Appends the queued responses to the frames of this flush (see flushAll); returns where they end,
   * or -1 when there is nothing to write.
   */
  frameQueued(): number {
    const count = this.pendingCount;
    if (!this.open || count === 0) return -1;
    const { pending, pendingIds, pendingRevisions } = this;
    const start = watchFramesEnd();
    let failed = false;
    try {
      const headerAt = this.watchEvents?.header;
      for (let i = 0; i < count; i++) {
        const item = pending[i] as WatchResponse | readonly Event[];
        if (!isEvents(item)) {
          appendWatchFrame(item);
          continue;
        }
        const revision = pendingRevisions[i];
        // one header per member and revision in a flush (the streams of a member share `header`)
        if (revision !== flushHeaderRevision || headerAt !== flushHeaderOf) {
          flushHeader = (headerAt as (revision: number) => ResponseHeader)(revision);
          flushHeaderOf = headerAt;
          flushHeaderRevision = revision;
        }
        appendEventsFrame(flushHeader as ResponseHeader, pendingIds[i], item);
      }
    } catch {
      rewindWatchFrames(start);
      failed = true;
    }
    this.clearPending();
    if (!failed) return watchFramesEnd();
    this.fail({ code: GrpcCode.Internal, message: "Error serializing response" });
    return -1;
  }

  /** Forgets the queued responses (and lets go of their events); a burst's memory is not kept. */
  private clearPending(): void {
    if (this.pendingCount > PENDING_KEPT) {
      this.pending.length = 0;
      this.pendingIds.length = 0;
      this.pendingRevisions.length = 0;
    } else {
      this.pending.fill(undefined, 0, this.pendingCount);
    }
    this.pendingCount = 0;
  }

  /** Writes the queued responses as one buffer (before the call ends). */
  private flush(): void {
    const count = this.pendingCount;
    if (!this.open || count === 0) return;
    const responses: WatchResponse[] = [];
    for (let i = 0; i < count; i++) {
      const item = this.pending[i] as WatchResponse | readonly Event[];
      if (!isEvents(item)) {
        responses.push(item);
        continue;
      }
      responses.push({
        header: (this.watchEvents as ClientWatchEvents).header(this.pendingRevisions[i]),
        watchId: this.pendingIds[i],
        created: false,
        canceled: false,
        compactRevision: 0,
        cancelReason: "",
        fragment: false,
        events: item as Event[],
      });
    }
    this.clearPending();
    let frames: Buffer;
    try {
      frames = frameWatchResponses(responses);
    } catch {
      this.fail({ code: GrpcCode.Internal, message: "Error serializing response" });
      return;
    }
    this.write(frames);
  }

  /** Writes part of a flush's frames (the memory is used again once this returns, see copiesWrites). */
  writePart(frames: Buffer, start: number, end: number): void {
    if (!this.open || this.stream.closed) return;
    const { stream } = this;
    if (stream.writePart === undefined) {
      this.write(frames.subarray(start, end));
      return;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      stream.respond();
    }
    if (stream.writePart(frames, start, end) || this.held) return;
    this.hold();
  }

  /** Writes frames on the stream; holds the watchers while the transport is full. */
  write(frames: Buffer): void {
    if (!this.open) return;
    const { stream } = this;
    if (stream.closed) return;
    if (!this.headersSent) {
      this.headersSent = true;
      stream.respond();
    }
    if (stream.write(frames) || this.held) return;
    this.hold();
  }

  private hold(): void {
    this.held = true;
    this.watch?.pause?.();
    this.stream.pauseReading();
  }

  drained(): void {
    if (!this.held) return;
    this.held = false;
    if (!this.open) return;
    this.watch?.resume?.();
    this.stream.resumeReading();
  }

  data(chunk: Buffer): void {
    if (!this.open) return;
    const refused = this.reader.push(chunk, this.take);
    if (refused !== undefined) this.fail({ code: refused.code as GrpcCode, message: refused.message });
  }

  private readonly take = (framed: Buffer): void => {
    this.handle(framed.subarray(messagePrefixLength));
  };

  /**
   * A half-closed watch stream keeps delivering events, as etcd's does: its end changes nothing,
   * unless it came partway through a message (grpc-go's receive error ends the call).
   */
  end(): void {
    if (!this.open) return;
    const refused = this.reader.end();
    if (refused !== undefined) this.fail({ code: refused.code as GrpcCode, message: refused.message });
  }

  closed(): void {
    this.close(GrpcCode.Canceled);
  }

  private handle(message: Buffer): void {
    const refused = gogoUnmarshalError(watchRequestShape, message);
    if (refused !== undefined) {
      this.fail({ code: GrpcCode.Internal, message: streamUnmarshalText(refused) });
      return;
    }
    let req: WatchRequest;
    try {
      req = WatchService.watch.requestDeserialize(message);
    } catch {
      this.fail({ code: GrpcCode.Internal, message: "Error deserializing request" });
      return;
    }
    this.meter.received();
    try {
      this.watch?.request(req);
    } catch (err) {
      this.fail(toRpcStatus(err));
    }
  }

  /**
   * Ends the call with a status: after the responses already queued, in trailers; a call that sent
   * nothing answers with trailers only (one HEADERS frame), as grpc-js does.
   */
  private fail(status: RpcStatus): void {
    if (!this.open) return;
    this.flush();
    if (!this.open) return; // the flush itself failed
    this.close(status.code);
    const { stream } = this;
    if (stream.closed) return;
    stream.resumeReading(); // what the client still sends is read and dropped
    stream.finish(status.code, status.message);
  }

  /** Stops the call's watchers and counts how it ended, once. */
  private close(code: number): void {
    if (!this.open) return;
    this.open = false;
    this.clearPending();
    this.reader.stop();
    this.leaderLoss?.unsubscribe();
    this.meter.handled(code);
    this.watch?.close();
  }
}

/** Whether a queued response is one of events alone (its events) rather than a WatchResponse. */
function isEvents(item: WatchResponse | readonly Event[]): item is readonly Event[] {
  return Array.isArray(item);
}

/** Whether a header holds "true" (once, or among repeated values), as grpc-js's metadata reads it. */
function hasTrue(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  return typeof value === "string" ? value === "true" : value.includes("true");
}
