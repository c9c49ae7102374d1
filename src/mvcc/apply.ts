// Request-level semantics of the KV service as etcd's applier defines them: Range options
// (limit, sort, filters, keys/count only), Put (prev_kv, ignore_value, ignore_lease),
// DeleteRange, Txn (compares, nested txns, one revision), Compaction and HashKV.
// Checks that etcd does before proposing live in checks.ts; this file is the apply side.

import {
  type CompactionRequest,
  type CompactionResponse,
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../gen/etcdserverpb/rpc.js";
import type { KeyValue } from "../gen/mvccpb/kv.js";
import { DEFAULT_MAX_TXN_OPS } from "./checks.js";
import { KVErrors } from "./errors.js";
import type { HashKVResult, KVStore, RangeOptions, RangeResult, WriteTxn } from "./kvstore.js";

export interface KVApplierOptions {
  /** Whether a lease is granted (etcd's lessor.Lookup); leases are unknown when omitted. */
  leaseExists?: (lease: bigint) => boolean;
  /** A key was attached to a lease by a committed put. */
  onLeaseAttach?: (lease: bigint, key: Buffer) => void;
  /** A key left a lease (overwritten with another lease or none, or deleted). */
  onLeaseDetach?: (lease: bigint, key: Buffer) => void;
  /**
   * False while no key can be attached to a lease (no lease is granted): writes then skip reading the
   * old lease of the keys they replace. Detaches are always reported when omitted.
   */
  anyLeases?: () => boolean;
  maxTxnOps?: number;
}

/** What one apply step reads from: the committed store or a write in progress. */
interface KVView {
  range(key: Buffer, end: Buffer | undefined, options?: RangeOptions): RangeResult;
  /** Revision of the view (before the write, for a write in progress). */
  readonly rev: number;
  readonly compactRev: number;
}

/** The branch a txn takes and, by op position, the branches its nested txns take. */
interface TxnPlan {
  succeeded: boolean;
  nested: Map<number, TxnPlan>;
}

function header(revision: number): ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0 };
}

export class KVApplier {
  readonly store: KVStore;
  readonly maxTxnOps: number;
  private readonly leaseExists: (lease: bigint) => boolean;

  constructor(store: KVStore, options: KVApplierOptions = {}) {
    this.store = store;
    this.maxTxnOps = options.maxTxnOps ?? DEFAULT_MAX_TXN_OPS;
    this.leaseExists = options.leaseExists ?? (() => false);
    const { onLeaseAttach, onLeaseDetach, anyLeases } = options;
    if (onLeaseAttach !== undefined || onLeaseDetach !== undefined) {
      store.onLeaseChange(
        (changes) => {
          for (const c of changes) {
            if (c.kind === "attach") onLeaseAttach?.(c.lease, c.key);
            else onLeaseDetach?.(c.lease, c.key);
          }
        },
        onLeaseDetach === undefined ? () => false : anyLeases,
      );
    }
  }

  /** True when the raft entry at `raftIndex` was applied already (its writes are skipped). */
  isApplied(raftIndex: number): boolean {
    return this.store.isApplied(raftIndex);
  }

  range(r: RangeRequest): RangeResponse {
    return applyRange(this.committedView(), r);
  }

  /**
   * Undefined when `raftIndex` was applied already. `handedOver`: the request's key and value are its
   * own (decoded from a raft entry), and the store may keep them instead of copies.
   */
  put(p: PutRequest, raftIndex = 0, handedOver = false): PutResponse | undefined {
    if (this.store.isApplied(raftIndex)) return undefined;
    if (p.lease !== 0n && !this.leaseExists(p.lease)) throw KVErrors.leaseNotFound();
    return this.store.write(raftIndex, (tx) => applyPut(writeView(tx, this.store), tx, p, handedOver));
  }

  deleteRange(d: DeleteRangeRequest, raftIndex = 0): DeleteRangeResponse | undefined {
    return this.store.write(raftIndex, (tx) => applyDeleteRange(writeView(tx, this.store), tx, d));
  }

