// What one event-loop turn gathers crosses between the threads as one batch: a message per turn, not
// per call, keeps the cost of postMessage off each request.

/** A batch being gathered (the call batch on the HTTP/2 thread, the answer batch on the main thread). */
export interface TurnBatch<T> {
  readonly length: number;
  add(item: T): void;
  /** The gathered items as one buffer to transfer; the batch starts over empty. */
  take(): ArrayBuffer;
}

/** Adds items to a batch and posts it at the end of the turn, or at once when it holds `max` items. */
export class TurnSender<T> {
  private flushing = false;

  constructor(
    private readonly batch: TurnBatch<T>,
    private readonly max: number,
    private readonly post: (batch: ArrayBuffer) => void,
  ) {}

  add(item: T): void {
    this.batch.add(item);
    if (this.batch.length >= this.max) this.flush();
    else if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushing = false;
    if (this.batch.length > 0) this.post(this.batch.take());
  }
}
