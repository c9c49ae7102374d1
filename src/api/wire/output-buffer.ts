// A connection's output of one turn, gathered in memory that is used again. Frames are copied in as
// they are made (a DATA frame's header and payload written in place), the turn's bytes leave in one
// socket write, and memory the socket was done with when its write returned goes to a spare list for
// the next connection with output. Fresh memory for each turn's output (a put seen by 100 watchers on
// two connections: about 33 KiB a put, and as much again for the frames copied into it) counts as
// external memory in V8's heap limits: the old generation's space left shrinks by it until a
// collection runs, and a member whose young generation has grown then runs a full mark-compact every
// few dozen puts (2 to 15 ms of pause each, the watch row's latency tail).
import type { Duplex } from "node:stream";
import { FRAME_HEADER_BYTES, writeFrameHeader } from "./frames.js";

/** Memory a connection's output starts with (it grows, by doubling, as a turn needs). */
const INITIAL_BYTES = 16 * 1024;
/**
 * Memory above this is not kept for other turns (a turn's big answer must not pin it): a put seen by
 * 100 watchers on one connection is about 33 KiB.
 */
const KEPT_MAX_BYTES = 64 * 1024;
/** Spare memories kept: one per connection with output in a turn, up to this many (2 MiB at most). */
const SPARES_MAX = 32;

const spares: Buffer[] = [];

function release(buf: Buffer): void {
  if (buf.length <= KEPT_MAX_BYTES && spares.length < SPARES_MAX) spares.push(buf);
}

export class OutputBuffer {
  private buf: Buffer | undefined = undefined;
  /** Bytes gathered since the last write. */
  length = 0;

  /** Appends a copy of `bytes`. */
  append(bytes: Uint8Array): void {
    const buf = this.room(bytes.length);
    buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Appends a frame: its header, then `n` bytes of `payload` from `from` on. */
  appendFrame(type: number, flags: number, streamId: number, payload: Buffer, n: number, from = 0): void {
    const buf = this.room(FRAME_HEADER_BYTES + n);
    writeFrameHeader(buf, this.length, n, type, flags, streamId);
    payload.copy(buf, this.length + FRAME_HEADER_BYTES, from, from + n);
    this.length += FRAME_HEADER_BYTES + n;
  }

  /**
   * Writes what was gathered in one socket write and starts over empty; answers as the socket's
   * write does. `reusable`: the socket is a plain TCP socket, whose write hands the bytes to the
   * kernel before it returns or holds them as part of its writableLength; when that is 0 after the
   * write, nothing refers to the memory any more and it becomes a spare. Any other socket (TLS, an
   * in-process pair) may keep what it is given: it gets a copy of the bytes (exact size, from Node's
   * pool when small, as a concatenation of the turn's frames was), and the memory stays a spare.
   */
  writeTo(socket: Duplex, reusable: boolean): boolean {
    const buf = this.buf;
    const n = this.length;
    this.buf = undefined;
    this.length = 0;
    if (buf === undefined) return true;
    if (n === 0) {
      release(buf);
      return true;
    }
    if (!reusable) {
      const ok = socket.write(Buffer.from(buf.subarray(0, n)));
      release(buf);
      return ok;
    }
    const ok = socket.write(buf.subarray(0, n));
    if (socket.writableLength === 0) release(buf);
    return ok;
  }

  /** Drops what was gathered (its connection is gone). */
  clear(): void {
    if (this.buf !== undefined) release(this.buf);
    this.buf = undefined;
    this.length = 0;
  }

  private room(n: number): Buffer {
    const need = this.length + n;
    let buf = this.buf;
    if (buf === undefined) {
      buf = spares.pop() ?? Buffer.allocUnsafeSlow(Math.max(INITIAL_BYTES, need));
      this.buf = buf;
    }
    if (need <= buf.length) return buf;
    const grown = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, need));
    buf.copy(grown, 0, 0, this.length);
    release(buf);
    this.buf = grown;
    return grown;
  }
}
