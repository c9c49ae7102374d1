// One client watch stream: many watchers multiplexed by watch id, requests in, responses out, shaped so that the
// gRPC Watch service maps WatchRequest / WatchResponse onto it almost one to one (it only adds the header).
import { Subject } from "rxjs";
import type { WatchCreateRequest, WatchRequest, WatchResponse } from "../gen/etcdserverpb/rpc.js";
import { Event } from "../gen/mvccpb/kv.js";
import { KeyRange } from "./watch-range.js";
import { WATCHER_RANGE_EMPTY, type WatchableStore, WatchRangeEmptyError } from "./watchable-store.js";
import type { WatchBatch, Watcher, WatcherSink } from "./watcher.js";

/** A WatchResponse without its header; `revision` is the header's revision. */
export type WatchStreamResponse = Omit<WatchResponse, "header"> & {
  revision: number;
  /** A progress notification (periodic for one watcher, or the answer to a progress request, watchId -1). */
  progress: boolean;
};

/**
 * Takes a stream's plainest responses, those of events alone, as calls without a response object: a
 * commit seen by a hundred watchers is a hundred of them.
 */
export interface WatchEventsListener {
  /**
   * The response of watcher `watchId` with `events` (a non-empty array, shared by the watchers given
   * it), `revision` its header's: the WatchStreamResponse with these three set and every other field
   * unset (not created, not canceled, no compact revision, not a fragment, not progress).
   */
  events(watchId: number, revision: number, events: readonly Event[]): void;
}

/** clientv3.AutoWatchID: the server picks the id. */
export const AUTO_WATCH_ID = 0;
/** clientv3.InvalidWatchID: the id of replies that belong to no watcher. */
export const INVALID_WATCH_ID = -1;
/** etcd's ErrWatcherDuplicateID text. */
export const DUPLICATE_WATCH_ID = "mvcc: duplicate watch ID provided on the WatchStream";

/** etcd's default --max-request-bytes (1.5 MiB) plus its gRPC overhead allowance (512 KiB). */
export const DEFAULT_MAX_RESPONSE_BYTES = 1.5 * 1024 * 1024 + 512 * 1024;

/**
 * A bound on watchers shared by the streams that take from it (the API keeps one per client connection).
 * A stream takes one place per watcher it holds and gives it back when the watcher leaves the stream.
 */
export interface WatcherAdmission {
  /** Takes a place for one more watcher; false when the bound is reached. */
  take(): boolean;
  /** Gives back a place taken before. */
  release(): void;
  /** The cancel reason of a create refused for want of a place. */
  readonly refusal: string;
}

export interface WatchStreamOptions {
  /** Responses of watchers created with `fragment` are split above this size (etcd: max-request-bytes + 512 KiB). */
  maxResponseBytes?: number;
  /** Places for this stream's watchers; without it the stream holds any number. */
  admission?: WatcherAdmission;
}

/**
 * A watcher as its stream knows it: its id on the stream and how its batches are framed. It is the
 * watcher's sink, so a watcher costs the stream this one small record.
 */
class StreamWatcher implements WatcherSink {
  /**
   * Ended by compaction. As in etcd, its id stays taken until the client cancels it (which is then answered):
   * a server-chosen id skips it and a client-chosen one is a duplicate.
   */
  compacted = false;

  constructor(
    readonly stream: WatchStream,
    readonly watcher: Watcher,
    readonly watchId: number,
    readonly fragment: boolean,
  ) {}

  next(batch: WatchBatch): void {
    this.stream.deliver(this, batch);
  }

  events(events: Event[], revision: number): void {
    this.stream.deliverEvents(this, events, revision);
  }

  complete(): void {
    this.stream.forget(this);
  }

  error(): void {
    this.stream.failed(this);
  }

  settled(): void {
    this.stream.answerProgressIfSettled();
  }
}

export class WatchStream {
  private readonly out = new Subject<WatchStreamResponse>();
  /** Every response of the stream, in order. Subscribe before sending requests. */
  readonly responses$ = this.out.asObservable();
  /** Takes every response before responses$ does, called directly: the API's, once per watcher for every event. */
  private listener: ((response: WatchStreamResponse) => void) | undefined;
  /** Takes the responses of events alone instead of `listener`, while responses$ is not observed. */
  private eventsListener: WatchEventsListener | undefined;

  private readonly watchers = new Map<number, StreamWatcher>();
  private nextId = 0;
  private progressRequested = false;
  private paused = false;
  private closed = false;

  private readonly maxResponseBytes: number;
  private readonly admission: WatcherAdmission | undefined;

  constructor(
    private readonly store: WatchableStore,
    options: WatchStreamOptions = {},
  ) {
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.admission = options.admission;
  }

