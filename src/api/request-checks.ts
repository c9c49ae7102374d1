// Request validation that etcd does in its gRPC layer before a request reaches the server
// (v3rpc key.go): empty keys, ignore_value/ignore_lease misuse, txn size and overlapping writes.
import type {
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RequestOp,
  TxnRequest,
} from "../gen/etcdserverpb/rpc.js";
import { Errors } from "../rpctypes/errors.js";

export function checkRange(r: RangeRequest): void {
  if (r.key.length === 0) throw Errors.EmptyKey;
}

export function checkPut(r: PutRequest): void {
  if (r.key.length === 0) throw Errors.EmptyKey;
  if (r.ignoreValue && r.value.length !== 0) throw Errors.ValueProvided;
  if (r.ignoreLease && r.lease !== 0n) throw Errors.LeaseProvided;
}

export function checkDelete(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw Errors.EmptyKey;
}

export function checkTxn(r: TxnRequest, maxTxnOps: number): void {
  checkTxnShape(r, maxTxnOps);
  // Overlaps are checked after the shape so a huge request fails cheaply first.
  collectWrites(r.success);
  collectWrites(r.failure);
}

function checkTxnShape(r: TxnRequest, maxTxnOps: number): void {
  const ops = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (ops > maxTxnOps) throw Errors.TooManyOps;
  for (const c of r.compare) if (c.key.length === 0) throw Errors.EmptyKey;
  for (const op of [...r.success, ...r.failure]) checkOp(op, maxTxnOps - ops);
}

function checkOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange) checkRange(op.requestRange);
  else if (op.requestPut) checkPut(op.requestPut);
  else if (op.requestDeleteRange) checkDelete(op.requestDeleteRange);
  else if (op.requestTxn) checkTxnShape(op.requestTxn, maxTxnOps);
  // An op with no request at all is answered like etcd does.
  else throw Errors.KeyNotFound;
}

/** A deleted interval [key, end); end undefined = the single key. */
interface Deletion {
  key: Buffer;
  end: Buffer | undefined;
}

/**
 * Whether a put of `key` falls in a deletion, as etcd's duplicate check sees it: plain byte order, so a range end
 * of "\0" or one at or below its key covers no key here (etcd 3.4 accepts a txn that deletes such a range and puts
 * a key the delete would in fact remove).
 */
function deletes(d: Deletion[], key: Buffer): boolean {
  return d.some((x) => {
    if (x.end === undefined) return x.key.equals(key);
    return Buffer.compare(key, x.key) >= 0 && Buffer.compare(key, x.end) < 0;
  });
}

/**
 * Puts and deletes of one branch list; throws when a key is written twice or put and deleted in the
 * same branch (nested txns count, but the then/else of one nested txn exclude each other).
 */
function collectWrites(ops: RequestOp[]): { puts: Set<string>; dels: Deletion[] } {
  const dels: Deletion[] = [];
  for (const op of ops) {
    const d = op.requestDeleteRange;
    if (d) dels.push({ key: d.key, end: d.rangeEnd.length > 0 ? d.rangeEnd : undefined });
  }
  const puts = new Set<string>();
  for (const op of ops) {
    if (!op.requestTxn) continue;
    const then = collectWrites(op.requestTxn.success);
    const otherwise = collectWrites(op.requestTxn.failure);
    for (const k of then.puts) {
      if (puts.has(k) || deletes(dels, Buffer.from(k, "latin1"))) throw Errors.DuplicateKey;
      puts.add(k);
    }
    for (const k of otherwise.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw Errors.DuplicateKey;
      if (deletes(dels, Buffer.from(k, "latin1"))) throw Errors.DuplicateKey;
      puts.add(k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (!op.requestPut) continue;
    const k = op.requestPut.key.toString("latin1");
    if (puts.has(k) || deletes(dels, op.requestPut.key)) throw Errors.DuplicateKey;
    puts.add(k);
  }
  return { puts, dels };
}

/**
 * etcd's isTxnReadonly: every operation of both branches is a Range (a nested txn counts as a write, even one that
 * only reads); such a txn is served as a read, not proposed.
 */
export function isReadOnlyTxn(r: TxnRequest): boolean {
  return [...r.success, ...r.failure].every((op) => op.requestRange !== undefined);
}
