// Errors a client can see, with the gRPC status code and the exact text etcd 3.4 sends.
// Clients (etcdctl, clientv3, etcd3) match on these strings, so they are facts, not prose.

/** gRPC status codes used by etcd's error mapping. */
export const GrpcCode = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

/** An error a client caused or must handle; `message` is the full text sent to the client. */
export class EtcdError extends Error {
  constructor(
    readonly code: GrpcCode,
    message: string,
  ) {
    super(message);
    this.name = "EtcdError";
  }

  /** The text a client receives (the same as `message` here; lower layers may keep a shorter `message`). */
  get grpcMessage(): string {
    return this.message;
  }

  /**
   * The error as grpc-go prints a status error ("rpc error: code = PermissionDenied desc = ..."): the text etcd puts
   * where it sends one of its gRPC errors as a string (a watch's cancel reason).
   */
  get goStatusText(): string {
    const name = Object.keys(GrpcCode).find((k) => GrpcCode[k as keyof typeof GrpcCode] === this.code);
    return `rpc error: code = ${name ?? `Code(${this.code})`} desc = ${this.grpcMessage}`;
  }
}

/** Any error that carries a gRPC status for the client: this module's EtcdError or a lower layer's. */
export interface ClientVisibleError {
  readonly code: number;
  readonly grpcMessage: string;
}

export function isClientVisibleError(err: unknown): err is ClientVisibleError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ClientVisibleError>).code === "number" &&
    typeof (err as Partial<ClientVisibleError>).grpcMessage === "string"
  );
}

const e = (code: GrpcCode, text: string) => new EtcdError(code, `etcdserver: ${text}`);

