// Memory given back once a burst of work is over. A burst leaves a member holding what V8 sized up
// for it: the young generation grown to its maximum (32 MiB, all of it resident once used) and old
// space full of garbage no collection has looked at yet. V8 gives neither back by itself while the
// member then sits idle: its memory reducer judges the allocation rate by the collections it has seen,
// and an idle member runs none, so it keeps finding the rate "high" and waiting. Once no collection
// has run for a while after a burst, this runs one full collection (old-space garbage goes at once)
// and lets V8 favour memory over speed (--optimize-for-size) until work resumes; V8's memory reducer
// then runs its memory-reducing collections, the only ones that shrink the young generation, within
// about 8 s. The first scavenge after that (work again, or the idle member's own allocation filling
// the shrunk young generation) turns the preference off, so a member under load runs V8's defaults.
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";

/** No collection for this long after one that ran during work: the burst is over. */
export const QUIET_MS = 1000;

/** Old space grown by this much since the last give-back is worth a full collection. */
const OLD_GROWTH_BYTES = 8 * 1024 * 1024;

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

/**
 * Gives memory back after each burst of work from now on (see above). Returns the function that
 * stops it and gives V8 its defaults back.
 */
export function giveMemoryBackAfterBursts(quietMs = QUIET_MS): () => void {
  const smallestYoung = heapSizes().young;
  let oldAfterLastGiveBack = heapSizes().old;
  let lastCollectionAt = 0;
  let preferMemory = false;
  let collecting = false;
  let timer: NodeJS.Timeout | undefined;

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
  const whenQuiet = () => {
    timer = undefined;
    const since = performance.now() - lastCollectionAt;
    if (since < quietMs) {
      timer = setTimeout(whenQuiet, quietMs - since).unref();
      return;
    }
    if (sizedUp()) giveBack();
  };
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const { detail } = entry as PerformanceEntry & { detail?: { kind?: number } };
      // our own collection, and V8's memory-reducing ones, are not work
      if (collecting || detail?.kind !== constants.NODE_PERFORMANCE_GC_MINOR) continue;
      lastCollectionAt = performance.now();
      setPreferMemory(false);
      timer ??= setTimeout(whenQuiet, quietMs).unref();
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
