// Errors the KV layer raises, each carrying the gRPC status code and the exact text
// etcd clients match on (the Go client maps messages back to typed errors by string).

import { GrpcCode } from "../rpctypes/errors.js";

// one table of gRPC codes for every layer
export { GrpcCode };

/** An error with a gRPC status code; `grpcMessage` is the text a client receives. */
export class EtcdError extends Error {
  readonly code: number;
  readonly grpcMessage: string;
  constructor(code: number, message: string, grpcMessage: string = message) {
    super(message);
    this.name = "EtcdError";
    this.code = code;
    this.grpcMessage = grpcMessage;
  }
}

/** mvcc's ErrCompacted: the revision asked for is at or below the compaction point. */
export class CompactedError extends EtcdError {
  constructor() {
    super(
      GrpcCode.OutOfRange,
      "mvcc: required revision has been compacted",
      "etcdserver: mvcc: required revision has been compacted",
    );
    this.name = "CompactedError";
  }
}

/** mvcc's ErrFutureRev: the revision asked for has not been written yet. */
export class FutureRevError extends EtcdError {
  constructor() {
    super(
      GrpcCode.OutOfRange,
      "mvcc: required revision is a future revision",
      "etcdserver: mvcc: required revision is a future revision",
    );
    this.name = "FutureRevError";
  }
}

function invalidArgument(message: string): () => EtcdError {
  return () => new EtcdError(GrpcCode.InvalidArgument, message);
}

/** Factories for the request-level errors (a fresh instance each time, so stacks are useful). */
export const KVErrors = {
  emptyKey: invalidArgument("etcdserver: key is not provided"),
  keyNotFound: invalidArgument("etcdserver: key not found"),
  valueProvided: invalidArgument("etcdserver: value is provided"),
  leaseProvided: invalidArgument("etcdserver: lease is provided"),
  tooManyOps: invalidArgument("etcdserver: too many operations in txn request"),
  duplicateKey: invalidArgument("etcdserver: duplicate key given in txn request"),
  invalidSortOption: invalidArgument("etcdserver: invalid sort option"),
  requestTooLarge: invalidArgument("etcdserver: request is too large"),
  leaseNotFound: (): EtcdError => new EtcdError(GrpcCode.NotFound, "etcdserver: requested lease not found"),
  compacted: (): EtcdError => new CompactedError(),
  futureRev: (): EtcdError => new FutureRevError(),
} as const;

/** The backend or index is in a state the store cannot continue from (etcd panics here). */
export class StoreFatalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StoreFatalError";
  }
}
