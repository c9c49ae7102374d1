// The calls' grpc-timeout deadlines, in one list ordered by when they pass, behind one timer. Go
// clients (etcd's clientv3 among them) send a grpc-timeout with every request; a timer per call cost a
// Timeout object, a closure and the timer list's work to set and clear for each request, nearly all of
// them cleared unfired. Calls link themselves into the list (no object per entry), and deadlines mostly
// come in the order they pass (one client's timeouts are alike), so adding one is a step at the tail and
// taking one out two pointer changes.

/** A call's place in the queue: its deadline and its links, kept on the call itself. */
export interface QueuedDeadline {
  /** When the deadline passes, on the queue's clock (ms). */
  readonly at: number;
  prevDeadline: QueuedDeadline | undefined;
  nextDeadline: QueuedDeadline | undefined;
  /** True while in a queue. */
  queued: boolean;
  /** The deadline passed; it is out of the queue already. */
  deadlinePassed(): void;
}

export class DeadlineQueue {
  private head: QueuedDeadline | undefined = undefined;
  private tail: QueuedDeadline | undefined = undefined;
  private timer: NodeJS.Timeout | undefined = undefined;
  /** When the armed timer fires (ms on `now`'s clock); Infinity with none armed. */
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** True when no deadline is queued. */
  get empty(): boolean {
    return this.head === undefined;
  }

  /** Queues `d` in the order deadlines pass (after those passing at the same time). */
  add(d: QueuedDeadline): void {
    if (d.queued) this.remove(d);
    let before = this.tail;
    while (before !== undefined && before.at > d.at) before = before.prevDeadline;
    const after = before === undefined ? this.head : before.nextDeadline;
    d.prevDeadline = before;
    d.nextDeadline = after;
    if (before === undefined) this.head = d;
    else before.nextDeadline = d;
    if (after === undefined) this.tail = d;
    else after.prevDeadline = d;
    d.queued = true;
    if (d.at < this.timerAt) this.arm(d.at);
    else if (this.timer !== undefined && !this.timer.hasRef()) this.timer.ref();
  }

  /** Takes `d` out (its call finished first); nothing when it is not queued. */
  remove(d: QueuedDeadline): void {
    if (!d.queued) return;
    const { prevDeadline: before, nextDeadline: after } = d;
    if (before === undefined) this.head = after;
    else before.nextDeadline = after;
    if (after === undefined) this.tail = before;
    else after.prevDeadline = before;
    d.prevDeadline = undefined;
    d.nextDeadline = undefined;
    d.queued = false;
    // the timer stays armed (it finds nothing due when it fires) but keeps no process waiting
    if (this.head === undefined) this.timer?.unref();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - this.now())));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (let d = this.head; d !== undefined && d.at <= now; d = this.head) {
      this.remove(d);
      d.deadlinePassed();
    }
    if (this.head !== undefined && this.timer === undefined) this.arm(this.head.at);
  };
}
