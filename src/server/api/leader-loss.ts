// etcd's monitorLeader: a stream opened with clientv3's `hasleader` metadata is cancelled with
// "etcdserver: no leader" once its member has gone without a leader for several election timeouts.
// Reopening a stream costs more than refusing a request, so a short election does not cancel
// anything; a member cut off from its quorum does, and its clients move to a member that can serve.
import {
  distinctUntilChanged,
  EMPTY,
  map,
  type Observable,
  type SchedulerLike,
  share,
  switchMap,
  timer,
} from "rxjs";

/** etcd's maxNoLeaderCnt: election timeouts without a leader before `hasleader` streams are cancelled. */
export const NO_LEADER_ELECTIONS = 3;

/**
 * Emits once the member has had no leader for NO_LEADER_ELECTIONS election timeouts, then again every
 * election timeout while that lasts (a stream that subscribes meanwhile is cancelled at the next one).
 */
export function leaderLoss(
  leadership$: Observable<{ lead: bigint }>,
  electionMs: number,
  scheduler?: SchedulerLike,
): Observable<void> {
  return leadership$.pipe(
    map((l) => l.lead === 0n),
    distinctUntilChanged(),
    switchMap((none) => (none ? timer(NO_LEADER_ELECTIONS * electionMs, electionMs, scheduler) : EMPTY)),
    map(() => undefined),
    share(),
  );
}
