// The "rapid reset" bound (CVE-2023-44487) of one client connection: streams the client opens and
// resets at once cost the server a call each and the client nearly nothing. Each reset the client
// causes (its RST_STREAM on an open stream, or ours for a stream it opened wrongly) takes a token from
// a bucket that holds a burst and refills at a steady rate, nghttp2's defaults (Node's HTTP/2 uses
// them); a connection that empties it is ended with GOAWAY ENHANCE_YOUR_CALM.

/** Resets a connection may cause at once. */
export const RESET_BURST = 1000;
/** Resets per second it may cause for as long as it lasts. */
export const RESETS_PER_SECOND = 33;

export class ResetBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly now: () => number,
    private readonly burst = RESET_BURST,
    private readonly perSecond = RESETS_PER_SECOND,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Counts one reset; false when the budget is spent. */
  take(): boolean {
    const now = this.now();
    const refill = ((now - this.at) * this.perSecond) / 1000;
    this.at = now;
    this.tokens = Math.min(this.burst, this.tokens + Math.max(refill, 0));
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
