// How the client API parts learn who is asking (etcd's AuthInfoFromCtx) and carry it into a
// proposal's header, where the apply loop checks it.
import type { AuthInfo, RequestContext } from "../../auth/context.js";
import type { RequestHeader } from "../../gen/etcdserverpb/raft_internal.js";
import { Errors } from "../../rpctypes/errors.js";
import type { ServerCore } from "../server-core.js";

/**
 * Runs `fn` with the request's user. Anonymous requests (the common case with auth off) stay
 * synchronous; an unknown or expired token fails with "invalid auth token".
 */
export function withAuthInfo<T>(
  core: ServerCore,
  ctx: RequestContext | undefined,
  fn: (ai: AuthInfo | undefined) => Promise<T>,
): Promise<T> {
  let ai: ReturnType<typeof core.auth.authInfo>;
  try {
    ai = core.auth.authInfo(ctx);
  } catch (err) {
    return Promise.reject(err);
  }
  return ai instanceof Promise ? ai.then(fn) : fn(ai);
}

/** The proposal header fields naming the user; the server fills in the request id. */
export function proposer(ai: AuthInfo | undefined): { header?: RequestHeader } {
  return ai ? { header: { ID: 0n, username: ai.username, authRevision: ai.revision } } : {};
}

/**
 * A read served locally (etcd's doSerialize): the permission check, the read, and a final check
 * that the auth store did not change under a token that speaks for a revision.
 */
export function serialized<T>(
  core: ServerCore,
  ai: AuthInfo | undefined,
  check: () => void,
  read: () => T,
): T {
  check();
  const resp = read();
  if (ai && ai.revision !== 0 && ai.revision !== core.auth.revision) throw Errors.AuthOldRevision;
  return resp;
}