  /** Deletes `keys` in one revision (lease revocation); returns the revision of the write. */
  deleteKeys(keys: Buffer[], raftIndex = 0): number | undefined {
    return this.store.write(raftIndex, (tx) => {
      for (const k of keys) tx.deleteRange(k, undefined);
      return tx.changeCount > 0 ? tx.beginRev + 1 : tx.beginRev;
    });
  }

  txn(rt: TxnRequest, raftIndex = 0): TxnResponse | undefined {
    if (this.store.isApplied(raftIndex)) return undefined;
    const before = this.committedView();
    const plan = planTxn(before, rt);
    const isWrite = !isReadOnlyTxn(rt);
    if (isWrite) this.checkPlannedPuts(before, rt, plan);
    checkPlannedRanges(before, rt, plan);
    if (!isWrite) {
      const resp = runTxn(before, undefined, rt, plan);
      resp.header = header(this.store.currentRev());
      return resp;
    }
    return this.store.write(raftIndex, (tx) => {
      const resp = runTxn(writeView(tx, this.store), tx, rt, plan);
      resp.header = header(tx.changeCount > 0 ? tx.beginRev + 1 : tx.beginRev);
      return resp;
    });
  }

  /**
   * Compaction: the response and a promise of the physical removal (await it for
   * `physical: true`). Undefined when `raftIndex` was applied already.
   */
  compact(
    c: CompactionRequest,
    raftIndex = 0,
  ): { response: CompactionResponse; done: Promise<void> } | undefined {
    const r = this.store.compact(c.revision, raftIndex);
    if (r === undefined) return undefined;
    return { response: { header: header(this.store.currentRev()) }, done: r.done };
  }

  hashKV(revision: number): HashKVResult {
    return this.store.hashKV(revision);
  }

  /** The committed state, one view for every read (its getters read the store each time). */
  private committed: KVView | undefined;

  private committedView(): KVView {
    if (this.committed === undefined) this.committed = new CommittedView(this.store);
    return this.committed;
  }

  /** etcd's checkRequestPut over the chosen branches, against the state before the txn. */
  private checkPlannedPuts(view: KVView, rt: TxnRequest, plan: TxnPlan): void {
    forEachPlannedOp(rt, plan, (op) => {
      const p = op.requestPut;
      if (p === undefined) return;
      if (p.ignoreValue || p.ignoreLease) {
        if (view.range(p.key, undefined).kvs.length === 0) throw KVErrors.keyNotFound();
      }
      if (p.lease !== 0n && !this.leaseExists(p.lease)) throw KVErrors.leaseNotFound();
    });
  }
}

// The views are classes, not object literals: a literal with getters makes its getter functions and
// their accessor pair again at every request (most of the garbage of a serializable range in mvcc).

/** The store's committed state: what ranges and txn compares read. */
class CommittedView implements KVView {
  constructor(private readonly store: KVStore) {}

  range(key: Buffer, end: Buffer | undefined, options?: RangeOptions): RangeResult {
    return this.store.range(key, end, options);
  }

  get rev(): number {
    return this.store.currentRev();
  }

  get compactRev(): number {
    return this.store.compactRev();
  }
}

/** A write in progress: reads see its own changes; its revision is the one before it. */
class WriteView implements KVView {
  readonly rev: number;

  constructor(
    private readonly tx: WriteTxn,
    private readonly store: KVStore,
  ) {
    this.rev = tx.beginRev;
  }

  range(key: Buffer, end: Buffer | undefined, options?: RangeOptions): RangeResult {
    return this.tx.range(key, end, options);
  }

  get compactRev(): number {
    return this.store.compactRev();
  }
}

function writeView(tx: WriteTxn, store: KVStore): KVView {
  return new WriteView(tx, store);
}

// ---- Range ------------------------------------------------------------------------------------

