// The feed's wire protocol: every event and every message as an io-ts codec. The server encodes
// with these types and every client in the repository (the CLI, the dashboard, the tests) decodes
// with the same codecs, so a change to one side that the other does not know fails loudly.
import * as t from "io-ts";

/** Bytes for a browser: the text when they are valid UTF-8, else `{ base64 }`. */
export const Bytes = t.union([t.string, t.type({ base64: t.string })]);
export type Bytes = t.TypeOf<typeof Bytes>;

/** An id (member, lease, cluster) in hex, as etcdctl prints it; "0" for none. */
const Id = t.string;

const envelope = {
  /** Milliseconds since the epoch on the member that emitted the event. */
  at: t.number,
  /** The emitting member's id. */
  member: Id,
};

const event = <T extends string, P extends t.Props>(type: T, props: P) =>
  t.type({ type: t.literal(type), ...envelope, ...props });

export const RaftRole = t.keyof({ follower: null, candidate: null, leader: null, "pre-candidate": null });
export type RaftRole = t.TypeOf<typeof RaftRole>;

/** This member's raft state (coalesced: only the newest is delivered). */
export const RaftStateEvent = event("raft.state", {
  role: RaftRole,
  term: t.number,
  leader: Id,
  commitIndex: t.number,
  appliedIndex: t.number,
});

/** The leader this member follows changed (lost, or a new one elected). */
export const LeaderChangeEvent = event("raft.leader", {
  leader: Id,
  previous: Id,
  term: t.number,
});

/** Raft Ready batches handled during `windowMs`, summed (a high-rate topic, coalesced per window). */
export const ReadyEvent = event("raft.ready", {
  windowMs: t.number,
  batches: t.number,
  entries: t.number,
  committedEntries: t.number,
  messages: t.number,
  snapshots: t.number,
  persistMsTotal: t.number,
  persistMsMax: t.number,
  term: t.number,
  commit: t.number,
});

/**
 * The entries applied in one window, coalesced into one event: the newest entry (index, term, kind, revision,
 * and its apply batch), with `skipped` entries applied before it in the window. Members of protocol 2 add the
 * window's summary: every entry applied since the previous apply event, from `firstIndex` to `index`.
 */
export const ApplyEvent = t.intersection([
  event("apply", {
    index: t.number,
    term: t.number,
    kind: t.string,
    revision: t.number,
    /** How long the apply batch holding this entry took. */
    durationMs: t.number,
    batchEntries: t.number,
    skipped: t.number,
  }),
  t.partial({
    /** The first entry applied in the window. */
    firstIndex: t.number,
    /** Entries applied in the window (`skipped` + 1). */
    entries: t.number,
    /** Apply batches in the window, their slowest and their mean time. */
    batches: t.number,
    durationMsMax: t.number,
    durationMsMean: t.number,
    /** Entries by request kind ("put", "txn", "leaseGrant", ..., "confChange"). */
    kinds: t.record(t.string, t.number),
  }),
]);

/** An apply batch slower than the configured warning (etcd's "apply request took too long"). */
export const SlowApplyEvent = event("apply.slow", {
  index: t.number,
  entries: t.number,
  durationMs: t.number,
  expectedMs: t.number,
});

export const KeyValueProps = t.type({
  key: Bytes,
  value: Bytes,
  createRevision: t.number,
  modRevision: t.number,
  version: t.number,
  lease: Id,
});
export type KeyValueProps = t.TypeOf<typeof KeyValueProps>;

/** A change to a key in a subscribed range (a browser-friendly watch event). */
export const KvEvent = t.intersection([
  event("kv", {
    revision: t.number,
    kind: t.keyof({ put: null, delete: null }),
    key: Bytes,
    /** The new value; "" for a delete. */
    value: Bytes,
    createRevision: t.number,
    modRevision: t.number,
    version: t.number,
    lease: Id,
  }),
  t.partial({
    /** The key before this change, when the subscription asked for previous values and it existed. */
    prev: KeyValueProps,
  }),
]);

/** The keys of one subscribed range at a revision: the initial state of a key-range subscription. */
export const KvSnapshotEvent = event("kv.snapshot", {
  /** Index of the range in the subscription. */
  range: t.number,
  revision: t.number,
  kvs: t.array(KeyValueProps),
  /** More keys exist than the feed sends at once (`FeedLimits.maxInitialKeys`). */
  more: t.boolean,
});

