// A set of watchers indexed by what they watch, so a committed event finds its watchers without a full scan:
// single-key watchers by key; range watchers grouped by identical range (many clients often watch the same
// prefix), each distinct range checked once per event.
import type { KeyRange } from "./watch-range.js";

export interface RangedMember {
  readonly range: KeyRange;
}

export class WatcherGroup<W extends RangedMember> {
  private readonly all = new Set<W>();
  /** Single-key watchers by key: the watcher itself while a key has one (most do), a set from the second. */
  private readonly byKey = new Map<string, W | Set<W>>();
  private readonly ranges = new Map<string, { range: KeyRange; members: Set<W> }>();

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
      const id = rangeId(w.range);
      let entry = this.ranges.get(id);
      if (entry === undefined) {
        entry = { range: w.range, members: new Set() };
        this.ranges.set(id, entry);
      }
      entry.members.add(w);
      return;
    }
    const k = w.range.key.toString("latin1");
    const held = this.byKey.get(k);
    if (held === undefined) this.byKey.set(k, w);
    else if (held instanceof Set) held.add(w);
    else this.byKey.set(k, new Set([held, w]));
  }

  /** Removes the watcher; false when it was not a member. */
  delete(w: W): boolean {
    if (!this.all.delete(w)) return false;
    if (w.range.kind !== "key") {
      const id = rangeId(w.range);
      const entry = this.ranges.get(id);
      entry?.members.delete(w);
      if (entry?.members.size === 0) this.ranges.delete(id);
      return true;
    }
    const k = w.range.key.toString("latin1");
    const held = this.byKey.get(k);
    if (held === w) this.byKey.delete(k);
    else if (held instanceof Set) {
      held.delete(w);
      if (held.size === 0) this.byKey.delete(k);
    }
    return true;
  }

  /** Calls `visit` once for every watcher whose range contains the key. */
  forEachWatching(key: Buffer, visit: (w: W) => void): void {
    const exact = this.byKey.get(key.toString("latin1"));
    if (exact instanceof Set) for (const w of exact) visit(w);
    else if (exact !== undefined) visit(exact);
    for (const { range, members } of this.ranges.values()) {
      if (range.contains(key)) for (const w of members) visit(w);
    }
  }

  /** Members in insertion order (a member deleted and re-added moves to the end). */
  values(): IterableIterator<W> {
    return this.all.values();
  }
}

function rangeId(r: KeyRange): string {
  return `${r.kind}:${r.key.toString("hex")}:${r.end?.toString("hex") ?? ""}`;
}
