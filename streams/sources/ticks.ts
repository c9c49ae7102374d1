import { asyncScheduler, interval, type Observable, type SchedulerLike } from "rxjs";

/** The logical clock of a member: one emission per tick interval (etcd's `--heartbeat-interval`). */
export function ticks(tickMs: number, scheduler: SchedulerLike = asyncScheduler): Observable<number> {
  if (!Number.isFinite(tickMs) || tickMs <= 0)
    throw new RangeError(`tick interval must be positive, got ${tickMs}`);
  return interval(tickMs, scheduler);
}