function applyRange(view: KVView, r: RangeRequest): RangeResponse {
  const filtered =
    r.minModRevision !== 0 ||
    r.maxModRevision !== 0 ||
    r.minCreateRevision !== 0 ||
    r.maxCreateRevision !== 0;
  // With a custom sort or filters the limit applies to the final list, so fetch everything.
  let limit = r.sortOrder !== RangeRequest_SortOrder.NONE || filtered ? 0 : r.limit;
  if (limit > 0) limit++;
  const rr = view.range(r.key, r.rangeEnd, { limit, rev: r.revision, countOnly: r.countOnly });
  let kvs = rr.kvs;
  if (r.maxModRevision !== 0) kvs = kvs.filter((kv) => kv.modRevision <= r.maxModRevision);
  if (r.minModRevision !== 0) kvs = kvs.filter((kv) => kv.modRevision >= r.minModRevision);
  if (r.maxCreateRevision !== 0) kvs = kvs.filter((kv) => kv.createRevision <= r.maxCreateRevision);
  if (r.minCreateRevision !== 0) kvs = kvs.filter((kv) => kv.createRevision >= r.minCreateRevision);

  let order = r.sortOrder;
  if (r.sortTarget !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE) {
    order = RangeRequest_SortOrder.ASCEND;
  }
  if (order === RangeRequest_SortOrder.ASCEND || order === RangeRequest_SortOrder.DESCEND) {
    const cmp = sortComparator(r.sortTarget);
    const sign = order === RangeRequest_SortOrder.DESCEND ? -1 : 1;
    kvs = [...kvs].sort((a, b) => sign * cmp(a, b));
  }
  let more = false;
  if (r.limit > 0 && kvs.length > r.limit) {
    kvs = kvs.slice(0, r.limit);
    more = true;
  }
  if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
  return { header: header(rr.rev), kvs, more, count: rr.count };
}