  /** Sets (or with undefined, removes) the listener that takes every response ahead of responses$. */
  listen(listener: ((response: WatchStreamResponse) => void) | undefined): void {
    this.listener = listener;
  }

  /**
   * Sets (or with undefined, removes) the listener that takes the responses of events alone (see
   * WatchEventsListener) in place of `listen`'s listener, in the stream's order with the others.
   * While responses$ is observed, every response goes to `listen`'s listener.
   */
  listenEvents(listener: WatchEventsListener | undefined): void {
    this.eventsListener = listener;
  }

  /** Dispatches one WatchRequest (create, cancel or progress). */
  request(req: Partial<WatchRequest>): void {
    if (req.createRequest !== undefined) this.create(req.createRequest);
    else if (req.cancelRequest !== undefined) this.cancel(req.cancelRequest.watchId);
    else if (req.progressRequest !== undefined) this.requestProgress();
  }

  /**
   * Creates a watcher and answers `created` before any of its events. Returns its watch id, or -1 when the
   * request was refused (the reply then has created and canceled set, with the reason).
   */
  create(req: Partial<WatchCreateRequest>): number {
    if (this.closed) return INVALID_WATCH_ID;
    const revision = this.store.revision;
    const refuse = (reason: string): number => {
      this.emit({ watchId: INVALID_WATCH_ID, created: true, canceled: true, cancelReason: reason, revision });
      return INVALID_WATCH_ID;
    };
    // A negative start revision is not refused: the store ends such a watcher as compacted, as etcd 3.4 does.
    const startRev = req.startRevision ?? 0;
    // An empty key means "\0", the smallest key.
    const key = req.key !== undefined && req.key.length > 0 ? req.key : Buffer.from([0]);
    // etcd checks the range before the watch id, so a refused range uses up no id.
    if (new KeyRange(key, req.rangeEnd).isEmpty()) return refuse(WATCHER_RANGE_EMPTY);
    let id = req.watchId ?? AUTO_WATCH_ID;
    if (id === AUTO_WATCH_ID) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return refuse(DUPLICATE_WATCH_ID);
    }
    // a refusal for want of a place uses up no id either (the next create may get a place)
    if (this.admission !== undefined && !this.admission.take()) {
      if (req.watchId === undefined || req.watchId === AUTO_WATCH_ID) this.nextId--;
      return refuse(this.admission.refusal);
    }
    let watcher: Watcher;
    try {
      watcher = this.store.watch({
        key,
        rangeEnd: req.rangeEnd,
        startRev,
        filters: req.filters,
        prevKv: req.prevKv,
        progressNotify: req.progressNotify,
      });
    } catch (err) {
      this.admission?.release();
      if (err instanceof WatchRangeEmptyError) return refuse(err.message);
      throw err;
    }
    if (this.paused) watcher.pause();
    this.emit({ watchId: id, created: true, revision });
    const entry = new StreamWatcher(this, watcher, id, req.fragment === true);
    // a watcher that ended already (compacted history) completes at once and holds no place
    this.watchers.set(id, entry);
    watcher.attach(entry);
    return id;
  }

  /** A batch of one of the stream's watchers, framed as WatchResponses. */
  deliver(entry: StreamWatcher, batch: WatchBatch): void {
    if (batch.compactRevision !== undefined && this.watchers.get(entry.watchId) === entry)
      entry.compacted = true;
    if (!entry.fragment) {
      this.emitBatch(entry, batch, batch.events, false);
      return;
    }
    const parts = fragments(batch.events, this.maxResponseBytes);
    for (let i = 0; i < parts.length; i++) this.emitBatch(entry, batch, parts[i], i < parts.length - 1);
  }

  /** A batch of events alone of one of the stream's watchers. */
  deliverEvents(entry: StreamWatcher, events: Event[], revision: number): void {
    const direct = this.eventsListener;
    if (direct === undefined || entry.fragment || this.out.observed) {
      this.deliver(entry, { events, revision });
      return;
    }
    if (this.closed) return;
    try {
      direct.events(entry.watchId, revision, events);
    } catch (err) {
      reportApart(err);
    }
  }

  /** One response of a batch (built whole: this runs once per watcher for every event). */
  private emitBatch(entry: StreamWatcher, batch: WatchBatch, events: Event[], fragment: boolean): void {
    if (this.closed) return;
    const compactRevision = batch.compactRevision;
    this.send({
      watchId: entry.watchId,
      // etcd's compaction notice carries no revision: its header says 0
      revision: compactRevision !== undefined ? 0 : batch.revision,
      created: false,
      // etcd's watch server sets canceled by the compact revision alone: a watcher ended by a compaction at
      // revision 0 (Compact(0) on a new store) gets an empty response that does not say canceled
      canceled: compactRevision !== undefined ? compactRevision !== 0 : batch.canceled === true,
      compactRevision: compactRevision ?? 0,
      cancelReason: "",
      fragment,
      events,
      progress: batch.progress === true,
    });
  }

  /** History could not be read: tell the client this watcher is gone rather than leave it silent. */
  failed(entry: StreamWatcher): void {
    this.emit({ watchId: entry.watchId, canceled: true, revision: this.store.revision });
    this.forget(entry);
  }

  /** A watcher ended by itself; its id stays taken when compaction ended it (see StreamWatcher.compacted). */
  forget(entry: StreamWatcher): void {
    if (this.watchers.get(entry.watchId) === entry && !entry.compacted) {
      this.watchers.delete(entry.watchId);
      this.admission?.release();
    }
    this.answerProgressIfSettled();
  }

  /** Cancels a watcher of this stream; answers `canceled`. Unknown ids are ignored, as etcd does. */
  cancel(watchId: number): boolean {
    const entry = this.watchers.get(watchId);
    if (entry === undefined || this.closed) return false;
    this.watchers.delete(watchId);
    this.admission?.release();
    entry.watcher.detach();
    this.emit({ watchId, canceled: true, revision: this.store.revision });
    this.answerProgressIfSettled();
    return true;
  }

  /**
   * Asks for a progress notification (watchId -1, revision R: every event <= R of every watcher on the stream
   * has been sent). Answered when every watcher of the stream is synced and has handed out all it holds; until
   * then the answer waits. A watcher starting at a later revision holds nothing back: etcd 3.4 answers at once.
   */
  requestProgress(): void {
    if (this.closed) return;
    this.progressRequested = true;
    this.answerProgressIfSettled();
  }

  /** Holds event delivery (the transport is full); control replies still go out. */
  pause(): void {
    this.paused = true;
    for (const { watcher } of this.watchers.values()) watcher.pause();
  }

  resume(): void {
    this.paused = false;
    for (const { watcher } of this.watchers.values()) watcher.resume();
  }

  /** The ids taken on this stream: live watchers, and those ended by compaction and not yet cancelled. */
  watchIds(): number[] {
    return [...this.watchers.keys()];
  }

  /** Cancels every watcher and completes responses$. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { watcher } of this.watchers.values()) {
      watcher.detach();
      this.admission?.release();
    }
    this.watchers.clear();
    this.out.complete();
  }

  /** Answers a pending progress request once every watcher of the stream is settled. */
  answerProgressIfSettled(): void {
    if (!this.progressRequested || this.closed) return;
    for (const { watcher, compacted } of this.watchers.values()) if (!compacted && !watcher.isSettled) return;
    this.progressRequested = false;
    this.emit({ watchId: INVALID_WATCH_ID, revision: this.store.revision, progress: true });
  }

  private emit(r: Partial<WatchStreamResponse> & { watchId: number; revision: number }): void {
    if (this.closed) return;
    this.send({
      watchId: r.watchId,
      revision: r.revision,
      created: r.created ?? false,
      canceled: r.canceled ?? false,
      compactRevision: r.compactRevision ?? 0,
      cancelReason: r.cancelReason ?? "",
      fragment: r.fragment ?? false,
      events: r.events ?? [],
      progress: r.progress ?? false,
    });
  }

  private send(response: WatchStreamResponse): void {
    try {
      this.listener?.(response);
    } catch (err) {
      reportApart(err);
    }
    if (this.out.observed) this.out.next(response);
  }
}

/** As a throwing responses$ subscriber's error is reported: apart, never into the stream's own work. */
function reportApart(err: unknown): void {
  setTimeout(() => {
    throw err;
  });
}

/**
 * Splits events into parts each encoding below maxBytes (a part holds at least one event), as etcd's
 * sendFragments; one part when everything fits or there is a single event.
 */
export function fragments(events: Event[], maxBytes: number): Event[][] {
  if (events.length < 2) return [events];
  const sizes = events.map((ev) => {
    const n = Event.encode(ev).finish().length;
    return n + 1 + varintLength(n); // field tag and length prefix
  });
  // Room for the header, watch id, flags and revisions of the response itself.
  const overhead = 64;
  if (sizes.reduce((a, b) => a + b, overhead) < maxBytes) return [events];
  const parts: Event[][] = [];
  let current: Event[] = [];
  let size = overhead;
  events.forEach((ev, i) => {
    if (current.length > 0 && size + sizes[i] >= maxBytes) {
      parts.push(current);
      current = [];
      size = overhead;
    }
    current.push(ev);
    size += sizes[i];
  });
  parts.push(current);
  return parts;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}
