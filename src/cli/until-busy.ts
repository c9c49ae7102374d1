// V8 flags a member that serves holds until it has work. Released at the end of the start (see
// start-up-flags.ts), two of them cost an idle member memory it does not need:
// - TurboFan: an idle member's timers (raft's ticks, the metrics) run the same functions often enough
//   for TurboFan to optimize some of them after 40-50 s, which pages in the part of the node binary
//   holding its compiler: RSS up 3.4 MiB, for code that makes an idle member no faster;
// - the young generation's growth factor of 16: V8 grows the young generation at a scavenge once as
//   many bytes survived scavenges since its last growth as it holds, and the start's survivors counted,
//   so an idle member's first scavenge grew it from 2 to 32 MiB, whose pages idle allocation then
//   walked through, each one resident from then on.
// Work is a scavenge less than a second after the one before (1 MiB allocated in that second, which
// memory-after-bursts.ts counts as work too): under load, within the first few hundred requests.
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";

/** A scavenge this soon after the one before it means work. */
export const BUSY_GAP_MS = 1000;

/** [held, released] V8 flags. */
export type FlagPair = readonly [string, string];

export interface UntilBusy {
  /** Sets the held value of `pairs` now and their released value at the next sign of work. */
  hold(pairs: readonly FlagPair[]): void;
  /** Stops watching; the flags stay as they are. */
  stop(): void;
}

/** Holds `pairs` until the process has work (see above), from now on. */
export function holdUntilBusy(pairs: readonly FlagPair[], busyGapMs: number = BUSY_GAP_MS): UntilBusy {
  let pending: FlagPair[] = [];
  let lastScavenge: number | undefined;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      if (detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
      if (lastScavenge !== undefined && entry.startTime - lastScavenge < busyGapMs) {
        observer.disconnect();
        for (const [, released] of pending) v8.setFlagsFromString(released);
        pending = [];
        return;
      }
      lastScavenge = entry.startTime;
    }
  });
  const hold = (more: readonly FlagPair[]) => {
    for (const pair of more) {
      v8.setFlagsFromString(pair[0]);
      if (!pending.includes(pair)) pending.push(pair);
    }
    lastScavenge = undefined;
    // disconnected once busy (and harmless to disconnect while watching): watch again
    observer.disconnect();
    observer.observe({ entryTypes: ["gc"] });
  };
  hold(pairs);
  return { hold, stop: () => observer.disconnect() };
}