function sortComparator(target: RangeRequest_SortTarget): (a: KeyValue, b: KeyValue) => number {
  switch (target) {
    case RangeRequest_SortTarget.VERSION:
      return (a, b) => a.version - b.version;
    case RangeRequest_SortTarget.CREATE:
      return (a, b) => a.createRevision - b.createRevision;
    case RangeRequest_SortTarget.MOD:
      return (a, b) => a.modRevision - b.modRevision;
    case RangeRequest_SortTarget.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}

// ---- Put / DeleteRange --------------------------------------------------------------------------

function applyPut(view: KVView, tx: WriteTxn, p: PutRequest, handedOver = false): PutResponse {
  let value = p.value;
  let lease = p.lease;
  let prev: KeyValue | undefined;
  if (p.ignoreValue || p.ignoreLease || p.prevKv) {
    prev = view.range(p.key, undefined).kvs[0];
  }
  if ((p.ignoreValue || p.ignoreLease) && prev === undefined) throw KVErrors.keyNotFound();
  if (p.ignoreValue && prev !== undefined) value = prev.value;
  if (p.ignoreLease && prev !== undefined) lease = prev.lease;
  // a value taken from the previous version is the store's, and is copied
  const rev = tx.put(p.key, value, lease, handedOver && value === p.value);
  return { header: header(rev), prevKv: p.prevKv ? prev : undefined };
}

function applyDeleteRange(view: KVView, tx: WriteTxn, d: DeleteRangeRequest): DeleteRangeResponse {
  const prevKvs = d.prevKv ? view.range(d.key, d.rangeEnd).kvs : [];
  const { deleted, rev } = tx.deleteRange(d.key, d.rangeEnd);
  return { header: header(rev), deleted, prevKvs };
}

// ---- Txn ---------------------------------------------------------------------------------------

/** etcd's isTxnReadonly: only Ranges in both branches (a nested txn makes it a write txn, as in etcd). */
function isReadOnlyTxn(rt: TxnRequest): boolean {
  return [...rt.success, ...rt.failure].every((op) => op.requestRange !== undefined);
}

/** Evaluates every compare (this txn's and the nested ones that will run) before any write. */
function planTxn(view: KVView, rt: TxnRequest): TxnPlan {
  const succeeded = rt.compare.every((c) => applyCompare(view, c));
  const nested = new Map<number, TxnPlan>();
  const ops = succeeded ? rt.success : rt.failure;
  ops.forEach((op, i) => {
    if (op.requestTxn !== undefined) nested.set(i, planTxn(view, op.requestTxn));
  });
  return { succeeded, nested };
}

function forEachPlannedOp(rt: TxnRequest, plan: TxnPlan, fn: (op: RequestOp) => void): void {
  const ops = plan.succeeded ? rt.success : rt.failure;
  ops.forEach((op, i) => {
    const nested = plan.nested.get(i);
    if (op.requestTxn !== undefined && nested !== undefined) forEachPlannedOp(op.requestTxn, nested, fn);
    else fn(op);
  });
}

/** etcd's checkRequestRange: a range's revision must be readable before the txn runs. */
function checkPlannedRanges(view: KVView, rt: TxnRequest, plan: TxnPlan): void {
  forEachPlannedOp(rt, plan, (op) => {
    const r = op.requestRange;
    if (r === undefined || r.revision === 0) return;
    if (r.revision > view.rev) throw KVErrors.futureRev();
    if (r.revision < view.compactRev) throw KVErrors.compacted();
  });
}

function runTxn(view: KVView, tx: WriteTxn | undefined, rt: TxnRequest, plan: TxnPlan): TxnResponse {
  const ops = plan.succeeded ? rt.success : rt.failure;
  const responses: ResponseOp[] = ops.map((op, i): ResponseOp => {
    if (op.requestRange !== undefined) return { responseRange: applyRange(view, op.requestRange) };
    if (op.requestPut !== undefined) return { responsePut: applyPut(view, mustWrite(tx), op.requestPut) };
    if (op.requestDeleteRange !== undefined) {
      return { responseDeleteRange: applyDeleteRange(view, mustWrite(tx), op.requestDeleteRange) };
    }
    const nested = plan.nested.get(i);
    if (op.requestTxn !== undefined && nested !== undefined) {
      // Nested responses carry an empty header, as etcd's do.
      return { responseTxn: runTxn(view, tx, op.requestTxn, nested) };
    }
    return {};
  });
  return { header: header(0), succeeded: plan.succeeded, responses };
}

function mustWrite(tx: WriteTxn | undefined): WriteTxn {
  if (tx === undefined) throw new Error("txn: a write in a read-only txn");
  return tx;
}

function applyCompare(view: KVView, c: Compare): boolean {
  const kvs = view.range(c.key, c.rangeEnd).kvs;
  if (kvs.length === 0) {
    // A missing key has no value to compare; its revisions, version and lease compare as 0.
    if (c.target === Compare_CompareTarget.VALUE) return false;
    return compareKeyValue(c, undefined);
  }
  return kvs.every((kv) => compareKeyValue(c, kv));
}

function compareKeyValue(c: Compare, kv: KeyValue | undefined): boolean {
  let result: number;
  switch (c.target) {
    case Compare_CompareTarget.VALUE:
      result = Buffer.compare(kv?.value ?? Buffer.alloc(0), c.value ?? Buffer.alloc(0));
      break;
    case Compare_CompareTarget.CREATE:
      result = compareBig(BigInt(kv?.createRevision ?? 0), c.createRevision ?? 0n);
      break;
    case Compare_CompareTarget.MOD:
      result = compareBig(BigInt(kv?.modRevision ?? 0), c.modRevision ?? 0n);
      break;
    case Compare_CompareTarget.VERSION:
      result = compareBig(BigInt(kv?.version ?? 0), c.version ?? 0n);
      break;
    case Compare_CompareTarget.LEASE:
      result = compareBig(kv?.lease ?? 0n, c.lease ?? 0n);
      break;
    default:
      result = 0;
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return result === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return result !== 0;
    case Compare_CompareResult.GREATER:
      return result > 0;
    case Compare_CompareResult.LESS:
      return result < 0;
    default:
      return true;
  }
}

function compareBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
