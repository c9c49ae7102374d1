// Memory for bytes that live long and die in the order they were made: the data of raft entries, which
// stay in the in-memory raft log until it is compacted (up to --snapshot-count entries). Each gets a
// view into a block shared with the entries made next to it. A leader's proposals had memory of their
// own: an ArrayBuffer, a backing store and its tracking entry per proposal, 30,000 of them in the old
// generation after 30,000 puts, which every full collection sweeps (sweeps that were 10-40 ms of some
// collections' pauses on busy cores). A follower's entries were slices of Node's 8 KiB pool, each
// keeping its whole slab (and whatever else was sliced from it) alive: 16 MB of memory outside the heap
// for 9 MB of entry data. A block is freed once the last view into it is: as the log is compacted from
// its start, at most the block of its first entry holds dead bytes.

/** Bytes of a block; a request above a quarter of it gets memory of its own. */
const DEFAULT_BLOCK_BYTES = 64 * 1024;

export class ByteSlab {
  private block: Buffer | undefined;
  private used = 0;

  constructor(private readonly blockBytes = DEFAULT_BLOCK_BYTES) {}

  /** `n` bytes (uninitialized) that no other allocation of this slab overlaps. */
  alloc(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
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
