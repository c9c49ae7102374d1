// The watchable store: watchers on keys and ranges over a revisioned KV store, as etcd's watchable_store.go
// behaves. Two groups: synced watchers are fed each committed revision as it happens; unsynced watchers (new
// watchers starting in the past, and watchers whose subscriber fell behind) are caught up from history in
// bounded slices between writes, then join the synced group. Nothing is dropped: a watcher that cannot take a
// batch leaves the synced group and reads that revision again from history later, or is cancelled with the
// compact revision when that history is gone.

import { WatchCreateRequest_FilterType } from "../gen/etcdserverpb/rpc.js";
import type { Event, KeyValue } from "../gen/mvccpb/kv.js";
import { KeyRange } from "./watch-range.js";
import { isCompactedError, type WatchableSource } from "./watchable-source.js";
import { isCreate, Watcher, type WatcherHost, type WatcherSettings } from "./watcher.js";
import { WatcherGroup } from "./watcher-group.js";

export type { WatchableSource } from "./watchable-source.js";
export type { WatchBatch, WatcherSink, WatcherState } from "./watcher.js";
export { Watcher } from "./watcher.js";

/** etcd's --watch-progress-notify-interval default. */
export const DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;
/** etcd refuses shorter progress intervals (v3rpc minWatchProgressInterval). */
export const MIN_PROGRESS_NOTIFY_INTERVAL_MS = 100;

export interface WatchableStoreOptions {
  /** Per-watcher outbox bound: batches queued for a subscriber that has not taken them (etcd: chanBufLen 128). */
  maxPendingBatches?: number;
  /** Unsynced watchers served per catch-up pass (etcd: maxWatchersPerSync 512). */
  maxWatchersPerSync?: number;
  /** Events per history batch of one watcher (a single revision larger than this is still sent whole). */
  maxEventsPerBatch?: number;
  /** Revisions per catch-up pass: one shared history read covers at most this many (etcd: 1000 per batch). */
  maxRevisionsPerRead?: number;
  /** Events per catch-up pass (a single revision larger than this is still read whole). */
  maxEventsPerRead?: number;
  /**
   * Target duration of one catch-up pass: the revisions read per pass adapt (between 1 and maxRevisionsPerRead)
   * so that a pass takes about this long, whatever the store's read speed; writes wait at most about this.
   */
  syncPassBudgetMs?: number;
  /** Period of progress notifications for idle synced watchers that asked for them. */
  progressNotifyIntervalMs?: number;
}

export interface WatchOptions {
  /** Non-empty (the watch stream turns an empty key into "\0", the smallest key, as etcd does). */
  key: Buffer;
  /** undefined or empty = the key alone; [0] = every key >= key; otherwise [key, rangeEnd). */
  rangeEnd?: Buffer;
  /** First revision to report; undefined or 0 = the next revision committed. */
  startRev?: number;
  filters?: readonly WatchCreateRequest_FilterType[];
  prevKv?: boolean;
  progressNotify?: boolean;
}

/** etcd's ErrEmptyWatcherRange text. */
export const WATCHER_RANGE_EMPTY = "mvcc: watcher range is empty";

export class WatchRangeEmptyError extends Error {
  constructor() {
    super(WATCHER_RANGE_EMPTY);
    this.name = "WatchRangeEmptyError";
  }
}

export interface WatchableStoreStats {
  synced: number;
  unsynced: number;
  /** Revision up to which synced watchers have been fed. */
  revision: number;
}

interface HistorySlice {
  events: Event[];
  /** Every event up to and including this revision is in `events` (or before the slice). */
  throughRev: number;
}

export class WatchableStore {
  private readonly maxPendingBatches: number;
  private readonly maxWatchersPerSync: number;
  private readonly maxEventsPerBatch: number;
  private readonly maxRevisionsPerRead: number;
  private readonly maxEventsPerRead: number;
  private readonly syncPassBudgetMs: number;
  /** Revisions the next catch-up read covers, adapted to syncPassBudgetMs. */
  private readSpan: number;
  private readonly progressNotifyMs: number;

