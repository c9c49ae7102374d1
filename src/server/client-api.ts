// What the client API (gRPC services, the JSON gateway, /health) needs from a running member.
// src/api depends on this interface only; src/server's EtcdServer implements it.
import type { Observable } from "rxjs";
import type { RequestContext } from "../auth/context.js";
import type {
  AlarmRequest,
  AlarmResponse,
  AuthDisableResponse,
  AuthEnableResponse,
  AuthenticateRequest,
  AuthenticateResponse,
  AuthRoleAddRequest,
  AuthRoleAddResponse,
  AuthRoleDeleteRequest,
  AuthRoleDeleteResponse,
  AuthRoleGetRequest,
  AuthRoleGetResponse,
  AuthRoleGrantPermissionRequest,
  AuthRoleGrantPermissionResponse,
  AuthRoleListResponse,
  AuthRoleRevokePermissionRequest,
  AuthRoleRevokePermissionResponse,
  AuthUserAddRequest,
  AuthUserAddResponse,
  AuthUserChangePasswordRequest,
  AuthUserChangePasswordResponse,
  AuthUserDeleteRequest,
  AuthUserDeleteResponse,
  AuthUserGetRequest,
  AuthUserGetResponse,
  AuthUserGrantRoleRequest,
  AuthUserGrantRoleResponse,
  AuthUserListResponse,
  AuthUserRevokeRoleRequest,
  AuthUserRevokeRoleResponse,
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
import type { WatchEventsListener, WatcherAdmission } from "../mvcc/watch-stream.js";

export type { ClientDeadline, RequestContext } from "../auth/context.js";
export type { WatchEventsListener, WatcherAdmission } from "../mvcc/watch-stream.js";

/** One client watch stream: requests in, responses out (the gRPC Watch bidi stream maps onto it 1:1). */
export interface ClientWatchStream {
  /** Handles a create, cancel or progress request; answers arrive through `onResponse`. */
  request(req: WatchRequest): void;
  /** Registers the consumer of every response of this stream, in order. */
  onResponse(listener: (resp: WatchResponse) => void): void;
  /** Cancels every watcher of the stream and releases it. */
  close(): void;
  /** Holds event delivery while the transport is full (watchers fall behind and catch up from history). */
  pause?(): void;
  /** Resumes event delivery. */
  resume?(): void;
  /** The responses of events alone as plain calls, for a consumer that frames them itself. */
  readonly events?: ClientWatchEvents;
}

/**
 * A watch stream's responses of events alone (most of its responses: one per watcher of a committed
 * key) without a WatchResponse each.
 */
export interface ClientWatchEvents {
  /**
   * Sends them to `listener` instead of onResponse's, in the stream's order with the responses that
   * still come through onResponse.
   */
  listen(listener: WatchEventsListener): void;
  /**
   * Their header, the member's at `revision`, as onResponse's responses carry it: a function that
   * streams of one member may share (called unbound).
   */
  readonly header: (revision: number) => ResponseHeader;
}

/** How a client connection's watch stream is bounded. */
export interface WatchStreamOptions {
  /** Places for the stream's watchers, shared with the other streams of its connection. */
  admission?: WatcherAdmission;
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

/** The Auth service: every change goes through raft; only root may manage users and roles. */
export interface ClientAuthApi {
  /** Whether auth is enabled now. */
  readonly enabled: boolean;
  authEnable(ctx?: RequestContext): Promise<AuthEnableResponse>;
  authDisable(ctx?: RequestContext): Promise<AuthDisableResponse>;
  /** Checks the password (bcrypt, off the apply loop) and issues a token through raft. */
  authenticate(req: AuthenticateRequest, ctx?: RequestContext): Promise<AuthenticateResponse>;
  userAdd(req: AuthUserAddRequest, ctx?: RequestContext): Promise<AuthUserAddResponse>;
  userGet(req: AuthUserGetRequest, ctx?: RequestContext): Promise<AuthUserGetResponse>;
  userList(ctx?: RequestContext): Promise<AuthUserListResponse>;
  userDelete(req: AuthUserDeleteRequest, ctx?: RequestContext): Promise<AuthUserDeleteResponse>;
  userChangePassword(
    req: AuthUserChangePasswordRequest,
    ctx?: RequestContext,
  ): Promise<AuthUserChangePasswordResponse>;
  userGrantRole(req: AuthUserGrantRoleRequest, ctx?: RequestContext): Promise<AuthUserGrantRoleResponse>;
  userRevokeRole(req: AuthUserRevokeRoleRequest, ctx?: RequestContext): Promise<AuthUserRevokeRoleResponse>;
  roleAdd(req: AuthRoleAddRequest, ctx?: RequestContext): Promise<AuthRoleAddResponse>;
  roleGet(req: AuthRoleGetRequest, ctx?: RequestContext): Promise<AuthRoleGetResponse>;
  roleList(ctx?: RequestContext): Promise<AuthRoleListResponse>;
  roleDelete(req: AuthRoleDeleteRequest, ctx?: RequestContext): Promise<AuthRoleDeleteResponse>;
  roleGrantPermission(
    req: AuthRoleGrantPermissionRequest,
    ctx?: RequestContext,
  ): Promise<AuthRoleGrantPermissionResponse>;
  roleRevokePermission(
    req: AuthRoleRevokePermissionRequest,
    ctx?: RequestContext,
  ): Promise<AuthRoleRevokePermissionResponse>;
}

/**
 * The member as its client API sees it. Every method rejects with an `EtcdError`
 * (src/rpctypes/errors.ts) carrying etcd's gRPC code and text when the request fails.
 * `ctx` carries the request's credentials (token or client certificate name); without it a
 * request is anonymous, which auth, once enabled, refuses.
 */
export interface ClientApi {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The header for a response built outside the apply path (current revision and raft term). */
  header(): ResponseHeader;

  range(req: RangeRequest, ctx?: RequestContext): Promise<RangeResponse>;
  /** Answers with this member's full header (cluster, member, raft term, revision), as txn does. */
  put(req: PutRequest, ctx?: RequestContext): Promise<PutResponse>;
  deleteRange(req: DeleteRangeRequest, ctx?: RequestContext): Promise<DeleteRangeResponse>;
  /** Answers with this member's full header, as put does (the gRPC handlers add none to either). */
  txn(req: TxnRequest, ctx?: RequestContext): Promise<TxnResponse>;
  compact(req: CompactionRequest, ctx?: RequestContext): Promise<CompactionResponse>;

  leaseGrant(req: LeaseGrantRequest, ctx?: RequestContext): Promise<LeaseGrantResponse>;
  leaseRevoke(req: LeaseRevokeRequest, ctx?: RequestContext): Promise<LeaseRevokeResponse>;
  leaseKeepAlive(id: bigint, ctx?: RequestContext): Promise<KeepAliveResult>;
  leaseTimeToLive(req: LeaseTimeToLiveRequest, ctx?: RequestContext): Promise<LeaseTimeToLiveResponse>;
  leaseLeases(ctx?: RequestContext): Promise<LeaseLeasesResponse>;

  /** A watch stream; each create request is checked against the stream's credentials. */
  watchStream(ctx?: RequestContext, options?: WatchStreamOptions): ClientWatchStream;

  memberList(ctx?: RequestContext): Promise<MemberListResponse>;
  memberAdd(req: MemberAddRequest, ctx?: RequestContext): Promise<MemberAddResponse>;
  memberRemove(req: MemberRemoveRequest, ctx?: RequestContext): Promise<MemberRemoveResponse>;
  memberUpdate(req: MemberUpdateRequest, ctx?: RequestContext): Promise<MemberUpdateResponse>;
  memberPromote(req: MemberPromoteRequest, ctx?: RequestContext): Promise<MemberPromoteResponse>;
  /** true while this member is a learner (it then serves only serializable ranges and status). */
  isLearner(): boolean;
  /** true when this member knows a leader (clientv3's `hasleader` metadata requires one). */
  hasLeader(): boolean;
  /**
   * Emits while this member has been without a leader for three election timeouts: streams opened
   * with `hasleader` end then with etcd's "etcdserver: no leader".
   */
  readonly leaderLoss$: Observable<void>;

  status(ctx?: RequestContext): Promise<StatusResponse>;
  alarm(req: AlarmRequest, ctx?: RequestContext): Promise<AlarmResponse>;
  hash(ctx?: RequestContext): Promise<HashResponse>;
  hashKV(req: HashKVRequest, ctx?: RequestContext): Promise<HashKVResponse>;
  defragment(ctx?: RequestContext): Promise<void>;
  moveLeader(req: MoveLeaderRequest, ctx?: RequestContext): Promise<MoveLeaderResponse>;
  /** A consistent copy of the backend; the API sends it in 32 KiB chunks with etcd's trailing SHA-256 message. */
  snapshot(ctx?: RequestContext): Promise<BackendSnapshot>;

  /** true when this member knows a leader and has no alarm that makes it unhealthy. */
  health(): Promise<{ health: boolean; reason?: string }>;
  /** The cluster version the members agreed on ("3.4.0"); undefined until it is decided. */
  clusterVersion(): string | undefined;
  /** The Auth service; a member without one answers as etcd with auth never enabled. */
  readonly auth?: ClientAuthApi;
  /** The Prometheus registry holding this member's metrics (etcd's metric names). */
  readonly metrics: import("prom-client").Registry;
}
