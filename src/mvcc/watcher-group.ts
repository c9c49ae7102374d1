// A set of watchers indexed by what they watch, so a committed event finds its watchers without a full scan:
// single-key watchers by key, range watchers in a list checked one by one.
import type { KeyRange } from "./watch-range.js";

export interface RangedMember {
  readonly range: KeyRange;
}

export class WatcherGroup<W extends RangedMember> {
  private readonly all = new Set<W>();
  private readonly byKey = new Map<string, Set<W>>();
  private readonly ranges = new Set<W>();

  get size(): number {
    return this.all.size;
  }

  has(w: W): boolean {
    return this.all.has(w);
  }

  add(w: W): void {
    if (this.all.has(w)) throw new Error("watcher added to a group twice");
    this.all.add(w);
    if (w.range.kind !== "key") {
      this.ranges.add(w);
      return;
    }
    const k = w.range.key.toString("latin1");
    let set = this.byKey.get(k);
    if (set === undefined) {
      set = new Set();
      this.byKey.set(k, set);
    }
    set.add(w);
  }

  /** Removes the watcher; false when it was not a member. */
  delete(w: W): boolean {
    if (!this.all.delete(w)) return false;
    if (w.range.kind !== "key") {
      this.ranges.delete(w);
      return true;
    }
    const k = w.range.key.toString("latin1");
    const set = this.byKey.get(k);
    set?.delete(w);
    if (set?.size === 0) this.byKey.delete(k);
    return true;
  }

  /** Calls `visit` once for every watcher whose range contains the key. */
  forEachWatching(key: Buffer, visit: (w: W) => void): void {
    const exact = this.byKey.get(key.toString("latin1"));
    if (exact !== undefined) for (const w of exact) visit(w);
    for (const w of this.ranges) if (w.range.contains(key)) visit(w);
  }

  /** Members in insertion order (a member deleted and re-added moves to the end). */
  values(): IterableIterator<W> {
    return this.all.values();
  }
}
