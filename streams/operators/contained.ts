import {
  asyncScheduler,
  Observable,
  type OperatorFunction,
  of,
  type SchedulerLike,
  type Subscription,
  timer,
} from "rxjs";

/** Why a value produced nothing: its run threw, outlived the timeout, or found the queue full. */
export type ContainedFailure<T> =
  | { readonly value: T; readonly reason: "error"; readonly error: unknown }
  | { readonly value: T; readonly reason: "timeout" }
  | { readonly value: T; readonly reason: "overflow" };

export interface ContainedOptions<T> {
  /** How long one value's run may take before it is abandoned. */
  readonly timeoutMs: number;
  /** Values that may wait behind a running one; a value beyond it fails with "overflow". */
  readonly maxPending: number;
  /** Told of every value that failed; the stream itself goes on. */
  readonly onFailure?: (failure: ContainedFailure<T>) => void;
  readonly scheduler?: SchedulerLike;
}

/**
 * Runs each value through `op` on its own, as a one-value stream `of(value).pipe(op)`, one value at
 * a time and in arrival order, and emits whatever that run emits. A run that throws or errors, or
 * that has not completed after `timeoutMs`, fails that value only (reported to `onFailure`); the
 * following values run as usual. State an operator keeps across values must live outside its
 * per-subscription function (in the closure that built it).
 */
export function contained<T, R>(
  op: OperatorFunction<T, R>,
  options: ContainedOptions<T>,
): OperatorFunction<T, R> {
  const { timeoutMs, maxPending, onFailure } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${timeoutMs}`);
  if (!(maxPending >= 0)) throw new RangeError(`maxPending must not be negative, got ${maxPending}`);
  const report = (f: ContainedFailure<T>) => {
    try {
      onFailure?.(f);
    } catch {
      // a failing reporter must not take the stream down either
    }
  };
  return (source) =>
    new Observable<R>((subscriber) => {
      const queue: T[] = [];
      let running = false;
      let sourceDone = false;
      let inner: Subscription | undefined;
      let deadline: Subscription | undefined;

      const completeIfDone = () => {
        if (sourceDone && !running && queue.length === 0) subscriber.complete();
      };

      const runNext = (): void => {
        while (!running && queue.length > 0) {
          const value = queue.shift() as T;
          running = true;
          let finished = false;
          let starting = true;
          const finish = (failure?: ContainedFailure<T>) => {
            if (finished) return;
            finished = true;
            deadline?.unsubscribe();
            deadline = undefined;
            if (failure) report(failure);
            running = false;
            // a run that finished later than its start goes on with the queue itself
            if (!starting) {
              inner?.unsubscribe();
              runNext();
              completeIfDone();
            }
          };
          try {
            inner = of(value)
              .pipe(op)
              .subscribe({
                next: (r) => {
                  if (!finished) subscriber.next(r);
                },
                error: (error: unknown) => finish({ value, reason: "error", error }),
                complete: () => finish(),
              });
          } catch (error) {
            finish({ value, reason: "error", error });
          }
          starting = false;
          if (!finished)
            deadline = timer(timeoutMs, scheduler).subscribe(() => finish({ value, reason: "timeout" }));
          else inner?.unsubscribe();
        }
      };

      const sub = source.subscribe({
        next: (value) => {
          if (running && queue.length >= maxPending) {
            report({ value, reason: "overflow" });
            return;
          }
          queue.push(value);
          runNext();
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          completeIfDone();
        },
      });
      return () => {
        sub.unsubscribe();
        deadline?.unsubscribe();
        inner?.unsubscribe();
      };
    });
}
