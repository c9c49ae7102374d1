// Which access each request needs, checked where etcd checks it: reads and read-only txns before
// they are served, writes and auth management when their entry is applied (with the user and auth
// revision the proposer put in the entry's header), so a permission revoked in between counts.
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import type { RequestOp, TxnRequest } from "../gen/etcdserverpb/rpc.js";
import type { AuthInfo } from "./context.js";
import type { AuthStore } from "./store.js";

const NO_END = Buffer.alloc(0);

/** Auth management requests only root may apply (etcd's needAdminPermission; UserGet/RoleGet aside). */
function needsAdmin(r: InternalRaftRequest): boolean {
  return (
    r.authEnable !== undefined ||
    r.authDisable !== undefined ||
    r.authUserAdd !== undefined ||
    r.authUserDelete !== undefined ||
    r.authUserChangePassword !== undefined ||
    r.authUserGrantRole !== undefined ||
    r.authUserRevokeRole !== undefined ||
    r.authRoleAdd !== undefined ||
    r.authRoleGrantPermission !== undefined ||
    r.authRoleRevokePermission !== undefined ||
    r.authRoleDelete !== undefined ||
    r.authUserList !== undefined ||
    r.authRoleList !== undefined
  );
}

/**
 * Every compare and every op of a txn, nested txns included (etcd 3.4 skipped nested txns; they
 * are checked here). Deletes with prev_kv also need read access.
 */
export function checkTxn(store: AuthStore, ai: AuthInfo | undefined, txn: TxnRequest): void {
  for (const c of txn.compare) store.checkAccess(ai, c.key, c.rangeEnd, "read");
  checkOps(store, ai, txn.success);
  checkOps(store, ai, txn.failure);
}

function checkOps(store: AuthStore, ai: AuthInfo | undefined, ops: RequestOp[]): void {
  for (const op of ops) {
    if (op.requestRange) store.checkAccess(ai, op.requestRange.key, op.requestRange.rangeEnd, "read");
    else if (op.requestPut) store.checkAccess(ai, op.requestPut.key, NO_END, "write");
    else if (op.requestDeleteRange) {
      const d = op.requestDeleteRange;
      if (d.prevKv) store.checkAccess(ai, d.key, d.rangeEnd, "read");
      store.checkAccess(ai, d.key, d.rangeEnd, "write");
    } else if (op.requestTxn) checkTxn(store, ai, op.requestTxn);
  }
}

/** A lease may be revoked, or given to a new key, only by a user who may write every key it holds. */
function checkLeaseKeys(store: AuthStore, ai: AuthInfo | undefined, keys: readonly Buffer[]): void {
  for (const key of keys) store.checkAccess(ai, key, NO_END, "write");
}

/**
 * The permission check of an entry being applied; throws etcd's error when its proposer may not do
 * it. `leaseKeys` lists the keys attached to a lease.
 */
export function checkAppliedRequest(
  store: AuthStore,
  r: InternalRaftRequest,
  leaseKeys: (id: bigint) => readonly Buffer[],
): void {
  if (!store.enabled) return;
  const ai: AuthInfo = { username: r.header?.username ?? "", revision: r.header?.authRevision ?? 0 };
  if (needsAdmin(r)) store.checkAdmin(ai);
  else if (r.put) {
    store.checkAccess(ai, r.put.key, NO_END, "write");
    if (r.put.lease !== 0n) checkLeaseKeys(store, ai, leaseKeys(r.put.lease));
    if (r.put.prevKv) store.checkAccess(ai, r.put.key, NO_END, "read");
  } else if (r.deleteRange) {
    store.checkAccess(ai, r.deleteRange.key, r.deleteRange.rangeEnd, "write");
    if (r.deleteRange.prevKv) store.checkAccess(ai, r.deleteRange.key, r.deleteRange.rangeEnd, "read");
  } else if (r.txn) checkTxn(store, ai, r.txn);
  else if (r.leaseRevoke) checkLeaseKeys(store, ai, leaseKeys(r.leaseRevoke.ID));
  else if (r.authUserGet) {
    // a user may read itself
    if (r.authUserGet.name !== ai.username) store.checkAdmin(ai);
  } else if (r.authRoleGet) {
    // and the roles it holds
    if (!store.hasRole(ai.username, r.authRoleGet.role)) store.checkAdmin(ai);
  }
}
