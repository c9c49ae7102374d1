import type { Logger } from "pino";
import type { ClientDeadline } from "../auth/context.js";
import type { AuthStore } from "../auth/store.js";
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import type { AlarmMember, ResponseHeader } from "../gen/etcdserverpb/rpc.js";
import type { Lessor } from "../lease/lessor.js";
import type { RaftCluster } from "../membership/cluster.js";
import type { IdGenerator } from "../membership/id-generator.js";
import type { KVStore } from "../mvcc/kvstore.js";
import type { WatchableStore } from "../mvcc/watchable-store.js";
import type { ApplyResult } from "./apply.js";
import type { ClusterOps } from "./cluster-ops.js";
import type { KvRequests } from "./kv-requests.js";
import type { ServerMetrics } from "./metrics.js";
import type { RaftNode } from "./raft-node.js";
import type { LinearizableReads } from "./read-index.js";
import type { ServerConfig } from "./server-config.js";
import type { IndexWaiter } from "./wait.js";

/**
 * What the client API's parts (src/server/api) need from a running member: its state, and the two
 * ways in — a proposal through raft, and a linearizable read point. The run pipeline owns the rest.
 */
export interface ServerCore {
  readonly cfg: ServerConfig;
  readonly log: Logger;
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly store: KVStore;
  readonly watchable: WatchableStore;
  readonly lessor: Lessor;
  /** Users, roles, permissions and tokens. */
  readonly auth: AuthStore;
  readonly raft: RaftNode;
  readonly cluster: RaftCluster;
  readonly kv: KvRequests;
  readonly reads: LinearizableReads;
  readonly appliedIndex: IndexWaiter;
  readonly idGen: IdGenerator;
  readonly serverMetrics: ServerMetrics;
  readonly clusterOps: ClusterOps;
  /** Raised alarms, as applied. */
  alarms(): AlarmMember[];
  /**
   * Proposes a request through raft and waits for its apply result (etcd's processInternalRaftRequest),
   * until the request timeout or the client's deadline.
   */
  propose(req: Partial<InternalRaftRequest>, deadline?: ClientDeadline): Promise<ApplyResult>;
  /** The response header at a revision (default: the current one). */
  header(revision?: number): ResponseHeader;
  /** Runs work that must not overlap an apply batch (defragmentation). */
  exclusive<T>(work: () => Promise<T>): Promise<T>;
}

/** Stamps a response with this member's header, keeping the revision the apply reported. */
export function withHeader<T extends { header: ResponseHeader | undefined }>(core: ServerCore, resp: T): T {
  resp.header = core.header(resp.header?.revision ?? core.store.currentRev());
  return resp;
}

/** etcd's request timeout: 5 s plus two election timeouts. */
export function requestTimeoutMs(c: ServerConfig): number {
  return 5000 + 2 * c.electionTicks * c.tickMs;
}
