// The window of appends sent to one follower and not yet acknowledged. Each slot holds the last log index
// of one MsgApp; the window bounds how far replication may run ahead of acknowledgements.

export class Inflights {
  /** Position of the oldest inflight in `buffer`. */
  private start = 0;
  /** Number of inflights held. */
  private n = 0;
  /** Ring buffer, grown on demand (doubling) up to `size` so idle groups stay small. */
  private buffer: number[] = [];

  /** `size` is the most inflights allowed at once. */
  constructor(readonly size: number) {}

  /** Records an append whose last index is `index`. Indexes must be added in increasing order. */
  add(index: number): void {
    if (this.full()) throw new Error("cannot add into a Full inflights");
    let next = this.start + this.n;
    if (next >= this.size) next -= this.size;
    if (next >= this.buffer.length) this.grow();
    this.buffer[next] = index;
    this.n++;
  }

  private grow(): void {
    const len = this.buffer.length === 0 ? 1 : Math.min(this.buffer.length * 2, this.size);
    // Entries never wrap before the buffer reaches its full size, so a plain extension keeps their order.
    while (this.buffer.length < len) this.buffer.push(0);
  }

  /** Frees every inflight whose index is at most `to` (an acknowledgement up to `to`). */
  freeLE(to: number): void {
    if (this.n === 0 || to < this.buffer[this.start]) return;
    let idx = this.start;
    let freed = 0;
    for (; freed < this.n; freed++) {
      if (to < this.buffer[idx]) break;
      if (++idx >= this.size) idx -= this.size;
    }
    this.n -= freed;
    this.start = idx;
    // Restart at the front when empty so the buffer does not grow needlessly.
    if (this.n === 0) this.start = 0;
  }

  /** Frees the oldest inflight; nothing when empty. */
  freeFirstOne(): void {
    if (this.n === 0) return;
    this.freeLE(this.buffer[this.start]);
  }

  full(): boolean {
    return this.n === this.size;
  }

  count(): number {
    return this.n;
  }

  reset(): void {
    this.n = 0;
    this.start = 0;
  }

  /** The inflight indexes, oldest first (for tests and debugging). */
  toArray(): number[] {
    const out: number[] = [];
    let idx = this.start;
    for (let i = 0; i < this.n; i++) {
      out.push(this.buffer[idx]);
      if (++idx >= this.size) idx -= this.size;
    }
    return out;
  }

  clone(): Inflights {
    const c = new Inflights(this.size);
    c.start = this.start;
    c.n = this.n;
    c.buffer = this.buffer.slice();
    return c;
  }
}
