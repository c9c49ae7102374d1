interface Waiter<T> {
  readonly resolve: (v: T) => void;
  readonly reject: (e: unknown) => void;
  /** When the waiter fails with the registry's timeout error (ms on its clock); Infinity: never. */
  readonly deadline: number;
}

/** How a registry fails waiters nobody answered in time. */
export interface WaitTimeouts {
  /** Milliseconds from registration to failure. */
  readonly timeoutMs: number;
  /**
   * The error a waiter fails with once its time is up (decided then: it may depend on the member's
   * state, and on how long ago it registered: `waitedMs`).
   */
  readonly error: (id: bigint, waitedMs: number) => unknown;
  /** Milliseconds from a monotonic clock (tests inject their own). */
  readonly now?: () => number;
}

/** What a registry does as each waiter is answered, before its promise settles. */
export interface WaitSettlement<T> {
  /** The error an answer stands for (its waiter is then rejected with it), or undefined. */
  readonly errorOf?: (value: T) => unknown;
  /** Told of every waiter answered or failed (bookkeeping that would otherwise cost a `then` per wait). */
  readonly settled?: (id: bigint, failed: boolean) => void;
}

/**
 * Proposals waiting for their apply result, keyed by request id (etcd's wait registry).
 * The proposer registers before proposing; the apply loop triggers with the result or an error.
 * A trigger for an id nobody waits for (another member's request, a replay) is a no-op.
 *
 * With `timeouts`, a waiter not answered within the timeout fails. One timer serves every waiter
 * (armed for the earliest deadline, or an earlier one), instead of a timer, a timeout promise and a
 * race per request.
 */
export class WaitRegistry<T> {
  private readonly pending = new Map<bigint, Waiter<T>>();
  private readonly now: () => number;
  /** Armed for the earliest deadline while waiters with deadlines may be pending. */
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeouts?: WaitTimeouts,
    private readonly settlement: WaitSettlement<T> = {},
  ) {
    this.now = timeouts?.now ?? (() => performance.now());
  }

  register(id: bigint): Promise<T> {
    if (this.pending.has(id)) throw new Error(`duplicate wait id ${id.toString(16)}`);
    const deadline =
      this.timeouts === undefined ? Number.POSITIVE_INFINITY : this.now() + this.timeouts.timeoutMs;
    const result = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve, reject, deadline }));
    // deadlines come in registration order: the timer, once armed, already fires no later than this one
    if (deadline !== Number.POSITIVE_INFINITY) {
      if (this.timer === undefined) this.arm(deadline);
      else if (!this.timer.hasRef()) this.timer.ref();
    }
    return result;
  }

  isRegistered(id: bigint): boolean {
    return this.pending.has(id);
  }

  trigger(id: bigint, value: T): void {
    const w = this.pending.get(id);
    if (!w) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.idle();
    const error = this.settlement.errorOf?.(value);
    this.settlement.settled?.(id, error !== undefined);
    if (error !== undefined) w.reject(error);
    else w.resolve(value);
  }

  fail(id: bigint, error: unknown): void {
    const w = this.pending.get(id);
    if (!w) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.idle();
    this.settlement.settled?.(id, true);
    w.reject(error);
  }

  /** Rejects every waiter (the server is stopping). */
  failAll(error: unknown): void {
    const all = [...this.pending];
    this.pending.clear();
    this.disarm();
    for (const [id] of all) this.settlement.settled?.(id, true);
    for (const [, w] of all) w.reject(error);
  }

  get size(): number {
    return this.pending.size;
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(() => this.expire(), Math.max(0, Math.ceil(deadline - this.now())));
  }

  /**
   * Nobody left to time out: the timer stays armed but keeps no process waiting. A client sending one
   * request at a time empties the registry at every answer, and a timer set and cleared per request
   * cost about 0.5 KiB of allocations (and the timer list's work) each.
   */
  private idle(): void {
    this.timer?.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Fails every waiter whose time is up and arms the timer for the earliest deadline left. */
  private expire(): void {
    this.timer = undefined;
    const timeouts = this.timeouts;
    if (timeouts === undefined) return;
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    const expired: bigint[] = [];
    for (const [id, w] of this.pending) {
      if (w.deadline <= now) expired.push(id);
      else if (w.deadline < next) next = w.deadline;
    }
    for (const id of expired) {
      const w = this.pending.get(id) as Waiter<T>;
      this.fail(id, timeouts.error(id, now - (w.deadline - timeouts.timeoutMs)));
    }
    if (next !== Number.POSITIVE_INFINITY && this.timer === undefined) this.arm(next);
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
