/**
 * Proposals waiting for their apply result, keyed by request id (etcd's wait registry).
 * The proposer registers before proposing; the apply loop triggers with the result or an error.
 * A trigger for an id nobody waits for (another member's request, a replay) is a no-op.
 */
export class WaitRegistry<T> {
  private readonly pending = new Map<bigint, { resolve: (v: T) => void; reject: (e: unknown) => void }>();

  register(id: bigint): Promise<T> {
    if (this.pending.has(id)) throw new Error(`duplicate wait id ${id.toString(16)}`);
    return new Promise<T>((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  isRegistered(id: bigint): boolean {
    return this.pending.has(id);
  }

  trigger(id: bigint, value: T): void {
    const w = this.pending.get(id);
    if (!w) return;
    this.pending.delete(id);
    w.resolve(value);
  }

  fail(id: bigint, error: unknown): void {
    const w = this.pending.get(id);
    if (!w) return;
    this.pending.delete(id);
    w.reject(error);
  }

  /** Rejects every waiter (the server is stopping). */
  failAll(error: unknown): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const w of all) w.reject(error);
  }

  get size(): number {
    return this.pending.size;
  }
}

/**
 * Waiters for a monotonically increasing index (the applied index): `wait(i)` resolves once
 * `trigger(j)` was called with some j >= i.
 */
export class IndexWaiter {
  private current = 0;
  private readonly waiters: Array<{ index: number; resolve: () => void }> = [];

  constructor(start = 0) {
    this.current = start;
  }

  get index(): number {
    return this.current;
  }

  wait(index: number): Promise<void> {
    if (index <= this.current) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ index, resolve });
    });
  }

  trigger(index: number): void {
    if (index <= this.current) return;
    this.current = index;
    let kept = 0;
    for (const w of this.waiters) {
      if (w.index <= index) w.resolve();
      else this.waiters[kept++] = w;
    }
    this.waiters.length = kept;
  }
}
