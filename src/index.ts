// What `import ... from "rxetcd"` gives: startEtcd and the typed pieces the README documents beside it
// (configuration, operator types and the operators it names, etcd's client-visible errors, the event
// feed's protocol codecs and its client). Each comes from its own module; this file only gathers them.

export { contained } from "../streams/operators/contained.js";
export { type RateOptions, refuseAboveRate } from "../streams/operators/refuse-above-rate.js";
export { type GiveBackOptions, giveMemoryBackAfterBursts } from "./cli/memory-after-bursts.js";
export { buildConfig, type Config, loadConfig, parseUrlList } from "./config/index.js";
export { type Etcd, type StartOptions, startEtcd } from "./embed/index.js";
export { FeedClient, type FeedClientOptions } from "./feed/client.js";
export type { EventFeedOptions, FeedAuthenticator } from "./feed/event-feed.js";
export { defaultFeedLimits, type FeedLimits } from "./feed/limits.js";
export {
  ALL_TOPICS,
  Bytes,
  type EventOf,
  FEED_PATH,
  FEED_PROTOCOL_VERSION,
  FeedBatch,
  FeedDropped,
  FeedEncoding,
  FeedError,
  FeedEvent,
  type FeedEventType,
  FeedMessages,
  KeyRange,
  KeyValueProps,
  Subscription as FeedSubscription,
  TOPIC_OF,
  Topic,
} from "./feed/protocol.js";
export {
  type AppliedRequest,
  type ApplyOperator,
  composeOperators,
  type FeedOperator,
  type Operators,
  type Proposal,
  type ProposalOperator,
  type RedactOptions,
  redactValues,
} from "./operators/index.js";
export { EtcdError, GrpcCode } from "./rpctypes/errors.js";
