// The pipeline to one peer: every message is its own POST /raft, at most PIPELINE_WORKERS in flight,
// at most PIPELINE_QUEUE_LIMIT waiting. It carries what the streams cannot (they are down, or the
// peer is only a remote) and every message of a peer we have no streams with.
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import { checkPostAnswer, postHeaders, type TransportContext } from "./context.js";
import { fetchPeer, peerUrl } from "./http-util.js";
import type { PeerStatus } from "./peer-status.js";
import { encodeMessage } from "./raft-wire.js";
import type { UrlPicker } from "./url-picker.js";

/** Concurrent POSTs per peer (etcd's connPerPipeline). */
export const PIPELINE_WORKERS = 4;
/** Messages waiting for a worker (etcd's pipelineBufSize). */
export const PIPELINE_QUEUE_LIMIT = 64;

export class Pipeline {
  private queue: Message[] = [];
  private workers = 0;
  private readonly abort = new AbortController();
  private idle: Array<() => void> = [];

  constructor(
    private readonly ctx: TransportContext,
    private readonly peerId: bigint,
    private readonly picker: UrlPicker,
    private readonly status: PeerStatus,
  ) {}

  /** Queues a message; false when the queue is full or the pipeline stopped. */
  enqueue(m: Message): boolean {
    if (this.abort.signal.aborted || this.queue.length >= PIPELINE_QUEUE_LIMIT) return false;
    this.queue.push(m);
    if (this.workers < PIPELINE_WORKERS) {
      this.workers++;
      void this.work();
    }
    return true;
  }

  /** Cancels the POSTs in flight and drops what waits. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.queue = [];
    if (this.workers > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private async work(): Promise<void> {
    try {
      for (let m = this.queue.shift(); m && !this.abort.signal.aborted; m = this.queue.shift()) {
        await this.post(m);
      }
    } finally {
      this.workers--;
      if (this.workers === 0) for (const f of this.idle.splice(0)) f();
    }
  }

  private async post(m: Message): Promise<void> {
    const base = this.picker.pick();
    const url = peerUrl(base, "/raft");
    const body = encodeMessage(m);
    let failure: string | undefined;
    try {
      const answer = await fetchPeer({
        method: "POST",
        url,
        headers: postHeaders(this.ctx, "application/protobuf"),
        body,
        agent: this.ctx.pipelineAgents.for(url),
        connectTimeoutMs: this.ctx.timings.dialTimeoutMs,
        signal: this.abort.signal,
      });
      const verdict = checkPostAnswer(answer.status, answer.body, url.href);
      if (!verdict.ok) {
        failure = verdict.reason;
        if (verdict.removed)
          this.ctx.reportRemoved(`${verdict.reason} (peer ${formatId(this.peerId)} answered 403)`);
      }
    } catch (err) {
      failure = (err as Error).message;
    }
    const to = formatId(m.to);
    if (this.abort.signal.aborted) return; // the peer is gone: nobody to tell
    if (failure !== undefined) {
      this.picker.unreachable(base);
      this.status.deactivate("pipeline", "write", failure);
      this.ctx.raft.reportUnreachable(m.to);
      if (m.type === MessageType.MsgSnap) this.ctx.raft.reportSnapshot(m.to, true);
      this.ctx.metrics.sentFailures.inc({ To: to });
      return;
    }
    this.status.activate();
    if (m.type === MessageType.MsgSnap) this.ctx.raft.reportSnapshot(m.to, false);
    this.ctx.metrics.sentBytes.inc({ To: to }, body.length);
  }
}