/** One shared instance per error, compared by identity or by message. */
export const Errors = {
  EmptyKey: e(GrpcCode.InvalidArgument, "key is not provided"),
  KeyNotFound: e(GrpcCode.InvalidArgument, "key not found"),
  ValueProvided: e(GrpcCode.InvalidArgument, "value is provided"),
  LeaseProvided: e(GrpcCode.InvalidArgument, "lease is provided"),
  TooManyOps: e(GrpcCode.InvalidArgument, "too many operations in txn request"),
  DuplicateKey: e(GrpcCode.InvalidArgument, "duplicate key given in txn request"),
  InvalidClientAPIVersion: e(GrpcCode.InvalidArgument, "invalid client api version"),
  InvalidSortOption: e(GrpcCode.InvalidArgument, "invalid sort option"),
  Compacted: e(GrpcCode.OutOfRange, "mvcc: required revision has been compacted"),
  FutureRev: e(GrpcCode.OutOfRange, "mvcc: required revision is a future revision"),
  NoSpace: e(GrpcCode.ResourceExhausted, "mvcc: database space exceeded"),
  TooManyRequests: e(GrpcCode.ResourceExhausted, "too many requests"),
  RequestTooLarge: e(GrpcCode.InvalidArgument, "request is too large"),
  LeaseNotFound: e(GrpcCode.NotFound, "requested lease not found"),
  LeaseExist: e(GrpcCode.FailedPrecondition, "lease already exists"),
  LeaseTTLTooLarge: e(GrpcCode.OutOfRange, "too large lease TTL"),
  WatchCanceled: e(GrpcCode.Canceled, "watch canceled"),
  MemberExist: e(GrpcCode.FailedPrecondition, "member ID already exist"),
  PeerURLExist: e(GrpcCode.FailedPrecondition, "Peer URLs already exists"),
  /**
   * etcd 3.4 maps this refusal to rpctypes' client-side error (no gRPC status), which grpc-go sends as Unknown;
   * clients match the text.
   */
  MemberNotEnoughStarted: e(GrpcCode.Unknown, "re-configuration failed due to not enough started members"),
  MemberBadURLs: e(GrpcCode.InvalidArgument, "given member URLs are invalid"),
  MemberNotFound: e(GrpcCode.NotFound, "member not found"),
  MemberNotLearner: e(GrpcCode.FailedPrecondition, "can only promote a learner member"),
  LearnerNotReady: e(
    GrpcCode.FailedPrecondition,
    "can only promote a learner member which is in sync with leader",
  ),
  TooManyLearners: e(GrpcCode.FailedPrecondition, "too many learner members in cluster"),
  ClusterIdMismatch: e(GrpcCode.FailedPrecondition, "cluster ID mismatch"),
  RequestTooManyRequests: e(GrpcCode.ResourceExhausted, "too many requests"),
  /**
   * Applies lag commits by too much. etcd 3.4 maps this case to rpctypes' client-side error, which
   * carries no gRPC status, so grpc-go sends it as Unknown (the gateway's 500); clients match the text.
   */
  ApplyLagTooManyRequests: e(GrpcCode.Unknown, "too many requests"),
  RootUserNotExist: e(GrpcCode.FailedPrecondition, "root user does not exist"),
  RootRoleNotExist: e(GrpcCode.FailedPrecondition, "root user does not have root role"),
  UserAlreadyExist: e(GrpcCode.FailedPrecondition, "user name already exists"),
  UserEmpty: e(GrpcCode.InvalidArgument, "user name is empty"),
  UserNotFound: e(GrpcCode.FailedPrecondition, "user name not found"),
  RoleAlreadyExist: e(GrpcCode.FailedPrecondition, "role name already exists"),
  RoleNotFound: e(GrpcCode.FailedPrecondition, "role name not found"),
  RoleEmpty: e(GrpcCode.InvalidArgument, "role name is empty"),
  AuthFailed: e(GrpcCode.InvalidArgument, "authentication failed, invalid user ID or password"),
  PermissionDenied: e(GrpcCode.PermissionDenied, "permission denied"),
  RoleNotGranted: e(GrpcCode.FailedPrecondition, "role is not granted to the user"),
  PermissionNotGranted: e(GrpcCode.FailedPrecondition, "permission is not granted to the role"),
  AuthNotEnabled: e(GrpcCode.FailedPrecondition, "authentication is not enabled"),
  InvalidAuthToken: e(GrpcCode.Unauthenticated, "invalid auth token"),
  InvalidAuthMgmt: e(GrpcCode.InvalidArgument, "invalid auth management"),
  AuthOldRevision: e(GrpcCode.InvalidArgument, "revision of auth store is old"),
  NoLeader: e(GrpcCode.Unavailable, "no leader"),
  NotLeader: e(GrpcCode.FailedPrecondition, "not leader"),
  LeaderChanged: e(GrpcCode.Unavailable, "leader changed"),
  NotCapable: e(GrpcCode.Unavailable, "not capable"),
  Stopped: e(GrpcCode.Unavailable, "server stopped"),
  Timeout: e(GrpcCode.Unavailable, "request timed out"),
  TimeoutDueToLeaderFail: e(
    GrpcCode.Unavailable,
    "request timed out, possibly due to previous leader failure",
  ),
  TimeoutDueToConnectionLost: e(GrpcCode.Unavailable, "request timed out, possibly due to connection lost"),
  /**
   * A proposal no leader took within the request timeout: etcd's raft node holds a proposal while it
   * knows no leader, and the request context's error reaches the client as it is (grpc-go's code 2).
   */
  ProposalDeadlineExceeded: new EtcdError(GrpcCode.Unknown, "context deadline exceeded"),
  TimeoutWaitAppliedIndex: e(
    GrpcCode.Unavailable,
    "request timed out, waiting for the applied index took too long",
  ),
  Unhealthy: e(GrpcCode.Unavailable, "unhealthy cluster"),
  Corrupt: e(GrpcCode.DataLoss, "corrupt cluster"),
  BadLeaderTransferee: e(GrpcCode.FailedPrecondition, "bad leader transferee"),
  /** Not in etcd 3.4's map of server errors to gRPC ones: grpc-go sends it as Unknown. */
  TimeoutLeaderTransfer: e(GrpcCode.Unknown, "request timed out, leader transfer took too long"),
  NotSupportedForLearner: e(GrpcCode.Unavailable, "rpc not supported for learner"),
} as const;
