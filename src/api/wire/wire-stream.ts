// One stream of the client port's own HTTP/2 connection: what its call may send (headers, messages,
// trailers, a reset) under the client's flow-control windows, and the receive window it gives back as
// its call consumes the request.
import { type AnswerBlock, answerHeadersBlock, okTrailersBlock } from "./answer-blocks.js";
import { ErrorCode, Flags, FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from "./frames.js";

/** What a stream's call does with the client's side of it. */
export interface WireStreamHandler {
  data(chunk: Buffer): void;
  /** The client's side ended (END_STREAM). */
  end(): void;
  /** The stream is gone before the call's answer ended it: reset by the client (its code) or its connection closed. */
  closed(code: number): void;
  /** What the call sent has left its queue (after a sendData that answered false). */
  drained?(): void;
}

/** What a stream needs of its connection. */
export interface StreamConnection {
  /** The client's connection-level window for our DATA. */
  sendWindow: number;
  readonly peerMaxFrame: number;
  /** A header block's bytes on this connection; called as the block goes to the output (HPACK state). */
  encodeHeaders(block: AnswerBlock): Buffer;
  /** Appends a copy of bytes to the turn's output. */
  output(bytes: Buffer): void;
  /** Appends a frame to the turn's output: its header, then a copy of `n` bytes of `payload` from `from` (0) on. */
  outputFrame(type: number, flags: number, streamId: number, payload: Buffer, n: number, from?: number): void;
  /** Appends a unary call's whole answer: the turn's first leaves at once (see WireConnection). */
  outputAnswer(bytes: Buffer): void;
  /** Counts `n` bytes of the client's DATA consumed on the connection window. */
  consumed(n: number): void;
  /** The stream waits for a window to open. */
  blocked(stream: WireStream): void;
  /** The stream is done on both sides (or reset). */
  finished(stream: WireStream, sentReset: boolean): void;
  /** A HEADERS or DATA frame went out (keepalive policy). */
  wrote(): void;
}

/** Bytes a stream's queue may hold before sendData asks its writer to wait. */
const HIGH_WATER = 256 * 1024;

type Pending = { data: Buffer; end: boolean } | { block: AnswerBlock; end: boolean };

export class WireStream {
  handler: WireStreamHandler | undefined = undefined;
  /** The client ended its side. */
  remoteEnded = false;
  /** We ended ours (END_STREAM sent). */
  localEnded = false;
  /** Reset, either way, or its connection closed. */
  done = false;
  /** What the client may still send on this stream before we give window back. */
  receiveWindow: number;
  private unacked = 0;
  private queue: Pending[] | undefined = undefined;
  private queuedBytes = 0;
  private waiting = false;

  constructor(
    private readonly connection: StreamConnection,
    readonly id: number,
    /** The client's window for our DATA on this stream. */
    public sendWindow: number,
    private readonly localWindow: number,
  ) {
    this.receiveWindow = localWindow;
  }

  /** Gives back `n` bytes of receive window (the call is done with them). */
  consumed(n: number): void {
    this.connection.consumed(n);
    if (this.remoteEnded || this.done) return;
    this.unacked += n;
    if (this.unacked >= this.localWindow / 2) {
      const update = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
      writeFrameHeader(update, 0, 4, FrameType.WINDOW_UPDATE, 0, this.id);
      update.writeUInt32BE(this.unacked, FRAME_HEADER_BYTES);
      this.receiveWindow += this.unacked;
      this.unacked = 0;
      this.connection.output(update);
    }
  }

  /** Answers a unary call: headers, one message, the OK trailers; in one piece when the windows allow. */
  answerOk(message: Buffer, answerHeaders: AnswerBlock = answerHeadersBlock): void {
    if (this.done || this.localEnded) return;
    const c = this.connection;
    const n = message.length;
    if (this.queue !== undefined || n > c.peerMaxFrame || n > c.sendWindow || n > this.sendWindow) {
      this.respond(answerHeaders, false);
      this.sendData(message, false);
      this.sendTrailers(okTrailersBlock);
      return;
    }
    const headers = c.encodeHeaders(answerHeaders);
    const trailers = c.encodeHeaders(okTrailersBlock);
    const h = headers.length;
    const t = trailers.length;
    const buf = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + h + n + t);
    writeFrameHeader(buf, 0, h, FrameType.HEADERS, Flags.END_HEADERS, this.id);
    headers.copy(buf, FRAME_HEADER_BYTES);
    let at = FRAME_HEADER_BYTES + h;
    writeFrameHeader(buf, at, n, FrameType.DATA, 0, this.id);
    buf.set(message, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + n;
    writeFrameHeader(buf, at, t, FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, this.id);
    trailers.copy(buf, at + FRAME_HEADER_BYTES);
    c.sendWindow -= n;
    this.sendWindow -= n;
    c.outputAnswer(buf);
    c.wrote();
    this.endedLocally();
  }

  /** Sends a header block (split into CONTINUATION frames past the client's frame size). */
  respond(block: AnswerBlock, endStream: boolean): void {
    if (this.done || this.localEnded) return;
    if (this.queue !== undefined) {
      this.queue.push({ block, end: endStream });
      return;
    }
    this.writeHeaders(block, endStream);
  }

  /**
   * Queues DATA; false when the queue is past its high-water mark (wait for `drained`). `borrowed`:
   * the caller uses the memory of `data` again once this returns, so what the windows hold back is
   * copied.
   */
  sendData(data: Buffer, endStream: boolean, borrowed = false): boolean {
    if (this.done || this.localEnded) return true;
    if (this.queue === undefined) this.queue = [];
    const pending = { data, end: endStream };
    this.queue.push(pending);
    this.queuedBytes += data.length;
    this.pump();
    // only this call's bytes can be left of the caller's memory: they were queued last
    const queue = this.queue as Pending[] | undefined;
    if (borrowed && queue !== undefined && queue[queue.length - 1] === pending)
      pending.data = Buffer.from(pending.data);
    if (this.queuedBytes > HIGH_WATER) this.waiting = true;
    return !this.waiting;
  }

  /**
   * Sends `data[start, end)` as DATA, memory the caller uses again once this returns: one frame
   * copied into the connection's output when nothing waits and the windows and the frame size allow
   * it whole (a watch stream's part of a fan-out), else as sendData with the memory borrowed.
   */
  sendDataCopy(data: Buffer, start: number, end: number): boolean {
    if (this.done || this.localEnded) return true;
    const n = end - start;
    const c = this.connection;
    if (this.queue !== undefined || n <= 0 || n > c.sendWindow || n > this.sendWindow || n > c.peerMaxFrame)
      return this.sendData(data.subarray(start, end), false, true);
    c.sendWindow -= n;
    this.sendWindow -= n;
    c.outputFrame(FrameType.DATA, 0, this.id, data, n, start);
    c.wrote();
    return true;
  }

  /** Ends the stream with trailers, after any DATA still queued. */
  sendTrailers(block: AnswerBlock): void {
    if (this.done || this.localEnded) return;
    if (this.queue !== undefined) {
      this.queue.push({ block, end: true });
      this.pump();
      return;
    }
    this.writeHeaders(block, true);
  }

  /** Resets the stream (RST_STREAM with `code`); its call is told nothing more. */
  reset(code: number): void {
    if (this.done) return;
    const rst = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
    writeFrameHeader(rst, 0, 4, FrameType.RST_STREAM, 0, this.id);
    rst.writeUInt32BE(code, FRAME_HEADER_BYTES);
    this.connection.output(rst);
    this.close(true);
  }

  /** The stream ends without a frame of ours: the client reset it, or the connection went. */
  abandon(code: number): void {
    if (this.done) return;
    this.close(false);
    this.handler?.closed(code);
  }

  /** The client's END_STREAM. */
  remoteEnd(): void {
    this.remoteEnded = true;
    this.handler?.end();
    if (this.localEnded && !this.done) this.close(false);
  }

  /** Sends what the windows allow of the queue. */
  pump(): void {
    const queue = this.queue;
    if (queue === undefined || this.done) return;
    const c = this.connection;
    while (queue.length > 0) {
      const head = queue[0];
      if ("block" in head) {
        queue.shift();
        this.writeHeaders(head.block, head.end);
        if (head.end) return;
        continue;
      }
      if (head.data.length === 0 && !head.end) {
        queue.shift();
        continue;
      }
      const n = Math.min(head.data.length, c.sendWindow, this.sendWindow, c.peerMaxFrame);
      if (n <= 0 && head.data.length > 0) {
        c.blocked(this);
        return;
      }
      const last = n === head.data.length;
      const end = last && head.end;
      c.sendWindow -= n;
      this.sendWindow -= n;
      this.queuedBytes -= n;
      c.outputFrame(FrameType.DATA, end ? Flags.END_STREAM : 0, this.id, head.data, n);
      c.wrote();
      if (last) queue.shift();
      else head.data = head.data.subarray(n);
      if (end) {
        this.queue = undefined;
        this.endedLocally();
        return;
      }
    }
    this.queue = undefined;
    this.queuedBytes = 0;
    if (this.waiting) {
      this.waiting = false;
      this.handler?.drained?.();
    }
  }

  private writeHeaders(fields: AnswerBlock, endStream: boolean): void {
    const c = this.connection;
    const block = c.encodeHeaders(fields);
    const flags = endStream ? Flags.END_STREAM : 0;
    if (block.length <= c.peerMaxFrame) {
      const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(buf, 0, block.length, FrameType.HEADERS, flags | Flags.END_HEADERS, this.id);
      block.copy(buf, FRAME_HEADER_BYTES);
      c.output(buf);
    } else {
      for (let at = 0; at < block.length; at += c.peerMaxFrame) {
        const piece = block.subarray(at, at + c.peerMaxFrame);
        const first = at === 0;
        const lastPiece = at + c.peerMaxFrame >= block.length;
        const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + piece.length);
        writeFrameHeader(
          buf,
          0,
          piece.length,
          first ? FrameType.HEADERS : FrameType.CONTINUATION,
          (first ? flags : 0) | (lastPiece ? Flags.END_HEADERS : 0),
          this.id,
        );
        piece.copy(buf, FRAME_HEADER_BYTES);
        c.output(buf);
      }
    }
    c.wrote();
    if (endStream) this.endedLocally();
  }

  private endedLocally(): void {
    this.localEnded = true;
    this.queue = undefined;
    // a call answered before its request ended: the client need send no more (as grpc-go does)
    if (!this.remoteEnded) this.reset(ErrorCode.NO_ERROR);
    else this.close(false);
  }

  private close(sentReset: boolean): void {
    this.done = true;
    this.queue = undefined;
    this.connection.finished(this, sentReset);
  }
}
