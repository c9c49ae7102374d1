// One watcher: what it watches, where it is in the revision history, and its bounded outbox of batches waiting
// for its subscriber. The watchable store decides what goes in; the watcher decides when it goes out.
import { Observable, type Subscriber } from "rxjs";
import { type Event, Event_EventType, type KeyValue } from "../gen/mvccpb/kv.js";
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
  /** The key as of `atRev` for prev_kv; undefined when absent or compacted. */
  readPrevKv(key: Buffer, atRev: number): KeyValue | undefined;
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

export class Watcher {
  /** The batches of this watcher. One subscriber at a time; unsubscribing cancels the watcher. */
  readonly events$: Observable<WatchBatch>;

  /** For the store: the group this watcher is in. */
  state: WatcherState;
  /** For the store: the first revision whose events this watcher has not yet been given. */
  nextRev: number;

  private readonly outbox: WatchBatch[] = [];
  private terminal: WatchBatch | undefined;
  private subscriber: Subscriber<WatchBatch> | undefined;
  private paused = false;
  private drainQueued = false;
  private draining = false;
  private roomWanted = false;
  private sentSinceProgressTick = false;
  private progressTimer: NodeJS.Timeout | undefined;
  private settleListener: (() => void) | undefined;

  constructor(
    /** Unique within its store. */
    readonly id: number,
    readonly range: KeyRange,
    state: "synced" | "unsynced",
    nextRev: number,
    private readonly settings: WatcherSettings,
    private readonly host: WatcherHost,
  ) {
    this.state = state;
    this.nextRev = nextRev;
    this.events$ = new Observable<WatchBatch>((subscriber) => {
      if (this.state === "done") {
        subscriber.complete();
        return;
      }
      if (this.subscriber !== undefined) {
        subscriber.error(new Error("a watcher has one subscriber at a time"));
        return;
      }
      this.subscriber = subscriber;
      this.queueDrain();
      return () => {
        if (this.subscriber === subscriber) {
          this.subscriber = undefined;
          this.cancel();
        }
      };
    });
    this.armProgressTimer();
  }

  /** Stops the watcher: queued batches are dropped, events$ completes. Idempotent. */
  cancel(): void {
    if (this.state === "done") return;
    this.finish();
    const sub = this.subscriber;
    this.subscriber = undefined;
    sub?.complete();
  }

  /** Holds delivery (the subscriber is busy); the store keeps at most maxPendingBatches for it meanwhile. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.queueDrain();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Batches queued and not yet handed to the subscriber. */
  get pendingBatches(): number {
    return this.outbox.length;
  }

  /**
   * True when commits feed the watcher directly and it has handed everything it was given to the subscriber: with
   * the store fed up to its revision, nothing of the watcher's at or below that revision is still to come (a
   * watcher starting later has nothing there at all). The condition for answering a progress request.
   */
  get isSettled(): boolean {
    return this.state === "synced" && this.outbox.length === 0 && !this.draining;
  }

  /** Called after the watcher may have become settled (drained, synced) or ended. One listener. */
  onSettle(listener: (() => void) | undefined): void {
    this.settleListener = listener;
  }

  // ---- for the watchable store ----

  hasRoom(): boolean {
    return this.outbox.length < this.settings.maxPendingBatches;
  }

  /**
   * Offers the events of one committed revision. False when the outbox is full (nothing was queued and the
   * store must catch the watcher up from history); true otherwise, also when the filters left nothing.
   */
  offerCommitted(events: Event[], rev: number): boolean {
    const kept = this.applyFilters(events);
    if (kept.length === 0) return true;
    if (!this.hasRoom()) {
      this.roomWanted = true;
      return false;
    }
    this.enqueue({ events: kept, revision: rev });
    return true;
  }

  /** The store could not serve this watcher for lack of room: call roomAvailable once the subscriber drained. */
  wantRoom(): void {
    this.roomWanted = true;
  }

  /** Queues events read from history, complete through `throughRev`. The store checked hasRoom() first. */
  offerHistory(events: Event[], throughRev: number): void {
    const kept = this.applyFilters(events);
    if (kept.length > 0) this.enqueue({ events: kept, revision: throughRev });
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
    const sub = this.subscriber;
    this.subscriber = undefined;
    sub?.error(err);
  }

  /** The store moved the watcher to the synced group. */
  markSynced(): void {
    this.state = "synced";
    this.queueSettleCheck();
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
    this.outbox.push(batch);
    this.queueDrain();
  }

  private queueDrain(): void {
    if (this.drainQueued || this.draining) return;
    this.drainQueued = true;
    queueMicrotask(() => this.drain());
  }

  private queueSettleCheck(): void {
    // A drain with nothing to deliver still reports the settled state, after any delivery in progress.
    this.queueDrain();
  }

  private drain(): void {
    this.drainQueued = false;
    if (this.draining || this.state === "done") return;
    this.draining = true;
    try {
      while (this.subscriber !== undefined && !this.paused && this.outbox.length > 0) {
        const batch = this.outbox.shift()!;
        const out = this.settings.prevKv ? this.withPrevKv(batch) : batch;
        if (out.events.length > 0) this.sentSinceProgressTick = true;
        this.subscriber.next(out);
      }
      if (
        this.terminal !== undefined &&
        this.outbox.length === 0 &&
        this.subscriber !== undefined &&
        !this.paused
      ) {
        const last = this.terminal;
        const sub = this.subscriber;
        this.finish();
        this.subscriber = undefined;
        sub.next(last);
        sub.complete();
      }
    } catch (err) {
      this.draining = false;
      this.fail(err);
      return;
    }
    this.draining = false;
    if (this.isDone()) {
      this.settleListener?.();
      return;
    }
    if (this.roomWanted && this.hasRoom()) {
      this.roomWanted = false;
      this.host.roomAvailable(this);
    }
    if (this.outbox.length === 0) this.settleListener?.();
  }

  private withPrevKv(batch: WatchBatch): WatchBatch {
    const events = batch.events.map((ev) => {
      const kv = ev.kv;
      if (kv === undefined || isCreate(ev)) return ev;
      const prevKv = this.host.readPrevKv(kv.key, kv.modRevision - 1);
      return prevKv === undefined ? ev : { ...ev, prevKv };
    });
    return { ...batch, events };
  }

  private finish(): void {
    this.state = "done";
    this.outbox.length = 0;
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
    if (this.state === "synced" && !this.sentSinceProgressTick && this.hasRoom()) {
      this.enqueue({ events: [], revision: this.host.revision(), progress: true });
    }
    this.sentSinceProgressTick = false;
    this.armProgressTimer();
  }
}

/** A PUT that created its key (etcd sends no prev_kv for those). */
export function isCreate(ev: Event): boolean {
  return ev.type === Event_EventType.PUT && ev.kv !== undefined && ev.kv.createRevision === ev.kv.modRevision;
}
