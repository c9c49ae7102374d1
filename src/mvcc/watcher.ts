// One watcher: what it watches, where it is in the revision history, and its bounded outbox of batches waiting
// for its subscriber. The watchable store decides what goes in; the watcher decides when it goes out.
import { Observable } from "rxjs";
import { type Event, Event_EventType } from "../gen/mvccpb/kv.js";
import type { KeyRange } from "./watch-range.js";

/** What a watcher's subscriber receives. */
export interface WatchBatch {
  /** Events in revision order; all events of one revision (that pass the filters) are in one batch. */
  readonly events: Event[];
  /**
   * The revision this batch brings the watcher up to: every event of the watcher's range with a revision <= this
   * one has been delivered, in this batch or an earlier one.
   */
  readonly revision: number;
  /** Set, with `canceled`, when the watcher ended because history it still needed was compacted. */
  readonly compactRevision?: number;
  /** The last batch of a watcher ended by compaction. */
  readonly canceled?: boolean;
  /** A progress notification: no events, `revision` is the watcher's progress. */
  readonly progress?: boolean;
}

/** Where a watcher is: synced (fed by commits), unsynced (fed from history), ending (last batch queued), done. */
export type WatcherState = "synced" | "unsynced" | "ending" | "done";

/** What a watcher needs from the store that owns it. */
export interface WatcherHost {
  /**
   * The events with prev_kv filled (the key as of the revision before each), each event itself when
   * that is absent or compacted, or when it created its key. Every prev_kv watcher of one event gets
   * the same object, and of one batch of committed events the same array.
   */
  withPrevKv(events: Event[]): Event[];
  /** The revision up to which synced watchers have been fed. */
  revision(): number;
  /** The outbox of a watcher that refused a batch has room again. */
  roomAvailable(w: Watcher): void;
  /** The watcher left (cancelled, unsubscribed, failed): forget it. */
  detach(w: Watcher): void;
}

export interface WatcherSettings {
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly prevKv: boolean;
  /** Period of progress notifications while idle and synced; undefined = none. */
  readonly progressNotifyMs: number | undefined;
  /** The outbox bound: batches queued for a subscriber that has not taken them yet. */
  readonly maxPendingBatches: number;
}

/**
 * Where a watcher's batches go: one sink at a time. The sink is told which watcher speaks, so that one
 * object can take the batches of many watchers (a watch stream takes those of all its watchers).
 */
export interface WatcherSink {
  next(batch: WatchBatch, watcher: Watcher): void;
  /**
   * A batch of events and nothing else (`next({ events, revision })`), without the batch object: a
   * commit seen by many watchers is handed to each as the same array. Without it, `next` gets them.
   */
  events?(events: Event[], revision: number, watcher: Watcher): void;
  /** The watcher ended (cancelled, or its last batch was delivered). */
  complete(watcher: Watcher): void;
  /** The watcher ended because its history could not be read. */
  error(err: unknown, watcher: Watcher): void;
  /** The watcher has handed out everything it held (see isSettled); called after each drain. */
  settled?(watcher: Watcher): void;
}

// Flags of a watcher, in one number: a watcher is kept small, a member may hold tens of thousands.
const PAUSED = 1;
const DRAIN_QUEUED = 2;
const DRAINING = 4;
const ROOM_WANTED = 8;
const SENT_SINCE_PROGRESS_TICK = 16;

export class Watcher {
  /** For the store: the group this watcher is in. */
  state: WatcherState;
  /** For the store: the first revision whose events this watcher has not yet been given. */
  nextRev: number;

  private sink: WatcherSink | undefined = undefined;
  private flags = 0;
  /**
   * The first batch waiting, when it is events alone (most are: a commit the watcher is offered): its
   * events and revision, without a batch object or an outbox. It goes before `outbox`.
   */
  private headEvents: Event[] | undefined = undefined;
  private headRev = 0;
  /** Batches waiting for the sink after the head; allocated when one waits behind it. */
  private outbox: WatchBatch[] | undefined = undefined;
  private terminal: WatchBatch | undefined = undefined;
  private progressTimer: NodeJS.Timeout | undefined = undefined;

  constructor(
    /** Unique within its store. */
    readonly id: number,
    readonly range: KeyRange,
    state: "synced" | "unsynced",
    nextRev: number,
    /** Shared by every watcher created with the same options. */
    private readonly settings: WatcherSettings,
    private readonly host: WatcherHost,
  ) {
    this.state = state;
    this.nextRev = nextRev;
    this.armProgressTimer();
  }

  /**
   * Starts delivery to a sink. A watcher that already ended completes at once; one that has a sink
   * refuses a second.
   */
  attach(sink: WatcherSink): void {
    if (this.state === "done") {
      sink.complete(this);
      return;
    }
    if (this.sink !== undefined) throw new Error("a watcher has one subscriber at a time");
    this.sink = sink;
    this.queueDrain();
  }

