import { asyncScheduler, map, type OperatorFunction, type SchedulerLike } from "rxjs";

export interface RateOptions {
  /** Values let through per second, on average. */
  readonly perSecond: number;
  /** Values that may pass at once after a quiet spell (the bucket's size); defaults to `perSecond`. */
  readonly burst?: number;
  readonly scheduler?: SchedulerLike;
}

/**
 * A token bucket: passes values while the rate allows and throws `refusal(value)` for the others.
 * The bucket lives in the closure that built the operator, so every subscription (every value of a
 * `contained` path) shares it; in a plain stream the first refusal ends the stream, as any throw.
 */
export function refuseAboveRate<T>(
  options: RateOptions,
  refusal: (value: T) => Error,
): OperatorFunction<T, T> {
  const { perSecond } = options;
  const burst = options.burst ?? perSecond;
  const scheduler = options.scheduler ?? asyncScheduler;
  if (!(perSecond > 0)) throw new RangeError(`perSecond must be positive, got ${perSecond}`);
  if (!(burst >= 1)) throw new RangeError(`burst must be at least 1, got ${burst}`);
  let tokens = burst;
  let last = scheduler.now();
  return map((value: T) => {
    const now = scheduler.now();
    tokens = Math.min(burst, tokens + ((now - last) * perSecond) / 1000);
    last = now;
    if (tokens < 1) throw refusal(value);
    tokens -= 1;
    return value;
  });
}
