// Everything we keep for one member of the cluster: two stream writers (it dialed us), two stream
// readers (we dial it), a pipeline, snapshot sends, a prober, and whether it is reachable.
import type { ServerResponse } from "node:http";
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import type { TransportContext } from "./context.js";
import { PeerStatus } from "./peer-status.js";
import { Pipeline } from "./pipeline.js";
import { Prober } from "./prober.js";
import { sendSnapshot } from "./snapshot-sender.js";
import { StreamReader } from "./stream-reader.js";
import { type StreamType, StreamWriter } from "./stream-writer.js";
import { UrlPicker } from "./url-picker.js";

export class Peer {
  readonly status: PeerStatus;
  readonly picker: UrlPicker;
  private readonly writers: Record<StreamType, StreamWriter>;
  private readonly readers: StreamReader[];
  private readonly pipeline: Pipeline;
  private prober: Prober;
  private readonly abort = new AbortController();

  constructor(
    private readonly ctx: TransportContext,
    readonly id: bigint,
    urls: readonly string[],
  ) {
    this.status = new PeerStatus(ctx.localId, id, ctx.metrics, ctx.logger, ctx.now);
    this.picker = new UrlPicker(urls);
    this.pipeline = new Pipeline(ctx, id, this.picker, this.status);
    this.writers = {
      msgapp: new StreamWriter(ctx, id, "msgapp", this.status),
      message: new StreamWriter(ctx, id, "message", this.status),
    };
    this.readers = [
      new StreamReader(ctx, id, "msgapp", this.picker, this.status),
      new StreamReader(ctx, id, "message", this.picker, this.status),
    ];
    this.prober = new Prober(ctx, id, urls);
  }

  /** Routes one message as etcd's peer.pick: msgappv2 stream, message stream, else the pipeline. */
  send(m: Message): void {
    const [ok, channel] = this.pick(m);
    if (ok) return;
    this.ctx.raft.reportUnreachable(m.to);
    if (m.type === MessageType.MsgSnap) this.ctx.raft.reportSnapshot(m.to, true);
    this.ctx.logger.warn(
      {
        "message-type": MessageType[m.type],
        "remote-peer-id": formatId(this.id),
        "remote-peer-active": this.status.isActive(),
        channel,
      },
      "dropped internal Raft message since sending buffer is full (overloaded network)",
    );
    this.ctx.metrics.sentFailures.inc({ To: formatId(m.to) });
  }

  private pick(m: Message): [boolean, string] {
    if (m.type === MessageType.MsgSnap) return [this.pipeline.enqueue(m), "pipeline"];
    if (m.type === MessageType.MsgApp && this.writers.msgapp.working) {
      return [this.writers.msgapp.enqueue(m), "streamMsgAppV2"];
    }
    if (this.writers.message.working) return [this.writers.message.enqueue(m), "streamMsg"];
    return [this.pipeline.enqueue(m), "pipeline"];
  }

  sendSnapshot(m: Message, db: AsyncIterable<Buffer>): Promise<void> {
    return sendSnapshot(
      this.ctx,
      { id: this.id, picker: this.picker, status: this.status, signal: this.abort.signal },
      m,
      db,
    );
  }

  /** The peer dialed one of our streams. */
  attachOutgoing(type: StreamType, res: ServerResponse): void {
    this.writers[type].attach(res);
  }

  update(urls: readonly string[]): void {
    this.picker.update(urls);
    this.prober.stop();
    this.prober = new Prober(this.ctx, this.id, urls);
  }

  activeSince(): number | undefined {
    return this.status.activeSince();
  }

  /** The prober's smoothed round-trip time in ms; undefined before its first answer. */
  roundTripMs(): number | undefined {
    const rtt = this.prober.srtt;
    return rtt > 0 ? rtt : undefined;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.prober.stop();
    this.writers.msgapp.stop();
    this.writers.message.stop();
    await Promise.all([this.pipeline.stop(), ...this.readers.map((r) => r.stop())]);
    this.status.release();
  }
}

/**
 * A member we may need to reach but have no membership entry for yet (a joining member, or the
 * sender of a request): pipeline only (etcd's remote).
 */
export class Remote {
  readonly status: PeerStatus;
  readonly picker: UrlPicker;
  private readonly pipeline: Pipeline;

  constructor(
    private readonly ctx: TransportContext,
    readonly id: bigint,
    urls: readonly string[],
  ) {
    this.status = new PeerStatus(ctx.localId, id, ctx.metrics, ctx.logger, ctx.now);
    this.picker = new UrlPicker(urls);
    this.pipeline = new Pipeline(ctx, id, this.picker, this.status);
  }

  send(m: Message): void {
    if (this.pipeline.enqueue(m)) return;
    this.ctx.raft.reportUnreachable(m.to);
    this.ctx.logger.warn(
      { "message-type": MessageType[m.type], "remote-peer-id": formatId(this.id) },
      "dropped Raft message since sending buffer is full (overloaded network)",
    );
    this.ctx.metrics.sentFailures.inc({ To: formatId(m.to) });
  }

  async stop(): Promise<void> {
    await this.pipeline.stop();
    this.status.release();
  }
}