  /** Leaves the watcher without telling the sink: the watcher is cancelled. */
  detach(): void {
    this.sink = undefined;
    this.cancel();
  }

  /** The batches of this watcher as an Observable. One subscriber at a time; unsubscribing cancels the watcher. */
  get events$(): Observable<WatchBatch> {
    return new Observable<WatchBatch>((subscriber) => {
      const sink: WatcherSink = {
        next: (batch) => subscriber.next(batch),
        complete: () => subscriber.complete(),
        error: (err) => subscriber.error(err),
      };
      try {
        this.attach(sink);
      } catch (err) {
        subscriber.error(err);
        return;
      }
      return () => {
        if (this.sink === sink) this.detach();
      };
    });
  }

  /** Stops the watcher: queued batches are dropped, the sink completes. Idempotent. */
  cancel(): void {
    if (this.state === "done") return;
    this.finish();
    const sink = this.sink;
    this.sink = undefined;
    sink?.complete(this);
  }

  /** Holds delivery (the subscriber is busy); the store keeps at most maxPendingBatches for it meanwhile. */
  pause(): void {
    this.flags |= PAUSED;
  }

  resume(): void {
    if (!(this.flags & PAUSED)) return;
    this.flags &= ~PAUSED;
    this.queueDrain();
  }

  get isPaused(): boolean {
    return (this.flags & PAUSED) !== 0;
  }

  /** Batches queued and not yet handed to the subscriber. */
  get pendingBatches(): number {
    return (this.headEvents !== undefined ? 1 : 0) + (this.outbox?.length ?? 0);
  }

  /**
   * True when commits feed the watcher directly and it has handed everything it was given to the subscriber: with
   * the store fed up to its revision, nothing of the watcher's at or below that revision is still to come (a
   * watcher starting later has nothing there at all). The condition for answering a progress request.
   */
  get isSettled(): boolean {
    return this.state === "synced" && this.pendingBatches === 0 && !(this.flags & DRAINING);
  }

  // ---- for the watchable store ----

  hasRoom(): boolean {
    return this.pendingBatches < this.settings.maxPendingBatches;
  }

  /**
   * Offers the events of one committed revision. False when the outbox is full (nothing was queued and the
   * store must catch the watcher up from history); true otherwise, also when the filters left nothing.
   */
  offerCommitted(events: Event[], rev: number): boolean {
    const kept = this.applyFilters(events);
    if (kept.length === 0) return true;
    if (!this.hasRoom()) {
      this.flags |= ROOM_WANTED;
      return false;
    }
    this.enqueueEvents(kept, rev);
    return true;
  }

  /** The store could not serve this watcher for lack of room: call roomAvailable once the subscriber drained. */
  wantRoom(): void {
    this.flags |= ROOM_WANTED;
  }

  /** Queues events read from history, complete through `throughRev`. The store checked hasRoom() first. */
  offerHistory(events: Event[], throughRev: number): void {
    const kept = this.applyFilters(events);
    if (kept.length > 0) this.enqueueEvents(kept, throughRev);
  }

  /** Ends the watcher because the history it needs is gone; its queued batches are still delivered first. */
  endCompacted(compactRevision: number, revision: number): void {
    if (this.state === "done" || this.state === "ending") return;
    this.state = "ending";
    this.clearProgressTimer();
    this.terminal = { events: [], revision, compactRevision, canceled: true };
    this.queueDrain();
  }

  /** Ends the watcher with an error (history could not be read); the subscriber gets the error. */
  fail(err: unknown): void {
    if (this.state === "done") return;
    this.finish();
    const sink = this.sink;
    this.sink = undefined;
    sink?.error(err, this);
  }

  /** The store moved the watcher to the synced group. */
  markSynced(): void {
    this.state = "synced";
    // a drain with nothing to deliver still reports the settled state, after any delivery in progress
    this.queueDrain();
  }

  // ---- internals ----

  /** Re-reads the state after callbacks that may have ended the watcher. */
  private isDone(): boolean {
    return this.state === "done";
  }

  private applyFilters(events: Event[]): Event[] {
    const { noPut, noDelete } = this.settings;
    if (!noPut && !noDelete) return events;
    return events.filter((ev) => !(ev.type === Event_EventType.PUT ? noPut : noDelete));
  }

  private enqueue(batch: WatchBatch): void {
    if (this.outbox === undefined) this.outbox = [batch];
    else this.outbox.push(batch);
    this.queueDrain();
  }

  /** Queues a batch of events alone: as the head when nothing waits (no object for it), else as a batch. */
  private enqueueEvents(events: Event[], revision: number): void {
    if (this.headEvents === undefined && (this.outbox === undefined || this.outbox.length === 0)) {
      this.headEvents = events;
      this.headRev = revision;
      this.queueDrain();
      return;
    }
    this.enqueue({ events, revision });
  }

