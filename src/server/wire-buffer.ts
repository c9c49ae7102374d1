// A growable byte buffer that hand-written protobuf encoders write into: the proposals of puts, the
// answers of the key-value RPCs, watch responses. It keeps its memory between messages: the generated
// encoders' writer hands out each message as a fresh ArrayBuffer of its own (outside the heap once over
// 64 bytes), and writes every 64-bit integer through BigInt and a {lo, hi} object. Taken out, a message
// is an exact-size Buffer (from Node's pool when small).
import { varintSize } from "../raft/util.js";
import { copyBytes } from "../rpctypes/copy-bytes.js";

/** Buffers above this size are not kept for the next answers (one huge answer must not pin its memory). */
const KEPT_BUFFER_MAX_BYTES = 256 * 1024;
const INITIAL_BYTES = 4096;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** Where a uint64 is split into 32-bit halves. */
const halves = new DataView(new ArrayBuffer(8));

/** Whether a number is written as a plain varint: a non-negative safe integer. */
export function isPlainVarint(n: number): boolean {
  return n >= 0 && Number.isSafeInteger(n);
}

export class WireBuffer {
  private buf = Buffer.allocUnsafe(INITIAL_BYTES);
  pos = 0;
  /** Where each open embedded message's length goes (see fork/join). */
  private readonly forks: number[] = [];

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  /** A non-negative safe integer as a varint. */
  varint(n: number): void {
    this.reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 0x80) {
      buf[pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /**
   * An int64 field's value (negative ones as ten bytes, as protobuf writes them); throws as the
   * generated encoder does for a value int64 cannot hold, naming `field` as it does when given.
   */
  int64(n: number, field?: string): void {
    if (isPlainVarint(n)) {
      this.varint(n);
      return;
    }
    const big = BigInt(n); // throws for a fraction, as the generated code does
    if (big < INT64_MIN || big > INT64_MAX)
      throw new Error(
        field === undefined
          ? "value provided for field of type int64 too large"
          : `value provided for field BigInt(message.${field}) of type int64 too large`,
      );
    let u = BigInt.asUintN(64, big);
    this.reserve(10);
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  /**
   * A uint64 held as a bigint, in [0, 2^64) (the caller checks), written from its two 32-bit halves:
   * no BigInt is made on the way (ids of requests and members are full 64-bit values).
   */
  uint64(n: bigint): void {
    halves.setBigUint64(0, n);
    let hi = halves.getUint32(0);
    let lo = halves.getUint32(4);
    this.reserve(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0 || lo >= 0x80) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** Bytes as they are, without a length. */
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A copy of what was written from `from` to `to` (before the current position), appended. */
  repeat(from: number, to: number): void {
    this.reserve(to - from);
    this.buf.copyWithin(this.pos, from, to);
    this.pos += to - from;
  }

  /** A non-negative safe integer as a varint at `at`, over bytes written before (as many as it takes). */
  varintAt(at: number, n: number): void {
    const buf = this.buf;
    while (n >= 0x80) {
      buf[at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[at] = n;
  }

  /** A length-delimited bytes field's value. */
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.raw(b);
  }

  string(s: string): void {
    const length = Buffer.byteLength(s, "utf8");
    this.varint(length);
    this.reserve(length);
    this.pos += this.buf.write(s, this.pos, length, "utf8");
  }

  /** Opens an embedded message whose length is not known yet: one byte is kept for it. */
  fork(): void {
    this.forks.push(this.pos);
    this.byte(0);
  }

  /** Closes the last message opened: its length goes before it (moved on when it needs more than a byte). */
  join(): void {
    const at = this.forks.pop();
    if (at === undefined) throw new Error("WireBuffer.join without a fork");
    const length = this.pos - at - 1;
    const size = varintSize(length);
    if (size > 1) {
      this.reserve(size - 1);
      this.buf.copyWithin(at + size, at + 1, this.pos);
      this.pos += size - 1;
    }
    // the room is there: no reserve, which would copy only up to `at`
    const buf = this.buf;
    let pos = at;
    let n = length;
    while (n >= 0x80) {
      buf[pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[pos] = n;
  }

  /** A gRPC message prefix (not compressed; its length to come, see uint32At): returns where it starts. */
  messagePrefix(): number {
    this.reserve(5);
    const at = this.pos;
    this.buf[at] = 0;
    this.pos = at + 5;
    return at;
  }

  /** Four bytes at `at`, big-endian (a gRPC message length). */
  uint32At(at: number, n: number): void {
    this.buf.writeUInt32BE(n, at);
  }

  /** What was written, as a buffer of its own (a slice of Node's pool when small); the writer starts over. */
  take(): Buffer {
    return this.takeInto(Buffer.allocUnsafe(this.pos));
  }

  /**
   * take() for bytes that may live long (a watch event's field, kept as long as its event): memory of
   * their own, not a slice of Node's pool, whose whole 8 KiB slab a kept slice keeps alive.
   */
  takeOwn(): Buffer {
    return this.takeInto(Buffer.allocUnsafeSlow(this.pos));
  }

  /** take() into memory from `alloc`, given the bytes it must hold (a slab's, see byte-slab.ts). */
  takeWith(alloc: (bytes: number) => Buffer): Buffer {
    return this.takeInto(alloc(this.pos));
  }

  private takeInto(out: Buffer): Buffer {
    copyBytes(this.buf, 0, out, 0, this.pos);
    this.pos = 0;
    if (this.buf.length > KEPT_BUFFER_MAX_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
    return out;
  }

  /**
   * What was written, without a copy when it fills at least half of the writer's memory: that memory
   * is then handed out (the writer goes on in new memory of the same size); else as take().
   */
  takeMost(): Buffer {
    const size = this.buf.length;
    if (this.pos * 2 < size) return this.take();
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(size > KEPT_BUFFER_MAX_BYTES ? INITIAL_BYTES : size);
    this.pos = 0;
    return out;
  }

  /**
   * What was written, as a view of the writer's memory, which the writer uses again: valid until the
   * next write. Writing starts over at 0.
   */
  takeView(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    if (this.buf.length > KEPT_BUFFER_MAX_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_BYTES);
    return out;
  }

  /** Drops what was written (after an error half-way through an answer). */
  reset(): void {
    this.pos = 0;
    this.forks.length = 0;
  }
}
