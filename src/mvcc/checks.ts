// Request checks done before a request is proposed (etcd's v3rpc/key.go): empty keys,
// value/lease given with ignore_*, txn size, and duplicate keys across a txn's branches.

import {
  type DeleteRangeRequest,
  type PutRequest,
  type RangeRequest,
  RangeRequest_SortTarget,
  type RequestOp,
  type TxnRequest,
} from "../gen/etcdserverpb/rpc.js";
import { type EtcdError, KVErrors } from "./errors.js";
import { keyString } from "./keyindex.js";

/** etcd's --max-txn-ops default. */
export const DEFAULT_MAX_TXN_OPS = 128;

const SORT_TARGETS = new Set<number>([
  RangeRequest_SortTarget.KEY,
  RangeRequest_SortTarget.VERSION,
  RangeRequest_SortTarget.CREATE,
  RangeRequest_SortTarget.MOD,
  RangeRequest_SortTarget.VALUE,
]);

/** Returns the error a Range request is rejected with, or undefined. */
export function checkRangeRequest(r: RangeRequest): EtcdError | undefined {
  if (r.key.length === 0) return KVErrors.emptyKey();
  // etcd 3.4.23 checks neither enum: an unknown order means no sorting (kept here), while an
  // unknown target would crash its sorter, so that one is refused as newer etcd refuses it.
  if (!SORT_TARGETS.has(r.sortTarget)) return KVErrors.invalidSortOption();
  return undefined;
}

export function checkPutRequest(r: PutRequest): EtcdError | undefined {
  if (r.key.length === 0) return KVErrors.emptyKey();
  if (r.ignoreValue && r.value.length !== 0) return KVErrors.valueProvided();
  if (r.ignoreLease && r.lease !== 0n) return KVErrors.leaseProvided();
  return undefined;
}

export function checkDeleteRangeRequest(r: DeleteRangeRequest): EtcdError | undefined {
  if (r.key.length === 0) return KVErrors.emptyKey();
  return undefined;
}

/** Size and key checks of a Txn and its nested txns (no duplicate-key check; see checkTxn). */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number): EtcdError | undefined {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) return KVErrors.tooManyOps();
  for (const c of r.compare) {
    if (c.key.length === 0) return KVErrors.emptyKey();
  }
  for (const op of [...r.success, ...r.failure]) {
    const err = checkRequestOp(op, maxTxnOps - opc);
    if (err !== undefined) return err;
  }
  return undefined;
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): EtcdError | undefined {
  if (op.requestRange !== undefined) return checkRangeRequest(op.requestRange);
  if (op.requestPut !== undefined) return checkPutRequest(op.requestPut);
  if (op.requestDeleteRange !== undefined) return checkDeleteRangeRequest(op.requestDeleteRange);
  if (op.requestTxn !== undefined) return checkTxnRequest(op.requestTxn, maxTxnOps);
  // An operation with no request set.
  return KVErrors.keyNotFound();
}

/** Everything etcd checks on a Txn before proposing it, in etcd's order. */
export function checkTxn(r: TxnRequest, maxTxnOps = DEFAULT_MAX_TXN_OPS): EtcdError | undefined {
  const err = checkTxnRequest(r, maxTxnOps);
  if (err !== undefined) return err;
  try {
    collectWrites(r.success);
    collectWrites(r.failure);
  } catch (e) {
    if (e === DUPLICATE) return KVErrors.duplicateKey();
    throw e;
  }
  return undefined;
}

// ---- duplicate keys -------------------------------------------------------------------------
// Keys are compared as latin1 strings (byte order). An interval end of "" means "no end", as in
// etcd's string-affine intervals; a delete with range_end "\0" is the interval [key, "\0"),
// which overlaps no single key — etcd 3.4 behaves the same way.

const DUPLICATE = Symbol("duplicate key");

interface Interval {
  begin: string;
  end: string;
}

/** Compare with "" as +infinity. */
function affineCompare(a: string, b: string): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** etcd's Interval.Compare == 0: the intervals overlap. */
function overlaps(a: Interval, b: Interval): boolean {
  const beginVsBegin = affineCompare(a.begin, b.begin);
  const beginVsEnd = affineCompare(a.begin, b.end);
  const endVsBegin = affineCompare(a.end, b.begin);
  if (beginVsBegin < 0 && endVsBegin <= 0) return false;
  if (beginVsEnd >= 0) return false;
  return true;
}

function point(key: string): Interval {
  return { begin: key, end: `${key}\0` };
}

function intersectsPoint(dels: Interval[], key: string): boolean {
  const p = point(key);
  return dels.some((d) => overlaps(p, d));
}

/** Puts and deletes of one branch list; throws DUPLICATE on a conflict. */
function collectWrites(ops: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (d === undefined) continue;
    const key = keyString(d.key);
    dels.push(d.rangeEnd.length !== 0 ? { begin: key, end: keyString(d.rangeEnd) } : point(key));
  }
  const puts = new Set<string>();
  for (const op of ops) {
    const t = op.requestTxn;
    if (t === undefined) continue;
    const then = collectWrites(t.success);
    const otherwise = collectWrites(t.failure);
    for (const k of then.puts) {
      if (puts.has(k) || intersectsPoint(dels, k)) throw DUPLICATE;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      // The same key in both branches of one nested txn is fine: only one branch runs.
      if (puts.has(k) && !then.puts.has(k)) throw DUPLICATE;
      if (intersectsPoint(dels, k)) throw DUPLICATE;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    const p = op.requestPut;
    if (p === undefined) continue;
    const k = keyString(p.key);
    if (puts.has(k) || intersectsPoint(dels, k)) throw DUPLICATE;
    puts.add(k);
  }
  return { puts, dels };
}