  private queueDrain(): void {
    if (this.flags & (DRAIN_QUEUED | DRAINING)) return;
    this.flags |= DRAIN_QUEUED;
    drainQueue[queuedDrains++] = this;
    if (queuedDrains === 1) queueMicrotask(drainQueued);
  }

  /** For the shared drain queue only. */
  drain(): void {
    this.flags &= ~DRAIN_QUEUED;
    if (this.flags & DRAINING || this.state === "done") return;
    this.flags |= DRAINING;
    try {
      while (this.sink !== undefined && !(this.flags & PAUSED)) {
        const head = this.headEvents;
        if (head !== undefined) {
          const revision = this.headRev;
          this.headEvents = undefined;
          const events = this.settings.prevKv ? this.host.withPrevKv(head) : head;
          this.flags |= SENT_SINCE_PROGRESS_TICK;
          const sink = this.sink;
          if (sink.events !== undefined) sink.events(events, revision, this);
          else sink.next({ events, revision }, this);
          continue;
        }
        const outbox = this.outbox;
        if (outbox === undefined || outbox.length === 0) break;
        const batch = outbox.shift()!;
        const out = this.settings.prevKv ? this.withPrevKv(batch) : batch;
        if (out.events.length > 0) this.flags |= SENT_SINCE_PROGRESS_TICK;
        this.sink.next(out, this);
      }
      // an emptied outbox is let go: an idle watcher holds no array
      if (this.outbox !== undefined && this.outbox.length === 0) this.outbox = undefined;
      if (
        this.terminal !== undefined &&
        this.pendingBatches === 0 &&
        this.sink !== undefined &&
        !(this.flags & PAUSED)
      ) {
        const last = this.terminal;
        const sink = this.sink;
        this.finish();
        this.sink = undefined;
        sink.next(last, this);
        sink.complete(this);
      }
    } catch (err) {
      this.flags &= ~DRAINING;
      this.fail(err);
      return;
    }
    this.flags &= ~DRAINING;
    // an ended watcher told its sink already (complete or error)
    if (this.isDone()) return;
    if (this.flags & ROOM_WANTED && this.hasRoom()) {
      this.flags &= ~ROOM_WANTED;
      this.host.roomAvailable(this);
    }
    if (this.pendingBatches === 0) this.sink?.settled?.(this);
  }

  private withPrevKv(batch: WatchBatch): WatchBatch {
    return { ...batch, events: this.host.withPrevKv(batch.events) };
  }

  private finish(): void {
    this.state = "done";
    this.headEvents = undefined;
    this.outbox = undefined;
    this.terminal = undefined;
    this.clearProgressTimer();
    this.host.detach(this);
  }

  private armProgressTimer(): void {
    const period = this.settings.progressNotifyMs;
    if (period === undefined) return;
    // Up to 10% jitter so that watchers created together do not all report at the same moment.
    const delay = period + Math.floor(Math.random() * (period / 10));
    this.progressTimer = setTimeout(() => this.progressTick(), delay);
    this.progressTimer.unref();
  }

  private clearProgressTimer(): void {
    if (this.progressTimer !== undefined) clearTimeout(this.progressTimer);
    this.progressTimer = undefined;
  }

  private progressTick(): void {
    this.progressTimer = undefined;
    if (this.state === "done" || this.state === "ending") return;
    // Only a synced watcher knows that nothing up to the current revision is missing; one that just had
    // events needs no notification.
    if (this.state === "synced" && !(this.flags & SENT_SINCE_PROGRESS_TICK) && this.hasRoom()) {
      this.enqueue({ events: [], revision: this.host.revision(), progress: true });
    }
    this.flags &= ~SENT_SINCE_PROGRESS_TICK;
    this.armProgressTimer();
  }
}

/**
 * Watchers with a drain queued, drained in that order by one microtask: a commit seen by a hundred
 * watchers queues one microtask, not a hundred (each of which Node wraps in an async resource). The
 * first `queuedDrains` slots are used; the array is kept from one pass to the next (a fan-out queues
 * into the same memory every time) unless a burst made it big.
 */
const drainQueue: Array<Watcher | undefined> = [];
let queuedDrains = 0;
/** Slots the drain queue keeps between passes. */
const DRAIN_QUEUE_KEPT = 4096;

function drainQueued(): void {
  // watchers queued while these drain join the end of the queue and are drained in this pass
  for (let i = 0; i < queuedDrains; i++) {
    const w = drainQueue[i] as Watcher;
    drainQueue[i] = undefined;
    try {
      w.drain();
    } catch (err) {
      // a sink's callback threw: the error surfaces as it would from a microtask of its own
      queueMicrotask(() => {
        throw err;
      });
    }
  }
  if (queuedDrains > DRAIN_QUEUE_KEPT) drainQueue.length = 0;
  queuedDrains = 0;
}

/** A PUT that created its key (etcd sends no prev_kv for those). */
export function isCreate(ev: Event): boolean {
  return ev.type === Event_EventType.PUT && ev.kv !== undefined && ev.kv.createRevision === ev.kv.modRevision;
}
