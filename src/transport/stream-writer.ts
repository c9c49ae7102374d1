// The sending end of one stream to a peer: the peer dialed us (GET /raft/stream/<type>/<peer>) and we
// keep writing frames into that answer. Messages wait in a bounded queue and are written in one batch,
// straight to the socket: once the code that queued them has run (a microtask), or, when the queue
// holds only commit notices, once an append joins them or COMMIT_NOTICE_HOLD_MS passed; a link
// heartbeat goes out every heartbeatMs so the dialer can tell a quiet stream from a dead one. A write
// that cannot drain within writeTimeoutMs ends the stream.
import type { ServerResponse } from "node:http";
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import { coalesceAppends } from "./coalesce-appends.js";
import type { TransportContext } from "./context.js";
import { LINK_HEARTBEAT, messageFrameSize, writeMessageFrame } from "./message-codec.js";
import type { ByteTally } from "./metrics.js";
import {
  INITIAL_MSGAPPV2_STATE,
  type MsgAppV2State,
  msgAppV2FrameSize,
  msgAppV2StateAfter,
  writeMsgAppV2Frame,
} from "./msgappv2-codec.js";
import type { PeerStatus } from "./peer-status.js";

export type StreamType = "message" | "msgapp";

/** Messages waiting for a stream writer (etcd's streamBufSize). */
export const STREAM_QUEUE_LIMIT = 4096;

/** Human names as etcd logs them. */
export const STREAM_NAMES: Record<StreamType, string> = {
  message: "stream Message",
  msgapp: "stream MsgApp v2",
};

interface Connection {
  readonly res: ServerResponse;
  readonly frames: FrameEncoder;
  readonly heartbeat: NodeJS.Timeout;
  drainTimer: NodeJS.Timeout | undefined;
}

/** Writes the frames of a batch of messages into one buffer; msgappv2 keeps its (term, index) state per connection. */
export interface FrameEncoder {
  /** The bytes the batch's frames take (the state does not change). */
  measure(batch: readonly Message[]): number;
  /** Writes the batch's frames into `target` at `offset` and moves the state past them; returns the end offset. */
  write(batch: readonly Message[], target: Buffer, offset: number): number;
}

export const MESSAGE_FRAMES: FrameEncoder = {
  measure(batch) {
    let size = 0;
    for (const m of batch) size += messageFrameSize(m);
    return size;
  },
  write(batch, target, offset) {
    let at = offset;
    for (const m of batch) at = writeMessageFrame(m, target, at);
    return at;
  },
};

export function msgAppV2Frames(): FrameEncoder {
  let state: MsgAppV2State = INITIAL_MSGAPPV2_STATE;
  return {
    measure(batch) {
      let size = 0;
      let s = state;
      for (const m of batch) {
        size += msgAppV2FrameSize(s, m);
        s = msgAppV2StateAfter(s, m);
      }
      return size;
    },
    write(batch, target, offset) {
      let at = offset;
      for (const m of batch) {
        at = writeMsgAppV2Frame(state, m, target, at);
        state = msgAppV2StateAfter(state, m);
      }
      return at;
    },
  };
}

/**
 * How long a commit notice waits for an append to ride with when the follower has every entry sent
 * to it (a client's next write usually comes within this; idle, a follower learns the commit this much
 * later, and heartbeats carry it too).
 */
export const COMMIT_NOTICE_HOLD_MS = 2;

/**
 * How long a commit notice waits when entries past its commit are on their way to the follower: their
 * acknowledgement moves the commit again, and the notice (or the append after it) that follows
 * carries the newer commit, so under load a follower gets one message per batch instead of two.
 * Bounded so that a follower whose acknowledgements stall still learns commits promptly.
 */
export const COMMIT_NOTICE_HOLD_IN_FLIGHT_MS = 20;

/**
 * An empty MsgApp only tells a follower the new commit index. It can wait: the leader applies the
 * entries it committed and answers their clients first (on one thread, writing to a follower also
 * wakes it up to compete for the CPU), and an append queued meanwhile carries the commit with it.
 */
function canWaitForAppend(m: Message): boolean {
  return m.type === MessageType.MsgApp && m.entries.length === 0;
}

/** A hold this close to its end is over: a timer cannot wait less than a millisecond. */
const HOLD_SLACK_MS = 0.1;

/** The size line of a chunk of HTTP/1.1 chunked transfer coding. */
function chunkHead(size: number): string {
  return `${size.toString(16)}\r\n`;
}

/**
 * One chunk of HTTP/1.1 chunked transfer coding carrying the batch's frames, written in place: the
 * frames are bytes [start, start + size) of it.
 */
