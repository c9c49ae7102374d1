// Bookkeeping of the leader's pending ReadIndex requests (the safe, quorum-confirmed variant).
import type { Message } from "../gen/raftpb/raft.js";

export enum ReadOnlyOption {
  /** Confirms leadership with a heartbeat round to a quorum before answering (linearizable). */
  ReadOnlySafe = 0,
  /** Answers from the leader lease; depends on bounded clock drift. Requires checkQuorum. */
  ReadOnlyLeaseBased = 1,
}

/** A read request's answer: the read is linearizable once the state machine applied `index`. */
export interface ReadState {
  index: number;
  requestCtx: Buffer;
}

/** One pending read: the request, the commit index it was taken at, and who has acknowledged it. */
export interface ReadIndexStatus {
  req: Message;
  index: number;
  /** Only ever records true; a map so that quorum vote counting applies directly. */
  acks: Map<bigint, boolean>;
}

/** Request contexts are compared byte-wise; latin1 maps each byte to one char, losslessly. */
function ctxKey(ctx: Buffer): string {
  return ctx.toString("latin1");
}

export class ReadOnly {
  readonly option: ReadOnlyOption;
  readonly pendingReadIndex = new Map<string, ReadIndexStatus>();
  readIndexQueue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /** Queues a read request (keyed by its context) taken at commit index `index`. */
  addRequest(index: number, m: Message): void {
    const key = ctxKey(m.entries[0].data);
    if (this.pendingReadIndex.has(key)) return;
    this.pendingReadIndex.set(key, { index, req: m, acks: new Map() });
    this.readIndexQueue.push(key);
  }

  /** Records that `id` acknowledged the heartbeat carrying `context`; returns the acks so far. */
  recvAck(id: bigint, context: Buffer): Map<bigint, boolean> | undefined {
    const rs = this.pendingReadIndex.get(ctxKey(context));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /**
   * Dequeues the request whose context the message carries and every request queued before it
   * (they are confirmed too), in order. Empty when the context is unknown.
   */
  advance(m: Message): ReadIndexStatus[] {
    const key = ctxKey(m.context);
    const at = this.readIndexQueue.indexOf(key);
    if (at < 0) return [];
    const done: ReadIndexStatus[] = [];
    for (let k = 0; k <= at; k++) {
      const rs = this.pendingReadIndex.get(this.readIndexQueue[k]);
      if (rs === undefined) throw new Error("cannot find corresponding read state from pending map");
      done.push(rs);
    }
    this.readIndexQueue = this.readIndexQueue.slice(at + 1);
    for (const rs of done) this.pendingReadIndex.delete(ctxKey(rs.req.entries[0].data));
    return done;
  }

  /** The context of the newest pending request, or undefined when none is pending. */
  lastPendingRequestCtx(): string | undefined {
    const n = this.readIndexQueue.length;
    return n === 0 ? undefined : this.readIndexQueue[n - 1];
  }
}

/** Converts a queue key back to the context bytes it came from. */
export function ctxFromKey(key: string): Buffer {
  return Buffer.from(key, "latin1");
}
