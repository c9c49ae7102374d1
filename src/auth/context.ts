// Who is asking: what the client port learned about a request, and what the auth store makes of it.

/** Credentials a request arrived with (both absent for an anonymous request), and its client's deadline. */
export interface RequestContext {
  /** The `token` gRPC metadata entry, or the gateway's `Authorization` header. */
  readonly token?: string;
  /** The Common Name of the verified TLS client certificate (gRPC only, used with --client-cert-auth). */
  readonly commonName?: string;
  /** The call's grpc-timeout, when it has one (etcd's handlers wait under the call's context). */
  readonly deadline?: ClientDeadline;
}

/**
 * A client's deadline, as the server's waits see it: etcd waits for a proposal (and forwards a call)
 * under the call's context, so a deadline that passes first ends the wait with the error etcd gives
 * there (parseProposeCtxErr's for a proposal raft took).
 */
export interface ClientDeadline {
  /** When it passes, in milliseconds of performance.now(). */
  readonly at: number;
  /**
   * `expired` is called (synchronously, before the call answers by itself) when the deadline passes
   * while the call still waits. One listener: the wait that registers last is the one told.
   */
  onExpiry(expired: () => void): void;
}

/** A user and the auth revision its credentials speak for (0: no user). */
export interface AuthInfo {
  readonly username: string;
  readonly revision: number;
}

/**
 * The member's own requests that must pass permission checks when auth is on (revoking an expired
 * lease): they act as `root`, as etcd's internal requests do. Recognised by identity only, so no
 * client request can produce it.
 */
export const internalRootContext: RequestContext = Object.freeze({});
