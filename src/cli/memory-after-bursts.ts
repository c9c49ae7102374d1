// Memory given back once a burst of work is over. A burst leaves a member holding what V8 sized up
// for it: the young generation grown to its maximum (32 MiB, all of it resident once used) and old
// space full of garbage no collection has looked at yet. V8 gives neither back by itself while the
// member then sits idle: its memory reducer judges the allocation rate by the collections it has seen,
// and an idle member runs none, so it keeps finding the rate "high" and waiting. Once three seconds in
// a row pass with little allocated after a burst (a shorter pause, between two runs of a benchmark
// say, never counts), this runs one full collection (old-space garbage goes at once)
// and lets V8 favour memory over speed (--optimize-for-size) until work resumes; V8's memory reducer
// then runs its memory-reducing collections, the only ones that shrink the young generation, within
// about 8 s. The first scavenge after that (work again, or the idle member's own allocation filling
// the shrunk young generation) turns the preference off, so a member under load runs V8's defaults.
import { constants, type PerformanceEntry, PerformanceObserver, performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";

/** How often a member that scavenged looks whether work has stopped. */
export const QUIET_MS = 1000;

/** Looks in a row that must find the member quiet before it gives memory back. */
export const QUIET_LOOKS = 3;

/**
 * Less than this allocated in `QUIET_MS` (and no scavenge) is quiet: an idle member allocates far
 * less, a member serving even a few hundred requests a second far more. The time between scavenges
 * alone does not tell: with a 32 MiB young generation a member under light load scavenges less often
 * than once a second.
 */
const QUIET_ALLOCATION_BYTES = 1024 * 1024;

/** And the event loop busy less than this share of that second (an idle member: about 0.1 %). */
const QUIET_LOOP_UTILIZATION = 0.05;

/** Old space grown by this much since the last give-back is worth a full collection. */
const OLD_GROWTH_BYTES = 8 * 1024 * 1024;

/** Bytes in use in the young generation: what was allocated since the last scavenge, and its survivors. */
function youngGenerationUsed(): number {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_used_size ?? 0;
}

/** V8's young generation (both semi-spaces) and old space, committed. */
export function heapSizes(): { young: number; old: number } {
  let young = 0;
  let old = 0;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name === "new_space") young = s.space_size;
    else if (s.space_name === "old_space") old = s.space_size;
  }
  return { young, old };
}

type Gc = (options: { execution: "async" }) => Promise<void>;
let gc: Gc | undefined;

/**
 * V8's full collection, run as a task of its own (nothing of the caller's stack in it). V8's gc
 * extension is installed in contexts made while --expose-gc is set: one private context gets it, made
 * at the first give-back (a member never under load never makes it), and the flag is cleared again so
 * that no other context (nor the main one) has `gc`.
 */
function fullCollection(): Promise<void> {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as Gc;
    v8.setFlagsFromString("--no-expose-gc");
  }
  return gc({ execution: "async" });
}

export interface GiveBackOptions {
  /** Time between two looks (default `QUIET_MS`). */
  quietMs?: number;
  /** Quiet looks in a row before giving back (default `QUIET_LOOKS`). */
  quietLooks?: number;
  /** Called at each give-back, before its full collection, with the heap's sizes then. */
  onGiveBack?: (sizes: { young: number; old: number }) => void;
}

/**
 * Gives memory back after each burst of work from now on (see above). It sets V8 flags and runs full
 * collections for the whole process, and the burst after a give-back runs slower (see main.ts): the
 * `rxetcd` command turns it on only when asked; an embedder whose process is mostly its member may
 * call it once the member is ready. Returns the function that stops it and gives V8 its defaults back.
 */
export function giveMemoryBackAfterBursts(options: GiveBackOptions = {}): () => void {
  const { quietMs = QUIET_MS, quietLooks = QUIET_LOOKS, onGiveBack } = options;
  const smallestYoung = heapSizes().young;
  let oldAfterLastGiveBack = heapSizes().old;
  let preferMemory = false;
  let collecting = false;
  let timer: NodeJS.Timeout | undefined;
  /** A scavenge ran since the last look: allocation filled the young generation. */
  let scavenged = false;
  /** Quiet looks in a row so far. */
  let quietInARow = 0;
  let youngUsedAtLastLook = 0;
  let loopAtLastLook = performance.eventLoopUtilization();

  const setPreferMemory = (on: boolean) => {
    if (on === preferMemory) return;
    preferMemory = on;
    v8.setFlagsFromString(on ? "--optimize-for-size" : "--no-optimize-for-size");
  };
  const sizedUp = () => {
    const { young, old } = heapSizes();
    return young > smallestYoung || old > oldAfterLastGiveBack + OLD_GROWTH_BYTES;
  };
  const giveBack = () => {
    onGiveBack?.(heapSizes());
    collecting = true;
    setPreferMemory(true);
    fullCollection().then(
      () => {
        collecting = false;
        oldAfterLastGiveBack = heapSizes().old;
      },
      () => {
        collecting = false;
      },
    );
  };
  /**
   * Once per `quietMs` after a scavenge, until a look finds the member quiet `quietLooks` times in a
   * row: quiet is no scavenge, little allocated and an event loop mostly idle since the last look.
   */
  const look = () => {
    const used = youngGenerationUsed();
    const busy = performance.eventLoopUtilization(loopAtLastLook).utilization;
    // a scavenge whose report has not arrived yet shows as the young generation's use falling
    const quiet =
      !scavenged &&
      used >= youngUsedAtLastLook &&
      used - youngUsedAtLastLook < QUIET_ALLOCATION_BYTES &&
      busy < QUIET_LOOP_UTILIZATION;
    scavenged = false;
    youngUsedAtLastLook = used;
    loopAtLastLook = performance.eventLoopUtilization();
    quietInARow = quiet ? quietInARow + 1 : 0;
    if (quietInARow < quietLooks) {
      timer = setTimeout(look, quietMs).unref();
      return;
    }
    timer = undefined;
    quietInARow = 0;
    if (sizedUp()) giveBack();
  };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      // our own collection, and V8's memory-reducing ones, are not work
      if (collecting || detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
      setPreferMemory(false);
      if (timer) {
        scavenged = true;
        continue;
      }
      scavenged = false;
      quietInARow = 0;
      youngUsedAtLastLook = youngGenerationUsed();
      loopAtLastLook = performance.eventLoopUtilization();
      timer = setTimeout(look, quietMs).unref();
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  return () => {
    observer.disconnect();
    if (timer) clearTimeout(timer);
    timer = undefined;
    setPreferMemory(false);
  };
}
