// What a pure frame decoder answers for the bytes seen so far: one whole frame, or how many bytes
// (counted from the start of the frame) it needs at least before it can say more.
export type FrameResult<T> =
  | { readonly done: true; readonly value: T; readonly size: number }
  | { readonly done: false; readonly need: number };

export class FrameError extends Error {
  override name = "FrameError";
}

/** Frames larger than this end the stream (etcd's readBytesLimit). */
export const MAX_FRAME_BYTES = 512 * 1024 * 1024;

/**
 * A big-endian uint64 as a number (rounded above 2^53, as Number() of the bigint rounds it), read in
 * two halves: a bigint read made two heap objects per length of every frame.
 */
export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32BE(offset) * 0x1_0000_0000 + buf.readUInt32BE(offset + 4);
}

/** A big-endian uint64 that must fit a JS number and stay under `limit`. */
export function readLength(buf: Buffer, offset: number, limit: number, what: string): number {
  const v = readU64(buf, offset);
  if (v > limit) {
    throw new FrameError(`${what} ${buf.readBigUInt64BE(offset)} exceeds the limit of ${limit} bytes`);
  }
  return v;
}

/** Writes a big-endian uint64 (a safe integer) at `offset`; returns the end offset. */
export function writeU64(target: Buffer, n: number, offset: number): number {
  target.writeUInt32BE(Math.floor(n / 0x1_0000_0000), offset);
  target.writeUInt32BE(n >>> 0, offset + 4);
  return offset + 8;
}

export function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/**
 * Feeds chunks of a byte stream to a pure frame decoder and returns the frames they complete.
 * Bytes are only joined once the decoder's announced minimum has arrived, so a large frame read in
 * many small chunks is copied a bounded number of times.
 */
export class FrameReader<T> {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = 1;

  constructor(private readonly decode: (buf: Buffer) => FrameResult<T>) {}

  /** The frames completed by this chunk, in order; throws what the decoder throws. */
  push(chunk: Buffer): T[] {
    const out: T[] = [];
    this.each(chunk, (value) => out.push(value));
    return out;
  }

  /**
   * Hands each frame completed by this chunk to `frame`, in order; throws what the decoder (or
   * `frame`) throws. A stream's reader gets one frame per chunk mostly: no array for them, and none
   * for the bytes left over when the chunk ended with a frame.
   */
  each(chunk: Buffer, frame: (value: T) => void): void {
    if (chunk.length === 0) return;
    this.buffered += chunk.length;
    if (this.buffered < this.need) {
      this.chunks.push(chunk);
      return;
    }
    let buf = chunk;
    if (this.chunks.length > 0) {
      this.chunks.push(chunk);
      buf = Buffer.concat(this.chunks, this.buffered);
    }
    this.chunks.length = 0;
    let offset = 0;
    try {
      for (;;) {
        if (offset === buf.length) {
          this.need = 1;
          break;
        }
        const r = this.decode(offset === 0 ? buf : buf.subarray(offset));
        if (!r.done) {
          this.need = r.need;
          break;
        }
        offset += r.size;
        frame(r.value);
      }
    } finally {
      this.buffered = buf.length - offset;
      if (this.buffered > 0) this.chunks.push(offset === 0 ? buf : buf.subarray(offset));
    }
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    return this.buffered;
  }
}
