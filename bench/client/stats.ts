/** Latency samples of one run and the figures a benchmark prints. */
export class LatencyStats {
  private readonly samples: number[] = [];
  private errors = 0;
  private readonly firstErrors: string[] = [];

  record(ms: number): void {
    this.samples.push(ms);
  }

  recordError(err: unknown): void {
    this.errors++;
    if (this.firstErrors.length < 3) this.firstErrors.push(err instanceof Error ? err.message : String(err));
  }

  get count(): number {
    return this.samples.length;
  }

  summary(elapsedMs: number): BenchSummary {
    const sorted = [...this.samples].sort((a, b) => a - b);
    const pct = (p: number) =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
    const sum = sorted.reduce((a, b) => a + b, 0);
    return {
      requests: sorted.length,
      errors: this.errors,
      firstErrors: this.firstErrors,
      seconds: elapsedMs / 1000,
      rps: sorted.length / (elapsedMs / 1000),
      avgMs: sorted.length ? sum / sorted.length : 0,
      p50Ms: pct(0.5),
      p90Ms: pct(0.9),
      p99Ms: pct(0.99),
      maxMs: sorted.length ? sorted[sorted.length - 1] : 0,
    };
  }
}

export interface BenchSummary {
  requests: number;
  errors: number;
  firstErrors: string[];
  seconds: number;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export function formatSummary(name: string, s: BenchSummary): string {
  const lines = [
    `Summary (${name}):`,
    `  Total:        ${s.seconds.toFixed(4)} secs.`,
    `  Requests:     ${s.requests} ok, ${s.errors} failed`,
    `  Requests/sec: ${s.rps.toFixed(1)}`,
    `  Average:      ${s.avgMs.toFixed(3)} ms`,
    `  Latency:      p50 ${s.p50Ms.toFixed(3)} ms, p90 ${s.p90Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms, max ${s.maxMs.toFixed(3)} ms`,
  ];
  if (s.firstErrors.length) lines.push(`  First errors: ${s.firstErrors.join(" | ")}`);
  return lines.join("\n");
}
