// How the leader currently replicates to a follower.

export enum ProgressState {
  /** The follower's last index is unknown: send at most one append per heartbeat to find it. */
  StateProbe = 0,
  /** Steady state: appends are sent eagerly, bounded by the inflight window. */
  StateReplicate = 1,
  /** The follower needs entries the leader no longer has: wait for a snapshot to land. */
  StateSnapshot = 2,
}

/** The name etcd prints for a progress state. */
export function progressStateName(s: ProgressState): string {
  switch (s) {
    case ProgressState.StateProbe:
      return "StateProbe";
    case ProgressState.StateReplicate:
      return "StateReplicate";
    case ProgressState.StateSnapshot:
      return "StateSnapshot";
    default:
      return `ProgressState(${s as number})`;
  }
}
