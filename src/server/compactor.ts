/** How often revision-mode compaction looks at the store (etcd 3.4: every 5 minutes). */
export const REVISION_CHECK_MS = 5 * 60 * 1000;
/** Periodic mode samples the revision this many times per retention window (etcd's retryDivisor). */
const SAMPLES_PER_WINDOW = 10;
const HOUR_MS = 3_600_000;

export type CompactionPolicy =
  | { mode: "periodic"; retentionMs: number }
  | { mode: "revision"; revisions: number };

/**
 * Decides when auto-compaction compacts and to which revision, as etcd 3.4's compactors do:
 * - revision mode keeps the newest `revisions` revisions, looking every 5 minutes;
 * - periodic mode keeps `retention` of history: it samples the revision every retention/10 and,
 *   once per compaction period (the retention, at most one hour), compacts to the revision it
 *   saw a full retention ago.
 * Time and revisions come in as arguments, so the decisions are plain and testable.
 */
export class Compactor {
  private readonly samples: Array<{ at: number; rev: number }> = [];
  private lastCompacted = 0;
  private lastRun: number;

  constructor(
    readonly policy: CompactionPolicy,
    startMs: number,
  ) {
    this.lastRun = startMs;
  }

  /** How often the server should call `decide`. */
  get checkIntervalMs(): number {
    if (this.policy.mode === "revision") return REVISION_CHECK_MS;
    return Math.max(1, this.policy.retentionMs / SAMPLES_PER_WINDOW);
  }

  /** The revision to compact to now, or undefined. */
  decide(nowMs: number, currentRev: number): number | undefined {
    if (this.policy.mode === "revision") {
      const target = currentRev - this.policy.revisions;
      if (target <= 0 || target <= this.lastCompacted) return undefined;
      return target;
    }
    const { retentionMs } = this.policy;
    this.samples.push({ at: nowMs, rev: currentRev });
    const period = Math.min(retentionMs, HOUR_MS);
    if (nowMs - this.lastRun < period) return undefined;
    // the newest sample taken at least a retention ago
    let target: number | undefined;
    while (this.samples.length > 0 && nowMs - this.samples[0].at >= retentionMs) {
      target = this.samples.shift()!.rev;
    }
    if (target === undefined || target <= this.lastCompacted) return undefined;
    return target;
  }

  /** Records a compaction that was applied (or found already done). */
  compacted(rev: number, nowMs: number): void {
    this.lastCompacted = Math.max(this.lastCompacted, rev);
    this.lastRun = nowMs;
  }
}
