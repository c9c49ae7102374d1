// etcd's backend quota (--quota-backend-bytes): a write is refused when the backend plus its
// estimated cost would reach the quota, and the NOSPACE alarm is raised; while the alarm is on,
// requests that add data fail with "mvcc: database space exceeded" and reads and deletes still work.
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import type { PutRequest, RequestOp, TxnRequest } from "../gen/etcdserverpb/rpc.js";

/** etcd's DefaultQuotaBytes: 2 GiB when the flag is 0. */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;
/** etcd's estimates of what a lease and a key's metadata cost in the backend. */
const LEASE_OVERHEAD = 64;
const KV_OVERHEAD = 256;

/** The quota in bytes: 0 means etcd's default, a negative value turns the quota off. */
export function quotaBytes(flag: number): number {
  if (flag < 0) return Number.POSITIVE_INFINITY;
  return flag === 0 ? DEFAULT_QUOTA_BYTES : flag;
}

const costPut = (r: PutRequest) => KV_OVERHEAD + r.key.length + r.value.length;
const costOps = (ops: RequestOp[]) =>
  ops.reduce((n, op) => n + (op.requestPut ? costPut(op.requestPut) : 0), 0);

/** The larger branch's puts, as etcd counts a txn (nested txns are not counted, as etcd). */
export function costTxn(r: TxnRequest): number {
  return Math.max(costOps(r.success), costOps(r.failure));
}

/** What a request adds to the backend by etcd's estimate; 0 for requests that add nothing. */
export function requestCost(r: Partial<Pick<InternalRaftRequest, "put" | "txn" | "leaseGrant">>): number {
  if (r.put) return costPut(r.put);
  if (r.txn) return costTxn(r.txn);
  if (r.leaseGrant) return LEASE_OVERHEAD;
  return 0;
}

/**
 * The backend's size, read from the file at most every `maxAgeMs` (a write path must not stat the
 * file each time; the quota is an estimate anyway).
 */
export class BackendQuota {
  private sampled = 0;
  private sampledAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly bytes: () => number,
    private readonly size: () => number,
    private readonly maxAgeMs = 100,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a request fits: free when it adds nothing, else the backend plus its cost stays below the quota. */
  available(r: Partial<Pick<InternalRaftRequest, "put" | "txn" | "leaseGrant">>): boolean {
    const cost = requestCost(r);
    if (cost === 0) return true;
    return this.backendSize() + cost < this.bytes();
  }

  private backendSize(): number {
    const t = this.now();
    if (t - this.sampledAt > this.maxAgeMs) {
      this.sampled = this.size();
      this.sampledAt = t;
    }
    return this.sampled;
  }
}
