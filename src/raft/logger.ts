// The logging seam of the raft core. Messages arrive fully formatted (etcd's texts, ids in hex);
// a panic is a broken invariant: the logger records it and must throw.

export interface RaftLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warning(msg: string): void;
  error(msg: string): void;
  /** Records a violated invariant and throws; never returns. */
  panic(msg: string): never;
}

/** The error a logger's panic throws: raft hit a state it cannot continue from. */
export class RaftPanicError extends Error {
  override name = "RaftPanicError";
}

/** Drops everything but panics, which still throw. */
export const discardLogger: RaftLogger = {
  debug() {},
  info() {},
  warning() {},
  error() {},
  panic(msg: string): never {
    throw new RaftPanicError(msg);
  },
};

/** Hex form of a node id, as etcd prints ids with %x. */
export function hexId(id: bigint): string {
  return id.toString(16);
}
