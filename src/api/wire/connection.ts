// The client port's own HTTP/2 server connection, written for gRPC over cleartext HTTP/2 (h2c with
// prior knowledge) or TLS (h2 by ALPN). Node's HTTP/2 spends more CPU on its stream objects, header
// objects, events and timers than a unary call costs (a put is one HEADERS and one DATA frame in,
// HEADERS, DATA and HEADERS out); here frames are read from the socket's chunks by hand, the answers'
// header blocks are mostly references to the client's HPACK table (answer-hpack.ts), and a turn's
// output leaves in one socket write. Each stream's call is opened by the caller (a native unary call,
// or a stream forwarded to Node's HTTP/2 and grpc-js).
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { MAX_HEADER_LIST_BYTES } from "../grpc/header-limits.js";
import { type HeaderField, HpackDecoder } from "../grpc/hpack.js";
import { PingStrikes, tooManyPings } from "../grpc/ping-policy.js";
import type { AnswerBlock } from "./answer-blocks.js";
import { AnswerHpack } from "./answer-hpack.js";
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flags,
  FRAME_HEADER_BYTES,
  FrameType,
  frame,
  goawayFrame,
  MAX_FRAME_LIMIT,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsAckFrame,
  settingsFrame,
  windowUpdateFrame,
} from "./frames.js";
import { OutputBuffer } from "./output-buffer.js";
import { wellFormedRequest, wellFormedTrailers } from "./request-headers.js";
import { ResetBudget } from "./reset-budget.js";
import { type StreamConnection, WireStream, type WireStreamHandler } from "./wire-stream.js";

/** Our receive window per stream: a request up to --max-request-bytes never waits for an update. */
export const STREAM_WINDOW = 4 << 20;
/** Our receive window for the whole connection. */
export const CONNECTION_WINDOW = 16 << 20;
/** The largest frame we take (the protocol's default; we never raise it). */
const LOCAL_MAX_FRAME = DEFAULT_MAX_FRAME;
/** The HPACK table size we let clients use (the default). */
const HEADER_TABLE_SIZE = 4096;
/** The most encoded bytes of one header block (its frames together). */
const MAX_HEADER_BLOCK_BYTES = MAX_HEADER_LIST_BYTES;
/** How long a connection we ended may stay half-open before it is destroyed. */
const LINGER_MS = 1000;
/**
 * The longest a PING's acknowledgement waits for the connection's next write (see onPing): a client's
 * keepalive allows seconds for it, and grpc-go's window estimate only grows more slowly on a longer
 * round trip.
 */
export const PING_ACK_HOLD_MS = 5;
/**
 * The streams we reset last, whose frames still on their way are ignored (RFC 9113 §5.1); frames on
 * other closed streams are the client's error.
 */
const RESET_MEMORY = 256;

/**
 * Opens the call of a new stream from its request headers. A server gives each connection an opener
 * of one class (not a closure of its own): the call site then sees one function on every connection,
 * where a closure per connection made V8 deoptimize the header path when the second connection came.
 */
export interface StreamOpener {
  open(stream: WireStream, fields: HeaderField[]): WireStreamHandler;
}

export interface WireConnectionOptions {
  opener: StreamOpener;
  /** --max-concurrent-streams (unset: unlimited, as etcd). */
  maxConcurrentStreams?: number;
  /** --grpc-keepalive-min-time (grpc-go's client ping policy). */
  pingMinTimeMs: number;
  /** --grpc-keepalive-interval and -timeout: the server's own pings. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
  onPingViolation?: () => void;
  /** Milliseconds from a monotonic clock (tests inject their own). */
  now?: () => number;
  /**
   * Whether a connection error is told with a GOAWAY before the end. grpc-go's own HTTP/2 transport,
   * which serves etcd's h2c, just closes (its only GOAWAY with an error is the ping policy's); Go's
   * HTTP/2 server, which serves etcd's TLS port, sends one. Default true.
   */
  goawayOnError?: boolean;
  /** The rapid-reset bound: resets the client may cause at once, and per second (reset-budget.ts). */
  resetBurst?: number;
  resetsPerSecond?: number;
}

/** The default clock: one function for every connection (a closure each would be a call target each). */
const monotonicNow = (): number => performance.now();

/** Connections with output to write at the end of this turn. */
let dirty: WireConnection[] = [];
let flushScheduled = false;

