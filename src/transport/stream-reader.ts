// The receiving end of one stream from a peer: we dial GET /raft/stream/<type>/<our id> and read
// frames from the answer for as long as it lasts, then dial again (at most once per redialMs).
// A stream that stays silent for streamIdleMs is dead (the writer sends link heartbeats).
import type { Message } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import { MEMBER_REMOVED, streamHeaders, type TransportContext } from "./context.js";
import { FrameReader } from "./frames.js";
import { peerUrl } from "./http-util.js";
import { decodeMessageFrame, isLinkHeartbeat } from "./message-codec.js";
import { MsgAppV2Reader } from "./msgappv2-codec.js";
import type { PeerStatus } from "./peer-status.js";
import { dialStream, type StreamAnswer } from "./stream-dial.js";
import { STREAM_NAMES, type StreamType } from "./stream-writer.js";
import type { UrlPicker } from "./url-picker.js";
import { header, parseSemver, supportsStreams } from "./versions.js";

class DialError extends Error {
  constructor(
    message: string,
    /** Not a failure of the peer: it does not offer this stream type. */
    readonly unsupported = false,
  ) {
    super(message);
  }
}

function frameDecoder(type: StreamType, local: bigint, remote: bigint): FrameReader<Message> {
  if (type === "message") return new FrameReader(decodeMessageFrame);
  return new FrameReader(new MsgAppV2Reader(local, remote).decode);
}

export class StreamReader {
  private readonly abort = new AbortController();
  private current: StreamAnswer | undefined;
  private readonly done: Promise<void>;

  constructor(
    private readonly ctx: TransportContext,
    private readonly peerId: bigint,
    private readonly type: StreamType,
    private readonly picker: UrlPicker,
    private readonly status: PeerStatus,
  ) {
    this.done = this.run();
  }

  /** Stops dialing and closes the open stream. */
  async stop(): Promise<void> {
    this.abort.abort();
    this.current?.destroy();
    await this.done;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    this.log("info", "started stream reader with remote peer");
    while (!this.stopped) {
      const started = Date.now();
      try {
        const res = await this.dial();
        this.status.activate();
        this.log("info", "established TCP streaming connection with remote peer");
        const err = await this.decodeLoop(res);
        if (!this.stopped) {
          this.log("warn", "lost TCP streaming connection with remote peer", err?.message);
          if (err) this.status.deactivate(STREAM_NAMES[this.type], "read", err.message);
        }
      } catch (err) {
        if (this.stopped) break;
        const e = err as Error;
        if (!(e instanceof DialError && e.unsupported))
          this.status.deactivate(STREAM_NAMES[this.type], "dial", e.message);
      }
      const wait = started + this.ctx.timings.redialMs - Date.now();
      if (wait > 0 && !this.stopped) await this.sleep(wait);
    }
    this.log("info", "stopped stream reader with remote peer");
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.abort.signal;
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      // removed when the time is up: a reader redialling an unreachable peer sleeps many times a minute
      function done() {
        clearTimeout(t);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private async dial(): Promise<StreamAnswer> {
    const base = this.picker.pick();
    const url = peerUrl(base, `/raft/stream/${this.type}/${formatId(this.ctx.localId)}`);
    let res: StreamAnswer;
    try {
      res = await dialStream({
        url,
        headers: streamHeaders(this.ctx, this.peerId),
        ...(this.ctx.streamAgents.tls ? { tls: this.ctx.streamAgents.tls } : {}),
        connectTimeoutMs: this.ctx.timings.dialTimeoutMs,
        answerTimeoutMs: this.ctx.timings.dialTimeoutMs,
        signal: this.abort.signal,
      });
    } catch (err) {
      this.picker.unreachable(base);
      throw err;
    }
    const status = res.status;
    const version = parseSemver(header(res.headers, "X-Server-Version") || "2.0.0");
    if (!version || !supportsStreams(version)) {
      res.destroy();
      this.picker.unreachable(base);
      throw new DialError("unsupported stream type", true);
    }
    if (status === 200) return res;
    const body = await res.body();
    this.picker.unreachable(base);
    switch (status) {
      case 410:
        this.ctx.reportRemoved(`${MEMBER_REMOVED} (peer ${formatId(this.peerId)} answered 410 Gone)`);
        throw new DialError(MEMBER_REMOVED);
      case 404:
        throw new DialError(
          `peer ${formatId(this.peerId)} failed to find local node ${formatId(this.ctx.localId)}`,
        );
      case 412: {
        const text = body.toString("utf8").replace(/\n$/, "");
        if (text === "incompatible version" || text === "cluster ID mismatch") {
          this.log("warn", `request sent was ignored by remote peer: ${text}`);
          throw new DialError(text);
        }
        throw new DialError(`unhandled error ${JSON.stringify(text)} when precondition failed`);
      }
      default:
        throw new DialError(`unhandled http status ${status}`);
    }
  }

  /** Reads frames until the stream ends; resolves with the error that ended it (undefined at EOF). */
  private decodeLoop(res: StreamAnswer): Promise<Error | undefined> {
    this.current = res;
    const reader = frameDecoder(this.type, this.ctx.localId, this.peerId);
    const received = this.ctx.metrics.receivedTally(formatId(this.peerId));
    // each message as its frame is decoded (etcd's reader too); a frame that does not decode ends the stream
    const deliver = (m: Message): void => {
      if (isLinkHeartbeat(m)) return;
      this.ctx.deliver(m);
    };
    return new Promise((resolve) => {
      let finished = false;
      const finish = (err: Error | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(idle);
        this.current = undefined;
        res.destroy();
        resolve(err);
      };
      const idle = setTimeout(
        () => finish(new Error(`no data for ${this.ctx.timings.streamIdleMs} ms`)),
        this.ctx.timings.streamIdleMs,
      );
      res.read(
        (chunk) => {
          if (finished) return;
          idle.refresh();
          received.bytes += chunk.length;
          try {
            reader.each(chunk, deliver);
          } catch (err) {
            finish(err as Error);
          }
        },
        (err) => finish(this.stopped ? undefined : err),
      );
    });
  }

  private log(level: "info" | "warn", msg: string, error?: string): void {
    this.ctx.logger[level](
      {
        "stream-reader-type": STREAM_NAMES[this.type],
        "local-member-id": formatId(this.ctx.localId),
        "remote-peer-id": formatId(this.peerId),
        ...(error ? { error } : {}),
      },
      msg,
    );
  }
}