  /** Watcher settings by option combination, shared by the watchers that have them. */
  private readonly settings: Array<WatcherSettings | undefined> = [];
  /** Arrays of events with prev_kv filled, by the array as committed, since the compaction at prevKvArraysAt. */
  private prevKvArrays = new WeakMap<Event[], Event[]>();
  private prevKvArraysAt = -1;
  /** Events with prev_kv filled, by the event as committed (see withPrevKv). */
  private readonly prevKvEvents = new WeakMap<Event, Event>();
  private readonly synced = new WatcherGroup<Watcher>();
  private readonly unsynced = new WatcherGroup<Watcher>();
  private readonly host: WatcherHost;
  private readonly unsubscribe: Array<() => void>;
  /** Revision up to which commits have been handed to synced watchers; history beyond it is not read. */
  private fedRev: number;
  private nextWatcherId = 1;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncImmediate: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly source: WatchableSource,
    options: WatchableStoreOptions = {},
  ) {
    this.maxPendingBatches = positive(options.maxPendingBatches ?? 128, "maxPendingBatches");
    this.maxWatchersPerSync = positive(options.maxWatchersPerSync ?? 512, "maxWatchersPerSync");
    this.maxEventsPerBatch = positive(options.maxEventsPerBatch ?? 1000, "maxEventsPerBatch");
    this.maxRevisionsPerRead = positive(options.maxRevisionsPerRead ?? 1000, "maxRevisionsPerRead");
    this.maxEventsPerRead = positive(options.maxEventsPerRead ?? 1000, "maxEventsPerRead");
    this.syncPassBudgetMs = positive(options.syncPassBudgetMs ?? 10, "syncPassBudgetMs");
    this.readSpan = Math.min(this.maxRevisionsPerRead, 64);
    this.progressNotifyMs = Math.max(
      MIN_PROGRESS_NOTIFY_INTERVAL_MS,
      options.progressNotifyIntervalMs ?? DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS,
    );
    this.fedRev = source.currentRev();
    this.host = {
      withPrevKv: (events) => this.withPrevKvEvents(events),
      revision: () => this.fedRev,
      roomAvailable: (w) => {
        if (w.state === "unsynced") this.scheduleSync(true);
      },
      detach: (w) => {
        this.synced.delete(w);
        this.unsynced.delete(w);
      },
    };
    this.unsubscribe = [
      source.onCommit((events, rev) => this.committed(events, rev)),
      source.onCompact(() => {
        if (this.unsynced.size > 0) this.scheduleSync(true);
      }),
    ];
  }

  /** The revision up to which synced watchers have been fed: a watch created now reports revisions after it. */
  get revision(): number {
    return this.fedRev;
  }

  stats(): WatchableStoreStats {
    return { synced: this.synced.size, unsynced: this.unsynced.size, revision: this.fedRev };
  }

  /** Creates a watcher. Throws WatchRangeEmptyError for an interval that ends at or before its start. */
  watch(options: WatchOptions): Watcher {
    if (this.closed) throw new Error("watchable store is closed");
    const range = new KeyRange(options.key, options.rangeEnd);
    if (range.isEmpty()) throw new WatchRangeEmptyError();
    const filters = options.filters ?? [];
    const startRev = options.startRev ?? 0;
    // Starting now or in the future: commits feed it. Starting in the past: history first. A negative start is
    // in the past too: the catch-up pass ends it as compacted, or (before any compaction) starts it now.
    const fromNow = startRev === 0 || startRev > this.fedRev;
    const nextRev = fromNow ? Math.max(this.fedRev + 1, startRev) : startRev;
    const w = new Watcher(
      this.nextWatcherId++,
      range,
      fromNow ? "synced" : "unsynced",
      nextRev,
      this.settingsFor(
        filters.includes(WatchCreateRequest_FilterType.NOPUT),
        filters.includes(WatchCreateRequest_FilterType.NODELETE),
        options.prevKv === true,
        options.progressNotify === true,
      ),
      this.host,
    );
    if (fromNow) {
      this.synced.add(w);
    } else {
      this.unsynced.add(w);
      this.scheduleSync(true);
    }
    return w;
  }

  /** The settings object shared by every watcher with these options (16 at most). */
  private settingsFor(
    noPut: boolean,
    noDelete: boolean,
    prevKv: boolean,
    progress: boolean,
  ): WatcherSettings {
    const index = (noPut ? 1 : 0) | (noDelete ? 2 : 0) | (prevKv ? 4 : 0) | (progress ? 8 : 0);
    let settings = this.settings[index];
    if (settings === undefined) {
      settings = {
        noPut,
        noDelete,
        prevKv,
        progressNotifyMs: progress ? this.progressNotifyMs : undefined,
        maxPendingBatches: this.maxPendingBatches,
      };
      this.settings[index] = settings;
    }
    return settings;
  }

  /**
   * Re-reads history for every watcher instead of trusting commit continuity: call after the KV store was
   * replaced wholesale (snapshot restore).
   */
  resync(): void {
    this.demoteAllSynced();
    this.fedRev = this.source.currentRev();
    this.scheduleSync(true);
  }

  /** Stops every watcher (their events$ complete) and detaches from the KV store. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.unsubscribe) off();
    this.clearSyncSchedule();
    for (const w of [...this.synced.values(), ...this.unsynced.values()]) w.cancel();
  }

  // ---- commits: feed the synced group ----

  private committed(events: Event[], rev: number): void {
    if (rev <= this.fedRev) return; // already seen
    this.feed(events, rev);
  }

  private feed(events: Event[], rev: number): void {
    if (rev !== this.fedRev + 1) {
      // A revision was never announced: nobody can be trusted to be in sync any more; history has it all.
      this.demoteAllSynced();
      this.fedRev = rev;
      this.scheduleSync(true);
      return;
    }
    this.fedRev = rev;
    if (this.synced.size === 0) return;
    if (events.length === 1) {
      this.feedOne(events, rev);
      return;
    }
    const perWatcher = new Map<Watcher, Event[]>();
    for (const ev of events) {
      const key = ev.kv?.key;
      if (key === undefined) continue;
      this.synced.forEachWatching(key, (w) => {
        if (rev < w.nextRev) return; // starts later
        const list = perWatcher.get(w);
        if (list === undefined) perWatcher.set(w, [ev]);
        else list.push(ev);
      });
    }
    for (const [w, evs] of perWatcher) {
      if (w.offerCommitted(evs, rev)) {
        w.nextRev = rev + 1;
      } else {
        // The subscriber is behind by a full outbox: stop feeding it live, read this revision from history later.
        this.demote(w, rev);
      }
    }
  }

  /**
   * A revision of one event (a put, most often): every watcher of its key gets the same array, and no
   * map of watchers is built. The watchers to demote are demoted after the walk over the group.
   */
  private feedOne(events: Event[], rev: number): void {
    const key = events[0].kv?.key;
    if (key === undefined) return;
    let behind: Watcher[] | undefined;
    this.synced.forEachWatching(key, (w) => {
      if (rev < w.nextRev) return; // starts later
      if (w.offerCommitted(events, rev)) w.nextRev = rev + 1;
      else (behind ??= []).push(w);
    });
    // The subscriber is behind by a full outbox: stop feeding it live, read this revision from history later.
    if (behind !== undefined) for (const w of behind) this.demote(w, rev);
  }

  /** Every synced watcher has had everything up to fedRev: from there on, history serves them. */
  private demoteAllSynced(): void {
    for (const w of [...this.synced.values()]) this.demote(w, Math.max(w.nextRev, this.fedRev + 1));
  }

  private demote(w: Watcher, nextRev: number): void {
    this.synced.delete(w);
    w.state = "unsynced";
    w.nextRev = nextRev;
    this.unsynced.add(w);
    this.scheduleSync(false);
  }

  // ---- catch-up: feed the unsynced group from history, a bounded slice at a time ----

  private scheduleSync(soon: boolean): void {
    if (this.closed || this.syncImmediate !== undefined) return;
    if (soon) {
      if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
      this.syncTimer = undefined;
      this.syncImmediate = setImmediate(() => {
        this.syncImmediate = undefined;
        this.syncPass();
      });
      return;
    }
    if (this.syncTimer !== undefined) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      this.syncPass();
    }, 1);
  }

  private clearSyncSchedule(): void {
    if (this.syncTimer !== undefined) clearTimeout(this.syncTimer);
    if (this.syncImmediate !== undefined) clearImmediate(this.syncImmediate);
    this.syncTimer = undefined;
    this.syncImmediate = undefined;
  }

  /**
   * One catch-up pass, as etcd's syncWatchers: choose up to maxWatchersPerSync unsynced watchers that can take
   * a batch, read one bounded slice of history starting at the lowest revision any of them needs, and hand each
   * its part. Watchers whose outbox is full are skipped (they call back when they have room).
   */
  private syncPass(): void {
    if (this.closed || this.unsynced.size === 0) return;
    const started = performance.now();
    const compactRev = this.source.compactRev();
    const chosen: Watcher[] = [];
    for (const w of [...this.unsynced.values()]) {
      if (chosen.length >= this.maxWatchersPerSync) break;
      if (w.nextRev < compactRev) this.cancelCompacted(w, compactRev);
      else if (w.nextRev > this.fedRev) this.promote(w);
      else if (w.nextRev <= 0) this.startNow(w);
      else if (!w.hasRoom()) w.wantRoom();
      else chosen.push(w);
    }
    if (chosen.length > 0) this.serveFromHistory(chosen);
    for (const w of chosen) {
      if (w.state !== "unsynced") continue;
      // Served but not done: to the back of the line, so that every watcher gets its turn.
      this.unsynced.delete(w);
      this.unsynced.add(w);
    }
    let moreWork = false;
    for (const w of this.unsynced.values()) {
      if (w.hasRoom()) moreWork = true;
      else w.wantRoom(); // resumes the passes when its subscriber has taken a batch
    }
    if (moreWork) {
      // Like etcd, yield to writers for about as long as this pass took before the next one.
      const took = performance.now() - started;
      this.syncTimer = setTimeout(
        () => {
          this.syncTimer = undefined;
          this.syncPass();
        },
        Math.max(1, Math.ceil(took)),
      );
    }
  }

  /** Reads one shared slice of history and gives each chosen watcher the part it needs. */
  private serveFromHistory(chosen: Watcher[]): void {
    let fromRev = chosen[0].nextRev;
    for (const w of chosen) fromRev = Math.min(fromRev, w.nextRev);
    // One watcher (or several on the same range): let the store filter; otherwise read every key once.
    const range = chosen.every((w) => sameRange(w.range, chosen[0].range)) ? chosen[0].range : ALL_KEYS;
    let slice: HistorySlice;
    const toRev = Math.min(this.fedRev, fromRev + this.readSpan - 1);
    try {
      const started = performance.now();
      slice = this.readHistory(range, fromRev, toRev);
      this.adaptReadSpan(performance.now() - started, toRev - fromRev + 1);
    } catch (err) {
      const compactRev = this.source.compactRev();
      for (const w of chosen) {
        if (!isCompactedError(err)) {
          this.unsynced.delete(w);
          w.fail(err);
        } else if (w.nextRev <= compactRev) {
          // The store refuses this revision: the oldest it serves is after its compact revision.
          this.cancelCompacted(w, w.nextRev < compactRev ? compactRev : compactRev + 1);
        }
      }
      return;
    }
    for (const w of chosen) {
      if (w.nextRev > slice.throughRev) continue; // ahead of this slice; its turn comes
      const mine = slice.events.filter((ev) => eventRev(ev) >= w.nextRev && w.range.contains(ev.kv!.key));
      const cut = wholeRevisionsWithin(mine, this.maxEventsPerBatch);
      const throughRev = cut < mine.length ? eventRev(mine[cut]) - 1 : slice.throughRev;
      w.offerHistory(cut < mine.length ? mine.slice(0, cut) : mine, throughRev);
      w.nextRev = throughRev + 1;
      if (w.nextRev > this.fedRev) this.promote(w);
    }
  }

  /** Halves the read span after a read over budget; doubles it after a full-span read well under budget. */
  private adaptReadSpan(tookMs: number, span: number): void {
    if (tookMs > this.syncPassBudgetMs) {
      this.readSpan = Math.max(1, Math.floor(this.readSpan / 2));
    } else if (tookMs < this.syncPassBudgetMs / 2 && span >= this.readSpan) {
      this.readSpan = Math.min(this.maxRevisionsPerRead, this.readSpan * 2);
    }
  }

  /** Reads the next history slice, cut at a revision boundary so that no revision is split across batches. */
  private readHistory(range: KeyRange, fromRev: number, toRev: number): HistorySlice {
    const limit = this.maxEventsPerRead;
    const events = this.source.eventsBetween(range.key, range.end, fromRev, toRev, limit);
    if (events.length < limit) return { events, throughRev: toRev };
    // Possibly truncated inside the last revision read: keep only whole revisions.
    const tailRev = eventRev(events[events.length - 1]);
    let cut = events.length;
    while (cut > 0 && eventRev(events[cut - 1]) === tailRev) cut--;
    if (cut > 0) return { events: events.slice(0, cut), throughRev: tailRev - 1 };
    // One revision holds at least `limit` events: it goes out whole, as etcd never splits a revision.
    return { events: this.source.eventsBetween(range.key, range.end, tailRev, tailRev), throughRev: tailRev };
  }

  private promote(w: Watcher): void {
    this.unsynced.delete(w);
    this.synced.add(w);
    w.markSynced();
  }

  /**
   * A watcher asking for revision -1 of a store never compacted (-1): etcd 3.4 reads history from its revision
   * bytes, which sort after every record, so it gets no history and is synced from the next revision on.
   */
  private startNow(w: Watcher): void {
    w.nextRev = this.fedRev + 1;
    this.promote(w);
  }

  private cancelCompacted(w: Watcher, compactRevision: number): void {
    this.unsynced.delete(w);
    w.endCompacted(compactRevision, this.fedRev);
  }

  /**
   * Events with their prev_kv: the prev_kv watchers of one revision, handed the same array of
   * events, get the same array back while no compaction came in between (what withPrevKv answers
   * for an event changes with the compact revision alone: history is not rewritten).
   */
  private withPrevKvEvents(events: Event[]): Event[] {
    const compactRev = this.source.compactRev();
    if (compactRev !== this.prevKvArraysAt) {
      this.prevKvArrays = new WeakMap();
      this.prevKvArraysAt = compactRev;
    }
    let filled = this.prevKvArrays.get(events);
    if (filled === undefined) {
      filled = events.map((ev) => (ev.kv === undefined || isCreate(ev) ? ev : this.withPrevKv(ev)));
      this.prevKvArrays.set(events, filled);
    }
    return filled;
  }

  /**
   * An event with its prev_kv, read once and shared by every prev_kv watcher of the event (one read
   * and one encoding for all of them, where each read it before). A copy made before a compaction
   * that has since passed its revision is not handed out: those watchers read again, and get none.
   */
  private withPrevKv(ev: Event): Event {
    const kv = ev.kv as KeyValue;
    const atRev = kv.modRevision - 1;
    const known = this.prevKvEvents.get(ev);
    if (known !== undefined && atRev >= this.source.compactRev()) return known;
    const prevKv = this.readPrevKv(kv.key, atRev);
    const filled = prevKv === undefined ? ev : { ...ev, prevKv };
    this.prevKvEvents.set(ev, filled);
    return filled;
  }

  private readPrevKv(key: Buffer, atRev: number): KeyValue | undefined {
    if (atRev <= 0) return undefined;
    try {
      return this.source.get(key, atRev);
    } catch (err) {
      if (isCompactedError(err)) return undefined; // etcd omits prev_kv when it is compacted
      throw err;
    }
  }
}

/** Every key: the range a shared history read covers. */
const ALL_KEYS = new KeyRange(Buffer.from([0]), Buffer.from([0]));

function sameRange(a: KeyRange, b: KeyRange): boolean {
  if (a.kind !== b.kind || !a.key.equals(b.key)) return false;
  if (a.end === undefined || b.end === undefined) return a.end === b.end;
  return a.end.equals(b.end);
}

/**
 * How many leading events to send so that at most `max` go out without splitting a revision; at least the
 * whole first revision.
 */
function wholeRevisionsWithin(events: Event[], max: number): number {
  if (events.length <= max) return events.length;
  let cut = max;
  // events[cut] is the first left out: back up to the start of its revision.
  while (cut > 0 && eventRev(events[cut - 1]) === eventRev(events[cut])) cut--;
  if (cut > 0) return cut;
  let end = 1;
  while (end < events.length && eventRev(events[end]) === eventRev(events[0])) end++;
  return end;
}

function eventRev(ev: Event): number {
  return ev.kv?.modRevision ?? 0;
}

function positive(n: number, name: string): number {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}
