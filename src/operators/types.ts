// What user operators see on each of the three paths, and how they are passed to startEtcd.
import type { OperatorFunction } from "rxjs";
import type { FeedEvent } from "../feed/protocol.js";
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import type {
  AlarmRequest,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseRevokeRequest,
  PutRequest,
  TxnRequest,
} from "../gen/etcdserverpb/rpc.js";

/** A client request about to be proposed through Raft on this member. */
export type Proposal = { readonly member: string; readonly at: number } & (
  | { readonly kind: "put"; readonly request: PutRequest }
  | { readonly kind: "deleteRange"; readonly request: DeleteRangeRequest }
  | { readonly kind: "txn"; readonly request: TxnRequest }
  | { readonly kind: "compaction"; readonly request: CompactionRequest }
  | { readonly kind: "leaseGrant"; readonly request: LeaseGrantRequest }
  | { readonly kind: "leaseRevoke"; readonly request: LeaseRevokeRequest }
  | { readonly kind: "alarm"; readonly request: AlarmRequest }
);

/** An entry after the FIFO apply: a decoded copy (changing it changes nothing replicated). */
export interface AppliedRequest {
  readonly member: string;
  readonly index: number;
  readonly term: number;
  /** "put", "txn", "deleteRange", "leaseGrant", ... as in the feed's apply events. */
  readonly kind: string;
  readonly request: InternalRaftRequest;
  /** The store's revision once the entry's batch was applied. */
  readonly revision: number;
}

export type ProposalOperator = OperatorFunction<Proposal, Proposal>;
export type ApplyOperator = OperatorFunction<AppliedRequest, AppliedRequest>;
export type FeedOperator = OperatorFunction<FeedEvent, FeedEvent>;

/**
 * User operators for `startEtcd(config, { operators })`; a list is composed left to right.
 *
 * - proposals: each client write (put, delete, txn, compaction, lease grant/revoke, alarm) runs
 *   through them on its own before it is proposed, on this member only. The request goes on as the
 *   first proposal emitted; completing without one refuses it; an error fails it with that error
 *   (an EtcdError reaches the client as is); a run longer than `timeoutMs` fails it.
 * - applies: every applied v3 request (not etcd's internal v2 ones: member attributes, cluster
 *   version), after the FIFO apply, in log order; they observe or enrich a
 *   copy and cannot change replicated state or the order. What they emit is published on
 *   `Etcd.appliedResults$`. A failing or stalled run loses that entry's observation only.
 * - feed: every feed event before it reaches any client (initial state included): filter, map,
 *   redact, sample. A failing or stalled run drops that event only.
 *
 * State that spans values (a rate limiter's bucket) lives in the closure that built the operator:
 * each value runs through `of(value).pipe(operator)`.
 */
export interface Operators {
  readonly proposals?: ProposalOperator | readonly ProposalOperator[];
  readonly applies?: ApplyOperator | readonly ApplyOperator[];
  readonly feed?: FeedOperator | readonly FeedOperator[];
  /** How long one value may spend in an operator chain (default 1000 ms). */
  readonly timeoutMs?: number;
}

/** Composes a list of operators left to right; one operator is itself. */
export function composeOperators<T>(
  ops: OperatorFunction<T, T> | readonly OperatorFunction<T, T>[],
): OperatorFunction<T, T> {
  if (!Array.isArray(ops)) return ops as OperatorFunction<T, T>;
  const list = ops as readonly OperatorFunction<T, T>[];
  return (source) => list.reduce((s, op) => s.pipe(op), source);
}