function flushAll(): void {
  const connections = dirty;
  dirty = [];
  flushScheduled = false;
  for (const c of connections) c.flush();
}

/** Connections that held a PING acknowledgement since the hold timer was armed (some may have sent it since). */
let ackHolders: WireConnection[] = [];
/** Connections holding an acknowledgement now. */
let ackHolding = 0;
let ackTimer: NodeJS.Timeout | undefined;

function releaseHeldAcks(): void {
  ackTimer = undefined;
  const holders = ackHolders;
  ackHolders = [];
  for (const c of holders) c.releaseAck();
}

enum Phase {
  Preface,
  Settings,
  Frames,
  Closed,
}

interface HeaderBlock {
  id: number;
  endStream: boolean;
  fragments: Buffer[];
  bytes: number;
}

export class WireConnection implements StreamConnection {
  sendWindow = DEFAULT_WINDOW;
  peerMaxFrame = DEFAULT_MAX_FRAME;
  private peerInitialWindow = DEFAULT_WINDOW;
  private receiveWindow = CONNECTION_WINDOW;
  private unacked = 0;
  private phase = Phase.Preface;
  private pending: Buffer | undefined = undefined;
  private readonly decoder = new HpackDecoder(HEADER_TABLE_SIZE, HEADER_TABLE_SIZE);
  private readonly encoder = new AnswerHpack();
  private readonly streams = new Map<number, WireStream>();
  private readonly waiting = new Set<WireStream>();
  private lastStreamId = 0;
  private continuing: HeaderBlock | undefined = undefined;
  private readonly out = new OutputBuffer();
  /** The socket is plain TCP: the memory of a write it took at once is used again (see OutputBuffer). */
  private readonly reusesOutput: boolean;
  private flushQueued = false;
  /** A PING acknowledgement waiting for the connection's next write (or the hold timer). */
  private heldAck: Buffer | undefined = undefined;
  private readPaused = false;
  /** GOAWAY sent: no new streams. */
  private goingAway = false;
  /** The client sent GOAWAY: the connection ends with its last stream. */
  private peerGoingAway = false;
  private serverWrote = false;
  private readonly strikes: PingStrikes;
  private readonly resets: ResetBudget;
  private readonly resetIds = new Uint32Array(RESET_MEMORY);
  private resetCount = 0;
  private pingTimer: NodeJS.Timeout | undefined = undefined;
  private pingDeadline: NodeJS.Timeout | undefined = undefined;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    readonly socket: Duplex,
    private readonly options: WireConnectionOptions,
  ) {
    this.strikes = new PingStrikes(options.pingMinTimeMs, options.now);
    this.reusesOutput = socket instanceof Socket && (socket as TLSSocket).encrypted !== true;
    this.resets = new ResetBudget(options.now ?? monotonicNow, options.resetBurst, options.resetsPerSecond);
    const settings: [number, number][] = [
      [Setting.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
      [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
    ];
    if (options.maxConcurrentStreams !== undefined && options.maxConcurrentStreams > 0)
      settings.unshift([Setting.MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams]);
    this.output(settingsFrame(settings));
    this.output(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW));
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    // the client's end of its writes is the connection's end, ended here: a socket that does so by
    // itself first gives itself an own write method (Node's writeAfterFIN), a new hidden class at the
    // first connection's end, on which V8 dropped the code optimized for the sockets' shape
    socket.allowHalfOpen = true;
    socket.on("end", () => this.end());
    socket.on("close", () => this.teardown());
    socket.on("drain", () => {
      if (this.readPaused) {
        this.readPaused = false;
        socket.resume();
      }
    });
    this.schedulePing();
    socket.resume();
  }

  /** Called once when the connection is gone. */
  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  /** Open streams (tests). */
  get streamCount(): number {
    return this.streams.size;
  }

  // --- what streams use (StreamConnection) ---

  encodeHeaders(block: AnswerBlock): Buffer {
    return this.encoder.encode(block);
  }

  output(bytes: Buffer): void {
    if (this.phase === Phase.Closed) return;
    this.out.append(bytes);
    this.flushSoon();
  }

  outputFrame(
    type: number,
    flags: number,
    streamId: number,
    payload: Buffer,
    n: number,
    from?: number,
  ): void {
    if (this.phase === Phase.Closed) return;
    this.out.appendFrame(type, flags, streamId, payload, n, from);
    this.flushSoon();
  }

  /** Writes the output at the end of this turn. */
  private flushSoon(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    dirty.push(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
  }

  /**
   * A unary answer. On a connection with no other stream open it leaves at once, with what the
   * connection has pending: a lone client waits for it (its round trip is the rate), and nothing else
   * on the connection could share its write. Otherwise it leaves with the turn's other answers at the
   * turn's end. Put with one client: 1.15 x the requests per second of answers all written at the
   * turn's end, and put with 64 clients on 8 connections unchanged (1.01 x; 0.85-0.89 x when the
   * turn's first answer left at once whatever else its connection had open).
   */
  outputAnswer(bytes: Buffer): void {
    if (this.streams.size > 1 || this.phase === Phase.Closed) {
      this.output(bytes);
      return;
    }
    this.out.append(bytes);
    this.flush();
  }

  consumed(n: number): void {
    this.unacked += n;
    if (this.unacked >= CONNECTION_WINDOW / 2) {
      this.receiveWindow += this.unacked;
      this.output(windowUpdateFrame(0, this.unacked));
      this.unacked = 0;
    }
  }

  blocked(stream: WireStream): void {
    this.waiting.add(stream);
  }

  finished(stream: WireStream, sentReset: boolean): void {
    this.streams.delete(stream.id);
    if (sentReset) this.rememberReset(stream.id);
    this.waiting.delete(stream);
    if (this.peerGoingAway && this.streams.size === 0) this.end();
  }

  wrote(): void {
    this.serverWrote = true;
  }

  /** Writes the turn's output in one socket write, with a held PING acknowledgement. */
  flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0) return;
    if (this.heldAck !== undefined) this.out.append(this.takeHeldAck());
    if (this.socket.destroyed || this.socket.writableEnded) {
      this.out.clear();
      return;
    }
    // a client that does not read stops being read (its requests would only pile up answers)
    if (!this.out.writeTo(this.socket, this.reusesOutput) && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
  }

  /** Sends the held PING acknowledgement at the end of this turn (the hold is over). */
  releaseAck(): void {
    if (this.heldAck !== undefined) this.output(this.takeHeldAck());
  }

  private takeHeldAck(): Buffer {
    const ack = this.heldAck as Buffer;
    this.heldAck = undefined;
    if (--ackHolding === 0 && ackTimer !== undefined) {
      clearTimeout(ackTimer);
      ackTimer = undefined;
      ackHolders = [];
    }
    return ack;
  }

  // --- ending ---

  /** Ends the connection gracefully: GOAWAY with the last stream taken, then the socket's end. */
  close(): void {
    this.goAway(ErrorCode.NO_ERROR);
  }

  private goAway(code: number, debug?: string): void {
    if (this.phase === Phase.Closed) return;
    this.goingAway = true;
    this.output(goawayFrame(this.lastStreamId, code, debug));
    this.end();
  }

  private end(): void {
    if (this.phase === Phase.Closed) return;
    this.flush();
    this.phase = Phase.Closed;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
    this.teardown();
  }

  private teardown(): void {
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    if (this.pingDeadline !== undefined) clearTimeout(this.pingDeadline);
    this.pingTimer = undefined;
    this.pingDeadline = undefined;
    this.phase = Phase.Closed;
    this.out.clear();
    if (this.heldAck !== undefined) this.takeHeldAck();
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.waiting.clear();
    for (const s of streams) s.abandon(ErrorCode.CANCEL);
    const listeners = this.closeListeners.splice(0);
    for (const l of listeners) l();
  }

  /**
   * A connection error (RFC 9113 §5.4.1): GOAWAY with its code, and the end; or the end alone (see
   * goawayOnError), where the client's calling too much (ENHANCE_YOUR_CALM) is still told.
   */
  private fail(code: number, debug: string): void {
    if (this.options.goawayOnError === false && code !== ErrorCode.ENHANCE_YOUR_CALM) this.end();
    else this.goAway(code, debug);
  }

  /** A stream error: RST_STREAM, and its call is told. */
  private streamError(stream: WireStream, code: number): void {
    stream.reset(code);
    stream.handler?.closed(code);
  }

  /** RST_STREAM for a stream that has no call (refused, malformed, or already closed). */
  private resetUnopened(id: number, code: number): void {
    this.output(rstStreamFrame(id, code));
    this.rememberReset(id);
  }

  private rememberReset(id: number): void {
    this.resetIds[this.resetCount++ % RESET_MEMORY] = id;
  }

  /** Whether we reset stream `id` lately (frames the client sent before it knew are ignored). */
  private resetLately(id: number): boolean {
    const ids = this.resetIds;
    for (let i = 0; i < ids.length; i++) if (ids[i] === id) return true;
    return false;
  }

  /** Counts a reset the client caused; past the budget the connection ends (false). */
  private chargeReset(): boolean {
    if (this.resets.take()) return true;
    this.fail(ErrorCode.ENHANCE_YOUR_CALM, "too many resets");
    return false;
  }

  /** Whether the connection ended (a frame's handling may end it). */
  private ended(): boolean {
    return this.phase === Phase.Closed;
  }

  // --- reading ---

  private read(chunk: Buffer): void {
    if (this.phase === Phase.Closed) return;
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let pos = 0;
    if (this.phase === Phase.Preface) {
      if (buf.length < PREFACE.length) {
        if (!buf.equals(PREFACE.subarray(0, buf.length))) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "bad preface");
          return;
        }
        this.pending = buf;
        return;
      }
      if (!buf.subarray(0, PREFACE.length).equals(PREFACE)) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "bad preface");
        return;
      }
      pos = PREFACE.length;
      this.phase = Phase.Settings;
    }
    while (buf.length - pos >= FRAME_HEADER_BYTES) {
      const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
      if (length > LOCAL_MAX_FRAME) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, "frame too large");
        return;
      }
      const end = pos + FRAME_HEADER_BYTES + length;
      if (end > buf.length) break;
      const type = buf[pos + 3];
      const flags = buf[pos + 4];
      const id = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      try {
        this.onFrame(type, flags, id, buf.subarray(pos + FRAME_HEADER_BYTES, end));
      } catch {
        // a call that threw while handling the client's frames must not take the process down
        this.fail(ErrorCode.INTERNAL_ERROR, "internal error");
      }
      if (this.ended()) return;
      pos = end;
    }
    if (pos < buf.length) this.pending = buf.subarray(pos);
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.continuing !== undefined && type !== FrameType.CONTINUATION) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "header block interrupted");
      return;
    }
    if (this.phase === Phase.Settings) {
      if (type !== FrameType.SETTINGS || (flags & Flags.ACK) !== 0) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "no SETTINGS after the preface");
        return;
      }
      this.phase = Phase.Frames;
    }
    switch (type) {
      case FrameType.DATA: {
        this.onDataFrame(flags, id, payload);
        return;
      }
      case FrameType.HEADERS: {
        this.onHeadersFrame(flags, id, payload);
        return;
      }
      case FrameType.CONTINUATION: {
        this.onContinuation(flags, id, payload);
        return;
      }
      case FrameType.PRIORITY:
        if (id === 0) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
          return;
        }
        if (payload.length !== 5) {
          const stream = this.streams.get(id);
          if (!this.chargeReset()) return;
          if (stream !== undefined) this.streamError(stream, ErrorCode.FRAME_SIZE_ERROR);
          else this.resetUnopened(id, ErrorCode.FRAME_SIZE_ERROR);
        }
        return;
      case FrameType.RST_STREAM: {
        this.onReset(id, payload);
        return;
      }
      case FrameType.SETTINGS: {
        this.onSettings(flags, id, payload);
        return;
      }
      case FrameType.PUSH_PROMISE: {
        this.fail(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
        return;
      }
      case FrameType.PING: {
        this.onPing(flags, id, payload);
        return;
      }
      case FrameType.GOAWAY:
        if (id !== 0) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
          return;
        }
        this.peerGoingAway = true;
        if (this.streams.size === 0) this.end();
        return;
      case FrameType.WINDOW_UPDATE: {
        this.onWindowUpdate(id, payload);
        return;
      }
      default:
        // unknown frame types are ignored (RFC 9113 §4.1)
        return;
    }
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      return;
    }
    const length = payload.length;
    this.receiveWindow -= length;
    if (this.receiveWindow < 0) {
      this.fail(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded");
      return;
    }
    let data = payload;
    let padding = 0;
    if (flags & Flags.PADDED) {
      if (length < 1 || payload[0] >= length) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "bad padding");
        return;
      }
      padding = payload[0] + 1;
      data = payload.subarray(1, length - payload[0]);
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
        return;
      }
      // a stream already closed: its bytes still count against the connection's window; unless we
      // reset it while they were on their way, the client sent on a stream it knew closed
      this.consumed(length);
      if (!this.resetLately(id) && this.chargeReset()) this.resetUnopened(id, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (stream.remoteEnded) {
      this.consumed(length);
      if (this.chargeReset()) this.streamError(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    stream.receiveWindow -= length;
    if (stream.receiveWindow < 0) {
      this.consumed(length);
      this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (padding > 0) stream.consumed(padding);
    // the client's side ends with this frame: an answer given while its data is read needs no reset
    if (flags & Flags.END_STREAM) stream.remoteEnded = true;
    if (data.length > 0) {
      if (stream.handler !== undefined) stream.handler.data(data);
      else stream.consumed(data.length);
    }
    if (flags & Flags.END_STREAM && !stream.done) stream.remoteEnd();
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
      return;
    }
    let start = 0;
    let end = payload.length;
    if (flags & Flags.PADDED) {
      if (end < 1) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "bad padding");
        return;
      }
      start = 1;
      end -= payload[0];
    }
    if (flags & Flags.PRIORITY) start += 5;
    if (start > end) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "bad padding");
      return;
    }
    const fragment = payload.subarray(start, end);
    const endStream = (flags & Flags.END_STREAM) !== 0;
    if (flags & Flags.END_HEADERS) {
      this.onHeaderBlock(id, endStream, fragment);
      return;
    }
    this.continuing = { id, endStream, fragments: [fragment], bytes: fragment.length };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const block = this.continuing;
    if (block === undefined || block.id !== id) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without its HEADERS");
      return;
    }
    block.fragments.push(payload);
    block.bytes += payload.length;
    if (block.bytes > MAX_HEADER_BLOCK_BYTES) {
      this.fail(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
      return;
    }
    if ((flags & Flags.END_HEADERS) === 0) return;
    this.continuing = undefined;
    this.onHeaderBlock(id, block.endStream, Buffer.concat(block.fragments, block.bytes));
  }

  private onHeaderBlock(id: number, endStream: boolean, block: Buffer): void {
    let fields: HeaderField[];
    try {
      fields = this.decoder.decode(block);
    } catch {
      this.fail(ErrorCode.COMPRESSION_ERROR, "bad header block");
      return;
    }
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // trailers: they end the client's side
      if (existing.remoteEnded) {
        if (this.chargeReset()) this.streamError(existing, ErrorCode.STREAM_CLOSED);
        return;
      }
      if (!endStream || !wellFormedTrailers(fields)) {
        if (this.chargeReset()) this.streamError(existing, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      existing.remoteEnd();
      return;
    }
    if ((id & 1) === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "even stream id from a client");
      return;
    }
    if (id <= this.lastStreamId) {
      // a stream we reset while its frames were on their way: they are ignored; on any other closed
      // stream a new header block is the client's error (grpc-go closes the connection too)
      if (!this.resetLately(id)) this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on a closed stream");
      return;
    }
    this.lastStreamId = id;
    if (this.goingAway || this.peerGoingAway) return;
    const max = this.options.maxConcurrentStreams;
    if (max !== undefined && max > 0 && this.streams.size >= max) {
      if (this.chargeReset()) this.resetUnopened(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    if (!wellFormedRequest(fields)) {
      if (this.chargeReset()) this.resetUnopened(id, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    const stream = new WireStream(this, id, this.peerInitialWindow, STREAM_WINDOW);
    this.streams.set(id, stream);
    stream.handler = this.options.opener.open(stream, fields);
    if (endStream && !stream.done) stream.remoteEnd();
  }

  private onReset(id: number, payload: Buffer): void {
    if (id === 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
      return;
    }
    if (payload.length !== 4) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of a bad size");
      return;
    }
    if (id > this.lastStreamId) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    stream.abandon(payload.readUInt32BE(0));
    this.chargeReset();
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
      return;
    }
    if (flags & Flags.ACK) {
      if (payload.length !== 0) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
        return;
      }
      return;
    }
    if (payload.length % 6 !== 0) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of a bad size");
      return;
    }
    for (let at = 0; at < payload.length; at += 6) {
      const setting = payload.readUInt16BE(at);
      const value = payload.readUInt32BE(at + 2);
      if (setting === Setting.ENABLE_PUSH) {
        if (value > 1) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "bad ENABLE_PUSH");
          return;
        }
      } else if (setting === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) {
          this.fail(ErrorCode.FLOW_CONTROL_ERROR, "bad INITIAL_WINDOW_SIZE");
          return;
        }
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) {
            this.fail(ErrorCode.FLOW_CONTROL_ERROR, "window overflow");
            return;
          }
        }
        if (delta > 0) this.pumpWaiting();
      } else if (setting === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > MAX_FRAME_LIMIT) {
          this.fail(ErrorCode.PROTOCOL_ERROR, "bad MAX_FRAME_SIZE");
          return;
        }
        this.peerMaxFrame = value;
      } else if (setting === Setting.HEADER_TABLE_SIZE) {
        // our next header block comes after the ACK below, so it may carry the new size
        this.encoder.setTableLimit(value);
      }
      // the rest we need not know
    }
    this.output(settingsAckFrame);
  }

  private onPing(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
      return;
    }
    if (payload.length !== 8) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "PING of a bad size");
      return;
    }
    if (flags & Flags.ACK) {
      if (this.pingDeadline !== undefined) clearTimeout(this.pingDeadline);
      this.pingDeadline = undefined;
      this.schedulePing();
      return;
    }
    // grpc-go clients ping with every burst of data they receive (its window estimate), so a ping
    // comes after each answer or batch of watch events, alone or with the client's next request. Its
    // ack waits for the connection's next write, PING_ACK_HOLD_MS at most: written on its own, it was a
    // socket write of ours and a read (often a wake-up) of the client's in every round of a closed loop,
    // while the client was still taking in the events; an ack written at once also went out ahead of
    // the appends of a put read with the ping. A ping that comes while an ack is held sends that one
    // now, in order (grpc-go waits for one ack at a time).
    if (this.heldAck !== undefined) this.output(this.takeHeldAck());
    const ack = frame(FrameType.PING, Flags.ACK, 0, payload);
    const wrote = this.serverWrote || this.waiting.size > 0;
    this.serverWrote = false;
    if (this.strikes.ping(wrote, this.streams.size > 0)) {
      // as grpc-go: the ping that breaks the policy is still answered, ahead of the GOAWAY
      this.output(ack);
      this.options.onPingViolation?.();
      this.fail(ErrorCode.ENHANCE_YOUR_CALM, tooManyPings.toString());
      return;
    }
    this.heldAck = ack;
    ackHolding++;
    ackHolders.push(this);
    if (ackTimer === undefined) ackTimer = setTimeout(releaseHeldAcks, PING_ACK_HOLD_MS);
  }

  private onWindowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.fail(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of a bad size");
      return;
    }
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
        return;
      }
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) {
        this.fail(ErrorCode.FLOW_CONTROL_ERROR, "window overflow");
        return;
      }
      this.pumpWaiting();
      return;
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
        return;
      }
      return;
    }
    if (increment === 0) {
      this.streamError(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    this.waiting.delete(stream);
    stream.pump();
  }

  /** Streams waiting for a window get what opened, in the order they started waiting. */
  private pumpWaiting(): void {
    if (this.waiting.size === 0) return;
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const s of waiting) {
      if (this.sendWindow <= 0) {
        this.waiting.add(s);
        continue;
      }
      s.pump();
    }
  }

  // --- the server's keepalive pings ---

  private schedulePing(): void {
    const interval = this.options.pingIntervalMs;
    if (!(interval > 0) || !Number.isFinite(interval) || this.phase === Phase.Closed) return;
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => this.ping(), interval);
    this.pingTimer.unref();
  }

  private ping(): void {
    this.pingTimer = undefined;
    if (this.phase === Phase.Closed) return;
    this.output(frame(FrameType.PING, 0, 0, keepalivePingData));
    this.pingDeadline = setTimeout(() => {
      // no answer in time: the client is gone (grpc-go closes the transport)
      this.end();
    }, this.options.pingTimeoutMs);
    this.pingDeadline.unref();
  }
}

const keepalivePingData = Buffer.from("rxetcd-k");
