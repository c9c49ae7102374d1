import type {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../gen/etcdserverpb/rpc.js";
import type { Lessor } from "../lease/lessor.js";
import { KVApplier } from "../mvcc/apply.js";
import {
  checkDeleteRangeRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
} from "../mvcc/checks.js";
import type { KVStore } from "../mvcc/kvstore.js";

/**
 * The key-value requests of the client API, bound to this member's store and lessor:
 * the checks etcd makes before proposing, and the local reads (serializable, or after ReadIndex).
 * Writes run in the apply loop through `applier`.
 */
export class KvRequests {
  readonly applier: KVApplier;

  constructor(
    store: KVStore,
    lessor: Lessor,
    private readonly opts: { maxTxnOps: number },
  ) {
    this.applier = new KVApplier(store, {
      leaseExists: (id) => lessor.has(id),
      onLeaseAttach: (id, key) => lessor.attach(id, key),
      onLeaseDetach: (id, key) => lessor.detach(id, key),
      // a detach from a lease the lessor does not hold changes nothing
      anyLeases: () => lessor.size > 0,
      maxTxnOps: opts.maxTxnOps,
    });
  }

  checkRange(r: RangeRequest): void {
    const err = checkRangeRequest(r);
    if (err) throw err;
  }

  checkPut(r: PutRequest): void {
    const err = checkPutRequest(r);
    if (err) throw err;
  }

  checkDeleteRange(r: DeleteRangeRequest): void {
    const err = checkDeleteRangeRequest(r);
    if (err) throw err;
  }

  checkTxn(r: TxnRequest): void {
    const err = checkTxnRequest(r, this.opts.maxTxnOps);
    if (err) throw err;
  }

  range(r: RangeRequest): RangeResponse {
    return this.applier.range(r);
  }

  /**
   * etcd's isTxnReadonly: every operation of both branches is a Range. A nested txn counts as a write even when it
   * only reads: etcd proposes such a txn.
   */
  isReadOnlyTxn(r: TxnRequest): boolean {
    return [...r.success, ...r.failure].every((op) => op.requestRange !== undefined);
  }

  /** A read-only txn whose every range asks for a serializable read (etcd's isTxnSerializable). */
  isSerializableTxn(r: TxnRequest): boolean {
    return [...r.success, ...r.failure].every((op) => op.requestRange?.serializable === true);
  }

  readOnlyTxn(r: TxnRequest): TxnResponse {
    const resp = this.applier.txn(r, 0);
    if (!resp) throw new Error("read-only txn produced no response");
    return resp;
  }
}
