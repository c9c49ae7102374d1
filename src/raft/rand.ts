// Injected randomness: raft draws its randomized election timeout from a Rand so that a run
// replays exactly from its seed.

export interface Rand {
  /** A uniformly distributed integer in [0, n); n must be a positive integer. */
  intn(n: number): number;
}

const U32 = 0x1_0000_0000;

/**
 * A small deterministic PRNG (the sfc32 generator: 128 bits of state, 32-bit output) seeded from a
 * 32-bit number or a 64-bit bigint. Pure arithmetic, no global state.
 */
export class SeededRand implements Rand {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number | bigint) {
    const s = typeof seed === "bigint" ? BigInt.asUintN(64, seed) : BigInt(Math.trunc(seed) >>> 0);
    this.a = Number(s & 0xffff_ffffn) | 0;
    this.b = Number(s >> 32n) | 0;
    this.c = 0x9e37_79b9 | 0;
    this.d = 1;
    // Discard the first outputs so that nearby seeds diverge.
    for (let i = 0; i < 15; i++) this.next32();
  }

  /** The next 32-bit unsigned output. */
  next32(): number {
    const a = this.a;
    const b = this.b;
    const c = this.c;
    const d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    const rc = (c << 21) | (c >>> 11);
    this.c = (rc + t) | 0;
    return t >>> 0;
  }

  intn(n: number): number {
    if (!(n > 0) || !Number.isInteger(n)) throw new RangeError(`invalid argument to intn: ${n}`);
    if (n === 1) return 0;
    // Rejection sampling keeps the draw unbiased for any n below 2^32.
    if (n <= U32) {
      const limit = U32 - (U32 % n);
      for (;;) {
        const v = this.next32();
        if (v < limit) return v % n;
      }
    }
    const hi = this.next32();
    const lo = this.next32();
    return Math.floor(((hi * U32 + lo) / (U32 * U32)) * n);
  }
}
