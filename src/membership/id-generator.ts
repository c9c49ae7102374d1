const TIMESTAMP_BITS = 40n;
const COUNTER_BITS = 8n;
const SUFFIX_BITS = TIMESTAMP_BITS + COUNTER_BITS;
const SUFFIX_MASK = (1n << SUFFIX_BITS) - 1n;

/**
 * Unique 64-bit ids for requests and leases, as etcd makes them: the member id's low 16 bits on top,
 * then a suffix that starts at the start-up time in milliseconds (shifted past an 8-bit counter) and
 * counts up, so ids stay unique across members and across restarts.
 */
export class IdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << SUFFIX_BITS;
    this.suffix = (BigInt(Math.floor(nowMs)) & ((1n << TIMESTAMP_BITS) - 1n)) << COUNTER_BITS;
  }

  next(): bigint {
    this.suffix += 1n;
    return this.prefix | (this.suffix & SUFFIX_MASK);
  }
}
