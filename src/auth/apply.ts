// The auth requests of the raft log, applied to the auth store (etcd's applierV3 auth methods).
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import type { AuthApplied, AuthStore } from "./store.js";

/** Whether an entry's request is one of the Auth service's. */
export function isAuthRequest(r: InternalRaftRequest): boolean {
  return (
    r.authEnable !== undefined ||
    r.authDisable !== undefined ||
    r.authenticate !== undefined ||
    r.authUserAdd !== undefined ||
    r.authUserDelete !== undefined ||
    r.authUserGet !== undefined ||
    r.authUserChangePassword !== undefined ||
    r.authUserGrantRole !== undefined ||
    r.authUserRevokeRole !== undefined ||
    r.authUserList !== undefined ||
    r.authRoleList !== undefined ||
    r.authRoleAdd !== undefined ||
    r.authRoleDelete !== undefined ||
    r.authRoleGet !== undefined ||
    r.authRoleGrantPermission !== undefined ||
    r.authRoleRevokePermission !== undefined
  );
}

/**
 * Applies an auth request at raft index `index`; throws etcd's error when the store refuses it.
 * `hashed` is the bcrypt hash of the clear password the entry carries, when it was computed ahead.
 */
export function applyAuthRequest(
  store: AuthStore,
  r: InternalRaftRequest,
  index: number,
  hashed?: Buffer,
): AuthApplied<object> {
  if (r.authEnable) return store.applyAuthEnable();
  if (r.authDisable) return store.applyAuthDisable();
  if (r.authenticate)
    return store.applyAuthenticate(r.authenticate.name, { index, prefix: r.authenticate.simpleToken });
  if (r.authUserAdd) return store.applyUserAdd(r.authUserAdd, hashed);
  if (r.authUserDelete) return store.applyUserDelete(r.authUserDelete);
  if (r.authUserGet) return store.applyUserGet(r.authUserGet);
  if (r.authUserChangePassword) return store.applyUserChangePassword(r.authUserChangePassword, hashed);
  if (r.authUserGrantRole) return store.applyUserGrantRole(r.authUserGrantRole);
  if (r.authUserRevokeRole) return store.applyUserRevokeRole(r.authUserRevokeRole);
  if (r.authUserList) return store.applyUserList();
  if (r.authRoleList) return store.applyRoleList();
  if (r.authRoleAdd) return store.applyRoleAdd(r.authRoleAdd);
  if (r.authRoleDelete) return store.applyRoleDelete(r.authRoleDelete);
  if (r.authRoleGet) return store.applyRoleGet(r.authRoleGet);
  if (r.authRoleGrantPermission) return store.applyRoleGrantPermission(r.authRoleGrantPermission);
  if (r.authRoleRevokePermission) return store.applyRoleRevokePermission(r.authRoleRevokePermission);
  throw new Error("not an auth request");
}