export function chunkOf(
  frames: FrameEncoder,
  batch: readonly Message[],
): { readonly chunk: Buffer; readonly start: number; readonly size: number } {
  const size = frames.measure(batch);
  const head = chunkHead(size);
  const chunk = Buffer.allocUnsafe(head.length + size + 2);
  const start = chunk.write(head, 0, "latin1");
  const end = frames.write(batch, chunk, start);
  if (end !== start + size) throw new Error(`frames of ${size} bytes wrote ${end - start}`);
  chunk[end] = 0x0d;
  chunk[end + 1] = 0x0a;
  return { chunk, start, size };
}

export class StreamWriter {
  private conn: Connection | undefined;
  private queue: Message[] = [];
  /** A flush is queued as a microtask ("soon") or waits for an append or the hold timer ("held"). */
  private flushScheduled: "no" | "soon" | "held" = "no";
  /**
   * The hold's timer, kept from one hold to the next and restarted: a hold ends when an append comes,
   * usually well before the timer, and one client's puts held a notice each, making and clearing a
   * timer (about 0.3 KiB) for every put and follower. A timer that fires with nothing held does nothing.
   */
  private holdTimer: NodeJS.Timeout | undefined;
  /** The delay holdTimer waits when restarted. */
  private holdTimerMs = 0;
  private readonly onHoldTimer = (): void => this.holdElapsed();
  private readonly flushQueued = (): void => this.flush();
  /** When the held notices go out at the latest (performance.now()). */
  private holdUntil = 0;
  /** The last entry index queued to this peer in an append: entries up to it may still be unacknowledged. */
  private lastAppended = 0;
  private stopped = false;
  private readonly sent: ByteTally;

  constructor(
    private readonly ctx: TransportContext,
    private readonly peerId: bigint,
    private readonly type: StreamType,
    private readonly status: PeerStatus,
  ) {
    this.sent = ctx.metrics.sentTally(formatId(peerId));
  }

  /** Whether a connection is attached (peer.pick only uses working writers). */
  get working(): boolean {
    return this.conn !== undefined;
  }

  /** Queues a message; false when the queue is full (the caller drops it and tells raft). */
  enqueue(m: Message): boolean {
    if (!this.conn || this.queue.length >= STREAM_QUEUE_LIMIT) return false;
    this.queue.push(m);
    if (canWaitForAppend(m)) {
      if (this.flushScheduled !== "soon") this.hold(m.commit < this.lastAppended);
    } else {
      if (m.type === MessageType.MsgApp && m.entries.length > 0)
        this.lastAppended = m.entries[m.entries.length - 1].index;
      if (this.flushScheduled === "soon") return true;
      this.flushScheduled = "soon";
      queueMicrotask(this.flushQueued);
    }
    return true;
  }

  /** A new inbound stream for this (peer, type): it replaces the previous one. */
  attach(res: ServerResponse): void {
    if (this.stopped) {
      res.end();
      return;
    }
    const replaced = this.detach("end");
    const conn: Connection = {
      res,
      frames: this.type === "message" ? MESSAGE_FRAMES : msgAppV2Frames(),
      heartbeat: setInterval(() => this.heartbeat(conn), this.ctx.timings.heartbeatMs),
      drainTimer: undefined,
    };
    this.conn = conn;
    res.once("close", () => {
      if (this.conn === conn) this.fail(conn, "write", "connection closed by the remote peer");
    });
    res.on("error", () => {});
    this.status.activate();
    if (replaced) this.log("warn", "closed TCP streaming connection with remote peer");
    this.log("info", "established TCP streaming connection with remote peer");
  }

  /** Writes what is queued (a commit notice waiting for the turn's end may tell a removed member its removal), then ends the stream. */
  stop(): void {
    this.stopped = true;
    this.flush();
    this.cancelHoldTimer();
    if (this.detach("end")) this.log("info", "closed TCP streaming connection with remote peer");
  }

  private heartbeat(conn: Connection): void {
    if (this.conn !== conn || conn.drainTimer) return; // a blocked write is already being timed
    this.write(conn, chunkOf(conn.frames, [LINK_HEARTBEAT]), "heartbeat");
  }

  /** Holds the queued notices, with a shorter hold when nothing past their commit is in flight. */
  private hold(inFlight: boolean): void {
    const ms = inFlight ? COMMIT_NOTICE_HOLD_IN_FLIGHT_MS : COMMIT_NOTICE_HOLD_MS;
    const until = performance.now() + ms;
    if (this.flushScheduled === "held" && this.holdUntil <= until) return;
    this.flushScheduled = "held";
    this.holdUntil = until;
    this.armHold(ms);
  }

