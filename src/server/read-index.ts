import { type Observable, Subject, type Subscription } from "rxjs";
import { batchWhileBusy } from "../../streams/operators/batch-while-busy.js";
import type { ReadState } from "../raft/read_only.js";
import { Errors } from "../rpctypes/errors.js";
import type { IndexWaiter } from "./wait.js";

export interface ReadIndexDeps {
  /** Asks raft for a read index; the answer comes back through `readStates$` with the same context. */
  requestReadIndex(ctx: Buffer): void;
  readonly readStates$: Observable<ReadState>;
  readonly applied: IndexWaiter;
  /** How long one ReadIndex round may take before the batch fails with etcd's timeout error. */
  timeoutMs: number;
  nextId(): bigint;
  /** Milliseconds from a monotonic clock (tests inject their own). */
  now?: () => number;
}

interface PendingRead {
  resolve(): void;
  reject(err: unknown): void;
}

/** The ReadIndex round in flight: its context and who hears the read index or the failure. */
interface Round {
  readonly ctx: Buffer;
  readonly startedAt: number;
  readonly answer: (index: number) => void;
  readonly fail: (err: unknown) => void;
}

/**
 * Linearizable reads: every read that arrives while a ReadIndex round is in flight joins the next
 * round, so one round trip to the quorum serves them all; a round ends when the applied index
 * reaches the read index.
 *
 * Rounds are many and short under load (one member answers a ReadIndex in the next Ready), so a
 * round costs no subscription and no timer of its own: one subscription hears every read state,
 * and one timer, armed only while rounds run, fails a round that outlives the timeout.
 */
export class LinearizableReads {
  private readonly requests$ = new Subject<PendingRead>();
  private readonly subscription: Subscription;
  private readonly now: () => number;
  private current: Round | undefined;
  private timeoutCheck: NodeJS.Timeout | undefined;

  constructor(private readonly deps: ReadIndexDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.subscription = this.requests$.pipe(batchWhileBusy((batch) => this.round(batch))).subscribe();
    this.subscription.add(
      deps.readStates$.subscribe((rs) => {
        const round = this.current;
        // a late answer to a round that timed out finds another round (or none) and is dropped
        if (round !== undefined && rs.requestCtx.equals(round.ctx)) {
          this.current = undefined;
          round.answer(rs.index);
        }
      }),
    );
  }

  /** Resolves once this member has applied everything committed before the call. */
  waitReadable(): Promise<void> {
    return new Promise((resolve, reject) => this.requests$.next({ resolve, reject }));
  }

  private async round(batch: readonly PendingRead[]): Promise<void> {
    try {
      const ctx = Buffer.allocUnsafe(8);
      ctx.writeBigUInt64BE(this.deps.nextId());
      const index = await new Promise<number>((answer, fail) => {
        this.current = { ctx, startedAt: this.now(), answer, fail };
        this.armTimeoutCheck(this.deps.timeoutMs);
        this.deps.requestReadIndex(ctx);
      });
      await this.deps.applied.wait(index);
      for (const r of batch) r.resolve();
    } catch (err) {
      for (const r of batch) r.reject(err);
    }
  }

  private armTimeoutCheck(delayMs: number): void {
    if (this.timeoutCheck !== undefined) return;
    this.timeoutCheck = setTimeout(() => {
      this.timeoutCheck = undefined;
      const round = this.current;
      if (round === undefined) return;
      const left = round.startedAt + this.deps.timeoutMs - this.now();
      if (left > 0) {
        this.armTimeoutCheck(left);
        return;
      }
      this.current = undefined;
      round.fail(Errors.Timeout);
    }, Math.ceil(delayMs));
  }

  /** Stops serving reads: the round in flight fails with "server stopped", as etcd's do. */
  close(): void {
    const round = this.current;
    this.current = undefined;
    round?.fail(Errors.Stopped);
    this.subscription.unsubscribe();
    this.requests$.complete();
    if (this.timeoutCheck !== undefined) clearTimeout(this.timeoutCheck);
    this.timeoutCheck = undefined;
  }
}