export const LeaseAction = t.keyof({
  grant: null,
  revoke: null,
  keepalive: null,
  checkpoint: null,
  expire: null,
});

/** A lease granted, kept alive, checkpointed, expired (the leader then revokes it) or revoked. */
export const LeaseEvent = event("lease", {
  action: LeaseAction,
  id: Id,
  /** The granted TTL in seconds. */
  ttl: t.number,
  /** Seconds left as of `at`. */
  remainingTtl: t.number,
});

/** Every lease this member knows, with the seconds left (counting down from `at`). */
export const LeaseListEvent = event("lease.list", {
  leases: t.array(t.type({ id: Id, ttl: t.number, remainingTtl: t.number, keys: t.number })),
});

export const MemberInfo = t.type({
  id: Id,
  name: t.string,
  peerUrls: t.array(t.string),
  clientUrls: t.array(t.string),
  isLearner: t.boolean,
});
export type MemberInfo = t.TypeOf<typeof MemberInfo>;

/** The cluster's members as this member knows them (coalesced). */
export const MembersEvent = event("members", {
  clusterId: Id,
  members: t.array(MemberInfo),
});

/** A membership change applied through Raft (on every member, as it applies it). */
export const MemberChangeEvent = event("member.change", {
  action: t.keyof({ add: null, "add-learner": null, promote: null, remove: null, update: null }),
  id: Id,
  /** The member's name ("" until it has published one, or when it was unknown). */
  name: t.string,
  peerUrls: t.array(t.string),
  isLearner: t.boolean,
  index: t.number,
});

export const PeerProgress = t.type({
  id: Id,
  name: t.string,
  /** Highest log index known to be replicated on the peer. */
  match: t.number,
  next: t.number,
  state: t.keyof({ probe: null, replicate: null, snapshot: null }),
  connected: t.boolean,
  /** Round-trip time to the peer; null when not measured. */
  rttMs: t.union([t.number, t.null]),
});
export type PeerProgress = t.TypeOf<typeof PeerProgress>;

/** Follower progress as the leader sees it (empty on a follower); coalesced, once a second. */
export const PeersEvent = event("peers", {
  leader: Id,
  peers: t.array(PeerProgress),
});

/** A raft snapshot was taken or received: the log before `index` can be dropped. */
export const SnapshotEvent = event("snapshot", { index: t.number, term: t.number });

/** A compaction applied through Raft. */
export const CompactionEvent = event("compaction", {
  revision: t.number,
  physical: t.boolean,
  index: t.number,
});

export const AlarmInfo = t.type({ memberId: Id, alarm: t.string });
export type AlarmInfo = t.TypeOf<typeof AlarmInfo>;

/** An alarm raised or cleared through Raft. */
export const AlarmEvent = event("alarm", {
  action: t.keyof({ activate: null, deactivate: null }),
  memberId: Id,
  alarm: t.string,
});

/** The alarms in force: the initial state of the alarms topic. */
export const AlarmListEvent = event("alarm.list", { alarms: t.array(AlarmInfo) });

/** Rates and sizes over the last second (one sample a second, coalesced). */
export const MetricsEvent = event("metrics", {
  windowMs: t.number,
  putsPerSec: t.number,
  deletesPerSec: t.number,
  readsPerSec: t.number,
  appliesPerSec: t.number,
  /** The slowest apply batch of the window. */
  applyMsMax: t.number,
  /** Apply batches: the mean time of one. */
  applyMsMean: t.number,
  /** The 99th percentile of WAL syncs in the window, from etcd_disk_wal_fsync_duration_seconds; null without syncs. */
  walFsyncMsP99: t.union([t.number, t.null]),
  dbSize: t.number,
  dbSizeInUse: t.number,
  revision: t.number,
  keys: t.number,
  leases: t.number,
  feedClients: t.number,
});

export const FeedEvent = t.union([
  RaftStateEvent,
  LeaderChangeEvent,
  ReadyEvent,
  ApplyEvent,
  SlowApplyEvent,
  KvEvent,
  KvSnapshotEvent,
  LeaseEvent,
  LeaseListEvent,
  MembersEvent,
  MemberChangeEvent,
  PeersEvent,
  SnapshotEvent,
  CompactionEvent,
  AlarmEvent,
  AlarmListEvent,
  MetricsEvent,
]);
export type FeedEvent = t.TypeOf<typeof FeedEvent>;
export type FeedEventType = FeedEvent["type"];
export type EventOf<T extends FeedEventType> = Extract<FeedEvent, { type: T }>;

