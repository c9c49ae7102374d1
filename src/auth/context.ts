// Who is asking: what the client port learned about a request, and what the auth store makes of it.

/** Credentials a request arrived with (both absent for an anonymous request). */
export interface RequestContext {
  /** The `token` gRPC metadata entry, or the gateway's `Authorization` header. */
  readonly token?: string;
  /** The Common Name of the verified TLS client certificate (gRPC only, used with --client-cert-auth). */
  readonly commonName?: string;
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
