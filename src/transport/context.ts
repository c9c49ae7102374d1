// What every piece of the transport shares: who we are, where raft hears about failures, where
// received messages go, the metrics, and the HTTP agents.
import type { Logger } from "pino";
import type { Message } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import type { Agents } from "./http-util.js";
import type { TransportMetrics } from "./metrics.js";
import { MIN_CLUSTER_VERSION, SERVER_VERSION } from "./versions.js";

/** Raft's side of delivery reports (etcd's ReportUnreachable / ReportSnapshot). */
export interface RaftStatusReporter {
  reportUnreachable(id: bigint): void;
  reportSnapshot(id: bigint, failed: boolean): void;
}

/** Stream and pipeline timings; etcd's values are the defaults, tests shorten them. */
export interface TransportTimings {
  /** TCP connect (and stream answer) timeout: 1 s + election timeout in etcd. */
  dialTimeoutMs: number;
  /** A stream with no bytes for this long is dead (etcd's 5 s ConnReadTimeout). */
  streamIdleMs: number;
  /** Link heartbeat spacing (ConnReadTimeout / 3). */
  heartbeatMs: number;
  /** A stream write that cannot drain for this long ends the stream (ConnWriteTimeout). */
  writeTimeoutMs: number;
  /** At most one stream dial per this interval per reader. */
  redialMs: number;
  /** /raft/probing interval (ConnReadTimeout - 1 s). */
  probeMs: number;
  /** How often a healthy peer's smoothed RTT is recorded (an unhealthy one's every 5 s at most). */
  probeReportMs: number;
  /** How long the snapshot sender reads the (empty) answer body. */
  snapshotAnswerReadMs: number;
}

export const ETCD_TIMINGS = (electionTimeoutMs: number): TransportTimings => ({
  dialTimeoutMs: 1000 + electionTimeoutMs,
  streamIdleMs: 5000,
  heartbeatMs: 5000 / 3,
  writeTimeoutMs: 5000,
  redialMs: 100,
  probeMs: 4000,
  probeReportMs: 30_000,
  snapshotAnswerReadMs: 5000,
});

export interface TransportContext {
  readonly localId: bigint;
  readonly clusterId: bigint;
  readonly localPeerUrls: readonly string[];
  readonly timings: TransportTimings;
  readonly raft: RaftStatusReporter;
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
  readonly now: () => number;
  /** Keep-alive agents for pipeline POSTs and snapshots. */
  readonly pipelineAgents: Agents;
  /** Agents without keep-alive: the TLS settings of long-lived stream GETs, and probes. */
  readonly streamAgents: Agents;
  /** A raft message arrived from a peer (stream or pipeline). */
  deliver(m: Message): void;
  /** A peer told us we were removed from the cluster (410 on a dial, 403 on a POST). */
  reportRemoved(detail: string): void;
}

/** The headers etcd puts on pipeline and snapshot POSTs. */
export function postHeaders(ctx: TransportContext, contentType: string): Record<string, string> {
  return {
    "Content-Type": contentType,
    "X-Server-From": formatId(ctx.localId),
    "X-Server-Version": SERVER_VERSION,
    "X-Min-Cluster-Version": MIN_CLUSTER_VERSION,
    "X-Etcd-Cluster-ID": formatId(ctx.clusterId),
    ...(ctx.localPeerUrls.length > 0 ? { "X-PeerURLs": ctx.localPeerUrls.join(",") } : {}),
  };
}

/** The headers etcd puts on a stream dial to `to`. */
export function streamHeaders(ctx: TransportContext, to: bigint): Record<string, string> {
  return {
    "X-Server-From": formatId(ctx.localId),
    "X-Server-Version": SERVER_VERSION,
    "X-Min-Cluster-Version": MIN_CLUSTER_VERSION,
    "X-Etcd-Cluster-ID": formatId(ctx.clusterId),
    "X-Raft-To": formatId(to),
    ...(ctx.localPeerUrls.length > 0 ? { "X-PeerURLs": ctx.localPeerUrls.join(",") } : {}),
  };
}

/** The member was removed: what etcd's errMemberRemoved says. */
export const MEMBER_REMOVED = "the member has been permanently removed from the cluster";

/** How a sender reads a POST answer (etcd's checkPostResponse). */
export type PostVerdict = { ok: true } | { ok: false; removed: boolean; reason: string };

export function checkPostAnswer(status: number, body: Buffer, url: string): PostVerdict {
  switch (status) {
    case 204:
      return { ok: true };
    case 403:
      return { ok: false, removed: true, reason: MEMBER_REMOVED };
    case 412: {
      const text = body.toString("utf8").replace(/\n$/, "");
      if (text === "incompatible version" || text === "cluster ID mismatch") {
        return { ok: false, removed: false, reason: text };
      }
      return {
        ok: false,
        removed: false,
        reason: `unhandled error ${JSON.stringify(text)} when precondition failed`,
      };
    }
    default:
      return {
        ok: false,
        removed: false,
        reason: `unexpected http status ${status} while posting to ${JSON.stringify(url)}`,
      };
  }
}
