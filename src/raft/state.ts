// The roles a raft node can be in.

export enum StateType {
  StateFollower = 0,
  StateCandidate = 1,
  StateLeader = 2,
  StatePreCandidate = 3,
}

/** etcd's name of a role ("StateLeader", ...). */
export function stateTypeName(s: StateType): string {
  return StateType[s] ?? `StateType(${s})`;
}
