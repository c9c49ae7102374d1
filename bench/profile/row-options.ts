// The command-line options bench:alloc and bench:profile share: which row, on how many members, after how long a
// warm-up, profiled over how many requests, sampled how often, shown how far, against which other checkout.
import { WORKLOADS, type Workload } from "../compare/rows.js";

export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export interface RowOptions {
  readonly row: Workload;
  readonly size: number;
  readonly warmup: number;
  readonly requests: number;
  /** The profiler's sampling interval, in the tool's unit. */
  readonly interval: number;
  readonly top: number;
  readonly against: string | undefined;
  /** Functions (by name) whose own cost is also broken down by the project function calling them (--callers). */
  readonly callersOf: readonly string[];
}

/**
 * Reads the shared options; prints the tool's usage and exits on a value that cannot be right. `flags` names the
 * tool's own options for the usage line.
 */
export function rowOptions(
  tool: string,
  defaults: { interval: number; intervalUnit: string; top: number },
  flags: string,
): RowOptions {
  const row = WORKLOADS.find((w) => w.id === (flag("--row") ?? "put-64"));
  const size = Number(flag("--members") ?? 3);
  const warmup = Number(flag("--warmup") ?? 15_000);
  const requests = Number(flag("--requests") ?? 30_000);
  const interval = Number(flag("--interval") ?? defaults.interval);
  const top = Number(flag("--top") ?? defaults.top);
  if (
    row === undefined ||
    (size !== 1 && size !== 3) ||
    [warmup, requests, interval, top].some((n) => !Number.isInteger(n) || n < 0) ||
    requests === 0 ||
    interval === 0
  ) {
    console.error(
      `usage: ${tool} [--row ${WORKLOADS.map((w) => w.id).join("|")}] [--members 1|3] [--warmup N] [--requests N] [--interval ${defaults.intervalUnit}] [--top K] [--against DIR] [--callers NAME,...] ${flags}`,
    );
    process.exit(2);
  }
  return {
    row,
    size,
    warmup,
    requests,
    interval,
    top,
    against: flag("--against"),
    callersOf: (flag("--callers") ?? "").split(",").filter((a) => a !== ""),
  };
}
