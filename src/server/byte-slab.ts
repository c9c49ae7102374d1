// Memory for bytes that live long and die in the order they were made: proposals, which stay in the
// in-memory raft log until it is compacted (up to --snapshot-count entries). Each gets a view into a
// block shared with the proposals made next to it, where memory of its own made an ArrayBuffer, a
// backing store and its tracking entry per proposal: 30,000 puts of 256 bytes on a leader left 30,000
// ArrayBuffers in the old generation, which every full collection sweeps (sweeps that were 10-40 ms of
// some collections' pauses on busy cores). A block is freed once the last view into it is: as the log
// is compacted from its start, at most the block of its first entry holds dead bytes.

/** Bytes of a block; a request above a quarter of it gets memory of its own. */
const DEFAULT_BLOCK_BYTES = 64 * 1024;

export class ByteSlab {
  private block: Buffer | undefined;
  private used = 0;

  constructor(private readonly blockBytes = DEFAULT_BLOCK_BYTES) {}

  /** `n` bytes (uninitialized) that no other allocation of this slab overlaps. */
  alloc(n: number): Buffer {
    if (n * 4 > this.blockBytes) return Buffer.allocUnsafeSlow(n);
    let block = this.block;
    if (block === undefined || this.used + n > block.length) {
      block = Buffer.allocUnsafeSlow(this.blockBytes);
      this.block = block;
      this.used = 0;
    }
    const out = block.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }
}
