import { filter, firstValueFrom, map, race, Subject, take, timer } from "rxjs";
import { batchWhileBusy } from "../../streams/operators/batch-while-busy.js";
import type { ReadState } from "../raft/read_only.js";
import { Errors } from "../rpctypes/errors.js";
import type { IndexWaiter } from "./wait.js";

export interface ReadIndexDeps {
  /** Asks raft for a read index; the answer comes back through `readStates$` with the same context. */
  requestReadIndex(ctx: Buffer): void;
  readonly readStates$: Subject<ReadState>;
  readonly applied: IndexWaiter;
  /** How long one ReadIndex round may take before the batch fails with etcd's timeout error. */
  timeoutMs: number;
  nextId(): bigint;
}

interface PendingRead {
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Linearizable reads: every read that arrives while a ReadIndex round is in flight joins the next
 * round, so one round trip to the quorum serves them all; a round ends when the applied index
 * reaches the read index.
 */
export class LinearizableReads {
  private readonly requests$ = new Subject<PendingRead>();
  private readonly subscription;

  constructor(private readonly deps: ReadIndexDeps) {
    this.subscription = this.requests$.pipe(batchWhileBusy((batch) => this.round(batch))).subscribe();
  }

  /** Resolves once this member has applied everything committed before the call. */
  waitReadable(): Promise<void> {
    return new Promise((resolve, reject) => this.requests$.next({ resolve, reject }));
  }

  private async round(batch: readonly PendingRead[]): Promise<void> {
    try {
      const ctx = Buffer.alloc(8);
      ctx.writeBigUInt64BE(this.deps.nextId());
      const answer = firstValueFrom(
        race(
          this.deps.readStates$.pipe(
            filter((rs) => rs.requestCtx.equals(ctx)),
            take(1),
            map((rs) => rs.index),
          ),
          timer(this.deps.timeoutMs).pipe(map(() => -1)),
        ),
      );
      this.deps.requestReadIndex(ctx);
      const index = await answer;
      if (index < 0) throw Errors.Timeout;
      await this.deps.applied.wait(index);
      for (const r of batch) r.resolve();
    } catch (err) {
      for (const r of batch) r.reject(err);
    }
  }

  close(): void {
    this.subscription.unsubscribe();
    this.requests$.complete();
  }
}
