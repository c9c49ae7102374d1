// Shared vocabulary of the quorum package: vote outcomes and the lookup of acknowledged log indexes.

/** Outcome of a vote under a (majority or joint) configuration. */
export enum VoteResult {
  /** Neither a quorum of yes nor a quorum of no has been reached yet. */
  VotePending = 1,
  /** A quorum voted no (or can no longer vote yes). */
  VoteLost = 2,
  /** A quorum voted yes. */
  VoteWon = 3,
}

/** The name etcd prints for a vote result ("VotePending", "VoteLost", "VoteWon"). */
export function voteResultName(r: VoteResult): string {
  switch (r) {
    case VoteResult.VotePending:
      return "VotePending";
    case VoteResult.VoteLost:
      return "VoteLost";
    case VoteResult.VoteWon:
      return "VoteWon";
    default:
      return `VoteResult(${r as number})`;
  }
}

/** Looks up the highest log index a voter has acknowledged; undefined when the voter has not reported. */
export interface AckedIndexer {
  ackedIndex(id: bigint): number | undefined;
}

/** An AckedIndexer backed by a map of voter id to index. */
export function mapAckIndexer(m: ReadonlyMap<bigint, number>): AckedIndexer {
  return { ackedIndex: (id) => m.get(id) };
}

/** Prints an index as etcd does: the "no constraint" index of an empty configuration is "∞". */
export function indexToString(i: number): string {
  return i === Number.POSITIVE_INFINITY ? "∞" : String(i);
}

/** Ascending order for bigint ids. */
export function compareIds(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