  private armHold(ms: number): void {
    if (this.holdTimer !== undefined && this.holdTimerMs === ms) {
      this.holdTimer.refresh();
      return;
    }
    this.cancelHoldTimer();
    this.holdTimer = setTimeout(this.onHoldTimer, ms);
    this.holdTimerMs = ms;
  }

  /**
   * Node starts a timer from the loop's clock, read when the turn began: set late in a long turn (a
   * synced write, an apply) it fires that much early. Held notices wait out the rest of their hold.
   */
  private holdElapsed(): void {
    if (this.flushScheduled !== "held") return; // the hold ended before its timer
    const left = this.holdUntil - performance.now();
    if (left > HOLD_SLACK_MS) {
      this.armHold(left);
      return;
    }
    this.flush();
  }

  private cancelHoldTimer(): void {
    if (this.holdTimer === undefined) return;
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
  }

  private flush(): void {
    this.flushScheduled = "no";
    const conn = this.conn;
    if (!conn || conn.drainTimer || this.queue.length === 0) return;
    // a commit notice that waited joins the append queued after it
    const batch = this.queue.length > 1 ? coalesceAppends(this.queue) : this.queue;
    this.queue = [];
    const framed = chunkOf(conn.frames, batch);
    if (this.write(conn, framed, "write")) {
      this.sent.bytes += framed.size;
    } else {
      this.ctx.raft.reportUnreachable(this.peerId);
    }
  }

  /**
   * Writes the frames as one chunk of the answer; false when the connection failed. Waits for 'drain'
   * when the socket is backed up.
   */
  private write(conn: Connection, framed: ReturnType<typeof chunkOf>, action: string): boolean {
    const res = conn.res;
    if (res.destroyed || res.writableEnded) {
      this.fail(conn, action, "connection closed");
      return false;
    }
    if (framed.size === 0) return true; // an empty chunk would end the answer
    const socket = res.socket;
    // The answer's headers went out when the stream was attached and nothing else writes to it: the
    // chunk (hex size, CRLF, frames, CRLF) goes to the socket in one buffer and one write, which the
    // kernel gets now. The response's own write costs three buffers, a cork until the next tick
    // (after every promise continuation of the turn: the rest of the raft loop, an apply) and
    // its bookkeeping.
    if (socket && res.chunkedEncoding && res.headersSent && res.writableLength === socket.writableLength) {
      if (!socket.write(framed.chunk)) this.awaitDrain(conn, socket, action);
      return true;
    }
    // otherwise the response frames the bytes; corked here, the uncork hands them to the kernel now
    socket?.cork();
    const more = res.write(framed.chunk.subarray(framed.start, framed.start + framed.size));
    socket?.uncork();
    if (!more) this.awaitDrain(conn, res, action);
    return true;
  }

  private awaitDrain(conn: Connection, emitter: NodeJS.EventEmitter, action: string): void {
    conn.drainTimer = setTimeout(
      () => this.fail(conn, action, `write blocked for ${this.ctx.timings.writeTimeoutMs} ms`),
      this.ctx.timings.writeTimeoutMs,
    );
    emitter.once("drain", () => {
      if (conn.drainTimer) clearTimeout(conn.drainTimer);
      conn.drainTimer = undefined;
      if (this.conn === conn && this.queue.length > 0) this.flush();
    });
  }

  private fail(conn: Connection, action: string, reason: string): void {
    if (this.conn !== conn) return;
    this.status.deactivate(STREAM_NAMES[this.type], action, reason);
    this.ctx.metrics.sentFailures.inc({ To: formatId(this.peerId) });
    this.detach("destroy");
    this.log("warn", "lost TCP streaming connection with remote peer");
  }

  /** Closes the current connection; pending messages are lost (raft hears the peer is unreachable). */
  private detach(how: "end" | "destroy"): boolean {
    const conn = this.conn;
    if (!conn) return false;
    this.conn = undefined;
    clearInterval(conn.heartbeat);
    if (conn.drainTimer) clearTimeout(conn.drainTimer);
    if (how === "destroy") conn.res.destroy();
    else conn.res.end();
    if (this.queue.length > 0) this.ctx.raft.reportUnreachable(this.peerId);
    this.queue = [];
    return true;
  }

  private log(level: "info" | "warn", msg: string): void {
    this.ctx.logger[level](
      {
        "stream-writer-type": STREAM_NAMES[this.type],
        "local-member-id": formatId(this.ctx.localId),
        "remote-peer-id": formatId(this.peerId),
      },
      msg,
    );
  }
}
