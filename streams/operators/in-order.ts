import { concatMap, defer, from, type Observable, type ObservableInput, type OperatorFunction } from "rxjs";

/**
 * Runs `work` for each value strictly one at a time, in arrival order (the FIFO apply scheduler).
 * A value waits until the previous value's work has completed; results come out in the same order.
 * Synchronous throws inside `work` become errors of the stream instead of escaping the subscriber.
 */
export function inOrder<T, R>(work: (value: T, index: number) => ObservableInput<R>): OperatorFunction<T, R> {
  return (source: Observable<T>) => source.pipe(concatMap((v, i) => defer(() => from(work(v, i)))));
}
