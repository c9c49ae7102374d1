// The gateway's streaming answers still open, so that a shutdown can end each with an error line as etcd does
// (its gateway's connection to the gRPC server closes: "transport is closing", code Unavailable) instead of
// cutting the connection under the client.
import { GrpcCode } from "../../rpctypes/errors.js";
import type { RpcStatus } from "../grpc/status.js";

/** A streaming answer that can be ended with an error line. */
export interface EndableStream {
  /** Writes the error line and ends the answer; resolves once it is written out (or the connection is gone). */
  endWith(status: RpcStatus): Promise<void>;
}

/** What etcd's gateway writes on its open streams when the member shuts down. */
export const TRANSPORT_CLOSING: RpcStatus = { code: GrpcCode.Unavailable, message: "transport is closing" };

export class OpenStreams {
  private readonly open = new Set<EndableStream>();

  /** Tracks a stream until the returned function is called (when its answer is over). */
  track(stream: EndableStream): () => void {
    this.open.add(stream);
    return () => this.open.delete(stream);
  }

  get size(): number {
    return this.open.size;
  }

  /** Ends every open stream with `status`, waiting at most `limitMs` for the lines to be written out. */
  async endAll(status: RpcStatus, limitMs: number): Promise<void> {
    const ending = [...this.open].map((s) => s.endWith(status));
    this.open.clear();
    await settledWithin(ending, limitMs);
  }
}

/** Resolves once every one of `pending` settled, or after `limitMs`, whichever comes first. */
export async function settledWithin(pending: readonly Promise<unknown>[], limitMs: number): Promise<void> {
  if (pending.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, limitMs);
  });
  await Promise.race([Promise.allSettled(pending), limit]);
  clearTimeout(timer);
}
