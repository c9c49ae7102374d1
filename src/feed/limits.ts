/** Every bound of the feed, by name; a client that passes one is told which. */
export interface FeedLimits {
  /** Batches a client may leave unacknowledged; one more and it is dropped as too slow (8 s at the default flush). */
  readonly maxUnackedBatches: number;
  /** Events in one batch; a longer backlog goes out as several batches. */
  readonly maxBatchEvents: number;
  /** Events a subscription group may hold between two sends; beyond it its clients are dropped. */
  readonly maxQueuedEvents: number;
  /**
   * How often queued events are sent (and state topics coalesced). Each send is a socket write per client,
   * and with many clients the writes, not the bytes, are most of the feed's cost: four a second keep a
   * change on screen well within a second and cost less than half of ten.
   */
  readonly flushIntervalMs: number;
  /** How often the metrics and peers topics are sampled. */
  readonly sampleIntervalMs: number;
  /** Keys sent as the initial state of one key range (the rest is announced with `more`). */
  readonly maxInitialKeys: number;
  /** Past changes replayed for a key range with a start revision. */
  readonly maxReplayEvents: number;
  /** Key ranges in one subscription. */
  readonly maxKeyRanges: number;
  /** Connected feed clients on this member. */
  readonly maxClients: number;
  /** Bytes of one client message (subscriptions are small). */
  readonly maxMessageBytes: number;
  /** How long a feed operator may take over one event. */
  readonly operatorTimeoutMs: number;
  /** Events that may wait behind a feed operator's slow run before they are dropped. */
  readonly maxOperatorPending: number;
}

export const defaultFeedLimits: FeedLimits = {
  maxUnackedBatches: 32,
  maxBatchEvents: 2000,
  maxQueuedEvents: 100_000,
  flushIntervalMs: 250,
  sampleIntervalMs: 1000,
  maxInitialKeys: 1000,
  maxReplayEvents: 10_000,
  maxKeyRanges: 16,
  maxClients: 1000,
  maxMessageBytes: 64 * 1024,
  operatorTimeoutMs: 1000,
  maxOperatorPending: 10_000,
};
