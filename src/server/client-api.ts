// What the client API (gRPC services, the JSON gateway, /health) needs from a running member.
// src/api depends on this interface only; src/server's EtcdServer implements it.
import type {
  AlarmRequest,
  AlarmResponse,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  HashKVRequest,
  HashKVResponse,
  HashResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  MemberAddRequest,
  MemberAddResponse,
  MemberListResponse,
  MemberPromoteRequest,
  MemberPromoteResponse,
  MemberRemoveRequest,
  MemberRemoveResponse,
  MemberUpdateRequest,
  MemberUpdateResponse,
  MoveLeaderRequest,
  MoveLeaderResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  StatusResponse,
  TxnRequest,
  TxnResponse,
  WatchRequest,
  WatchResponse,
} from "../gen/etcdserverpb/rpc.js";

/** One client watch stream: requests in, responses out (the gRPC Watch bidi stream maps onto it 1:1). */
export interface ClientWatchStream {
  /** Handles a create, cancel or progress request; answers arrive through `onResponse`. */
  request(req: WatchRequest): void;
  /** Registers the consumer of every response of this stream, in order. */
  onResponse(listener: (resp: WatchResponse) => void): void;
  /** Cancels every watcher of the stream and releases it. */
  close(): void;
}

/** A consistent copy of the backend file at one revision. */
export interface BackendSnapshot {
  readonly size: number;
  readonly revision: number;
  readonly chunks: AsyncIterable<Buffer>;
}

/** A lease keep-alive answer: TTL 0 when the lease is unknown or expired (no error, as etcd). */
export interface KeepAliveResult {
  header: ResponseHeader;
  id: bigint;
  ttl: number;
}

/**
 * The member as its client API sees it. Every method rejects with an `EtcdError`
 * (src/rpctypes/errors.ts) carrying etcd's gRPC code and text when the request fails.
 */
export interface ClientApi {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The header for a response built outside the apply path (current revision and raft term). */
  header(): ResponseHeader;

  range(req: RangeRequest): Promise<RangeResponse>;
  put(req: PutRequest): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse>;
  txn(req: TxnRequest): Promise<TxnResponse>;
  compact(req: CompactionRequest): Promise<CompactionResponse>;

  leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse>;
  leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse>;
  leaseKeepAlive(id: bigint): Promise<KeepAliveResult>;
  leaseTimeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse>;
  leaseLeases(): Promise<LeaseLeasesResponse>;

  watchStream(): ClientWatchStream;

  memberList(): Promise<MemberListResponse>;
  memberAdd(req: MemberAddRequest): Promise<MemberAddResponse>;
  memberRemove(req: MemberRemoveRequest): Promise<MemberRemoveResponse>;
  memberUpdate(req: MemberUpdateRequest): Promise<MemberUpdateResponse>;
  memberPromote(req: MemberPromoteRequest): Promise<MemberPromoteResponse>;
  /** true while this member is a learner (it then serves only serializable ranges and status). */
  isLearner(): boolean;
  /** true when this member knows a leader (clientv3's `hasleader` metadata requires one). */
  hasLeader(): boolean;

  status(): Promise<StatusResponse>;
  alarm(req: AlarmRequest): Promise<AlarmResponse>;
  hash(): Promise<HashResponse>;
  hashKV(req: HashKVRequest): Promise<HashKVResponse>;
  defragment(): Promise<void>;
  moveLeader(req: MoveLeaderRequest): Promise<MoveLeaderResponse>;
  /** A consistent copy of the backend; the API sends it in 32 KiB chunks with etcd's trailing SHA-256 message. */
  snapshot(): Promise<BackendSnapshot>;

  /** true when this member knows a leader and has no alarm that makes it unhealthy. */
  health(): Promise<{ health: boolean; reason?: string }>;
  /** The Prometheus registry holding this member's metrics (etcd's metric names). */
  readonly metrics: import("prom-client").Registry;
}