/** What a client subscribes to; each event type belongs to exactly one topic. */
export const Topic = t.keyof({
  raft: null,
  ready: null,
  apply: null,
  kv: null,
  leases: null,
  members: null,
  peers: null,
  snapshots: null,
  alarms: null,
  metrics: null,
});
export type Topic = t.TypeOf<typeof Topic>;
export const ALL_TOPICS = Object.keys(Topic.keys) as Topic[];

export const TOPIC_OF: { readonly [K in FeedEventType]: Topic } = {
  "raft.state": "raft",
  "raft.leader": "raft",
  "raft.ready": "ready",
  apply: "apply",
  "apply.slow": "apply",
  kv: "kv",
  "kv.snapshot": "kv",
  lease: "leases",
  "lease.list": "leases",
  members: "members",
  "member.change": "members",
  peers: "peers",
  snapshot: "snapshots",
  compaction: "snapshots",
  alarm: "alarms",
  "alarm.list": "alarms",
  metrics: "metrics",
};

/**
 * A key range as etcd's watch takes it: one key; `rangeEnd` for [key, rangeEnd) ("\0" means every
 * key from `key` on); or `prefix` for every key starting with `key` ("" with prefix: every key).
 */
export const KeyRange = t.intersection([
  t.type({ key: t.string }),
  t.partial({
    rangeEnd: t.string,
    prefix: t.boolean,
    /** Replay the range's changes from this revision before the live ones (instead of a snapshot of its keys). */
    startRevision: t.number,
    /** Add each changed key's previous version to its kv events. */
    prevKv: t.boolean,
  }),
]);
export type KeyRange = t.TypeOf<typeof KeyRange>;

/**
 * How batches travel. `json` (protocol 1, and the default): the batch as a JSON argument. `deflate`
 * (protocol 2): the batch's JSON text, compressed with zlib's deflate (RFC 1950), as one binary
 * argument; `DecompressionStream("deflate")` reads it, in browsers and in Node. A member compresses each
 * batch of a subscription group once for all its deflate clients. Other messages stay JSON.
 */
export const FeedEncoding = t.keyof({ json: null, deflate: null });
export type FeedEncoding = t.TypeOf<typeof FeedEncoding>;

/** The newest protocol: 2 added `encoding` to the subscription (a member of protocol 1 ignores it and sends JSON). */
export const FEED_PROTOCOL_VERSION = 2;

/** client -> server "subscribe": replaces the connection's subscription. */
export const Subscription = t.intersection([
  t.type({ topics: t.array(Topic) }),
  t.partial({ keys: t.array(KeyRange), encoding: FeedEncoding }),
]);
export type Subscription = t.TypeOf<typeof Subscription>;

/** server -> client "batch": the events since the previous batch, in order (JSON, or deflated JSON: see FeedEncoding). */
export const FeedBatch = t.intersection([
  t.type({ events: t.array(FeedEvent) }),
  t.partial({
    /** The first batch after a subscribe: the current state of everything subscribed. */
    initial: t.boolean,
  }),
]);
export type FeedBatch = t.TypeOf<typeof FeedBatch>;

/** server -> client "feed-error": a refused subscription or handshake; the connection stays up. */
export const FeedError = t.type({ code: t.string, message: t.string });
export type FeedError = t.TypeOf<typeof FeedError>;

/** server -> client "dropped": the client fell behind a named limit and is disconnected. */
export const FeedDropped = t.type({ reason: t.string, limit: t.string, value: t.number });
export type FeedDropped = t.TypeOf<typeof FeedDropped>;

/** client -> server "ack": how many batches the client has handled since it connected. */
export const FeedAck = t.number;

/** The socket.io event names of the protocol. */
export const FeedMessages = {
  subscribe: "subscribe",
  ack: "ack",
  batch: "batch",
  error: "feed-error",
  dropped: "dropped",
} as const;

/** The path the feed is served under on the client port. */
export const FEED_PATH = "/socket.io";
