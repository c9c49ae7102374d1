import { from, Observable, type ObservableInput, type OperatorFunction } from "rxjs";

/**
 * Groups the values that arrive while a batch is being processed into the next batch.
 * The first value starts a batch at once; later values wait for the running batch and then go
 * together, so one slow round trip (a ReadIndex, a sync) serves every request that queued meanwhile.
 * `maxBatch` bounds one batch; values beyond it stay queued for the following one.
 */
export function batchWhileBusy<T, R>(
  process: (batch: readonly T[]) => ObservableInput<R>,
  maxBatch = Number.POSITIVE_INFINITY,
): OperatorFunction<T, R> {
  if (!(maxBatch >= 1)) throw new RangeError(`maxBatch must be at least 1, got ${maxBatch}`);
  return (source) =>
    new Observable<R>((subscriber) => {
      let queue: T[] = [];
      let busy = false;
      let sourceDone = false;

      const startNext = (): void => {
        if (busy) return;
        if (queue.length === 0) {
          if (sourceDone) subscriber.complete();
          return;
        }
        const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
        queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
        busy = true;
        let inner: ObservableInput<R>;
        try {
          inner = process(batch);
        } catch (err) {
          subscriber.error(err);
          return;
        }
        // a promise is followed with `then` alone: from() made an Observable, a subscriber and their
        // closures for every batch (the raft loop drains once per Ready)
        if (inner instanceof Promise) {
          inner.then(
            (r: R) => {
              if (subscriber.closed) return;
              subscriber.next(r);
              busy = false;
              startNext();
            },
            (err: unknown) => {
              if (!subscriber.closed) subscriber.error(err);
            },
          );
          return;
        }
        subscriber.add(
          from(inner).subscribe({
            next: (r) => subscriber.next(r),
            error: (err) => subscriber.error(err),
            complete: () => {
              busy = false;
              startNext();
            },
          }),
        );
      };

      const sub = source.subscribe({
        next: (v) => {
          queue.push(v);
          startNext();
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          if (!busy) startNext();
        },
      });
      return () => sub.unsubscribe();
    });
}
