import { DeflateLevel, type EncodedBatch } from "./encoded-batch.js";
import { EventQueue } from "./event-queue.js";
import { type ByteRange, inByteRange } from "./key-range.js";
import type { KvChange } from "./kv-change.js";
import { type FeedEncoding, type FeedEvent, TOPIC_OF, type Topic } from "./protocol.js";

/** Who is connected and may read what (auth on); undefined with auth off. */
export interface FeedUser {
  readonly name: string;
  /** Whether the user may read the key (range permission). */
  canRead(key: Uint8Array): boolean;
}

/** One connected feed client: its socket id and how far behind it is. */
export interface FeedConnection {
  readonly id: string;
  readonly user: FeedUser | undefined;
  group: SubscriptionGroup | undefined;
  /** How its subscription asked for batches. */
  encoding: FeedEncoding;
  /** Batches sent since the connection opened. */
  sent: number;
  /** Batches the client said it handled. */
  acked: number;
}

export interface GroupRange {
  readonly range: ByteRange;
  readonly prevKv: boolean;
}

/**
 * The clients with the same subscription (topics, key ranges, user): they receive the same events,
 * so each batch is built and encoded once for all of them. State events are coalesced: a newer one
 * replaces the queued one with the same coalescing key.
 */
export class SubscriptionGroup {
  readonly clients = new Set<FeedConnection>();
  private readonly queue = new EventQueue();
  private shared: SharedInitialState | undefined;
  /** How hard the group's batches are compressed for its deflate clients. */
  readonly deflateLevel = new DeflateLevel();

  constructor(
    readonly id: string,
    readonly topics: ReadonlySet<Topic>,
    readonly ranges: readonly GroupRange[],
    readonly user: FeedUser | undefined,
  ) {}

  /** How many of the group's clients take each encoding. */
  encodings(): Record<FeedEncoding, number> {
    const n = { json: 0, deflate: 0 };
    for (const c of this.clients) n[c.encoding]++;
    return n;
  }

  get wantsPrev(): boolean {
    return this.ranges.some((r) => r.prevKv);
  }

  wantsTopic(e: FeedEvent): boolean {
    return this.topics.has(TOPIC_OF[e.type]);
  }

  /** The first matching range of a key the group may read, or undefined. */
  rangeFor(key: Uint8Array): GroupRange | undefined {
    if (!this.topics.has("kv")) return undefined;
    if (this.user && !this.user.canRead(key)) return undefined;
    return this.ranges.find((r) => inByteRange(key, r.range));
  }

  offer(event: FeedEvent, coalesce?: string): void {
    this.queue.push(event, coalesce);
  }

  /** Offers a key change: its event is written as JSON once, whichever group takes it first. */
  offerChange(change: KvChange, withPrev: boolean): void {
    change.queueIn(this.queue, withPrev);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Takes the queued events, in order, as the JSON texts of batches of at most `maxEvents` events. */
  take(maxEvents: number): Buffer[] {
    // a shared initial state holds only with everything since it queued here
    this.shared = undefined;
    return this.queue.takeBatches(maxEvents);
  }

  /** Forgets the queued events (the group's clients were dropped). */
  discard(): void {
    this.shared = undefined;
    this.queue.clear();
  }

  /**
   * The initial state another subscriber got, while it still holds for a newcomer: read when the queue
   * was last emptied (so the queue has every change since) and at most `maxAgeMs` ago (lease TTLs age).
   */
  sharedInitialState(now: number, maxAgeMs: number): SharedInitialState | undefined {
    const s = this.shared;
    return s && now - s.readAt < maxAgeMs ? s : undefined;
  }

  /** Keeps an initial state read with the queue empty, for the next subscribers of the group. */
  shareInitialState(state: SharedInitialState): void {
    if (this.queue.length === 0) this.shared = state;
  }
}

/** An initial state as sent: its events, and their batch encoded once per encoding for every subscriber that gets it. */
export interface SharedInitialState {
  readonly readAt: number;
  readonly events: readonly FeedEvent[];
  readonly encoded: EncodedBatch;
}
