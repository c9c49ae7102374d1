// In-memory index from user key to its revision history, as etcd's treeIndex/keyIndex:
// a B-tree over keys, each key holding generations (a generation runs from a create to a
// tombstone). Keys are held as latin1 strings so that JS string order equals byte order.

import { createRequire } from "node:module";

/** The part of sorted-btree's BTree the index uses. */
interface SortedMap<K, V> {
  readonly size: number;
  get(key: K): V | undefined;
  set(key: K, value: V): boolean;
  delete(key: K): boolean;
  entries(lowestKey?: K): IterableIterator<[K, V]>;
}

// sorted-btree is CommonJS with its class on `exports.default`; load it the CommonJS way.
const BTree = (createRequire(import.meta.url)("sorted-btree") as { default: new <K, V>() => SortedMap<K, V> })
  .default;

/** A string that sorts after every latin1 key: the open end of a range. */
const AFTER_ALL_KEYS = "\u0100";

/** Revision pair (main, sub) of one change. */
export interface RevPair {
  main: number;
  sub: number;
}

/** The state of a key as of some revision, from the index alone. */
export interface IndexedRev {
  main: number;
  sub: number;
  created: number;
  version: number;
}

/** A set of revision pairs (the revisions a compaction keeps). */
export class RevSet {
  private readonly byMain = new Map<number, number | Set<number>>();
  private count = 0;

  add(main: number, sub: number): void {
    const cur = this.byMain.get(main);
    if (cur === undefined) {
      this.byMain.set(main, sub);
    } else if (typeof cur === "number") {
      if (cur === sub) return;
      this.byMain.set(main, new Set([cur, sub]));
    } else {
      if (cur.has(sub)) return;
      cur.add(sub);
    }
    this.count++;
  }

  delete(main: number, sub: number): void {
    const cur = this.byMain.get(main);
    if (cur === undefined) return;
    if (typeof cur === "number") {
      if (cur !== sub) return;
      this.byMain.delete(main);
    } else {
      if (!cur.delete(sub)) return;
      if (cur.size === 0) this.byMain.delete(main);
    }
    this.count--;
  }

  has(main: number, sub: number): boolean {
    const cur = this.byMain.get(main);
    if (cur === undefined) return false;
    return typeof cur === "number" ? cur === sub : cur.has(sub);
  }

  get size(): number {
    return this.count;
  }
}

/** One life of a key: revisions from its creation up to and including its tombstone. */
class Generation {
  /** Main revision of the put that created the key. */
  created = 0;
  /** Version of the key after the last revision in `revs`. */
  ver = 0;
  /** Flat (main, sub) pairs in ascending order. */
  revs: number[] = [];

  get length(): number {
    return this.revs.length >> 1;
  }

  isEmpty(): boolean {
    return this.revs.length === 0;
  }

  main(i: number): number {
    return this.revs[i << 1];
  }

  sub(i: number): number {
    return this.revs[(i << 1) + 1];
  }

  /** Index of the newest revision whose main <= atRev, or -1. */
  newestAtOrBefore(atRev: number): number {
    for (let i = this.length - 1; i >= 0; i--) {
      if (this.main(i) <= atRev) return i;
    }
    return -1;
  }
}

/** The full revision history of one key. */
export class KeyHistory {
  readonly key: string;
  private modMain = 0;
  private modSub = 0;
  private gens: Generation[] = [];

  constructor(key: string) {
    this.key = key;
  }

  put(main: number, sub: number): void {
    if (!(main > this.modMain || (main === this.modMain && sub > this.modSub))) {
      throw new Error(
        `key index: put at ${main}/${sub} is not after the last change ${this.modMain}/${this.modSub}`,
      );
    }
    if (this.gens.length === 0) this.gens.push(new Generation());
    const g = this.gens[this.gens.length - 1];
    if (g.isEmpty()) g.created = main;
    g.revs.push(main, sub);
    g.ver++;
    this.modMain = main;
    this.modSub = sub;
  }

  /** Re-creates the index of a key whose older revisions were compacted away. */
  restore(created: number, main: number, sub: number, version: number): void {
    if (this.gens.length !== 0) throw new Error("key index: restore into a non-empty key");
    const g = new Generation();
    g.created = created;
    g.ver = version;
    g.revs.push(main, sub);
    this.gens.push(g);
    this.modMain = main;
    this.modSub = sub;
  }

  /** Ends the current generation; false when the key is not live. */
  tombstone(main: number, sub: number): boolean {
    if (this.isEmpty()) throw new Error(`key index: tombstone on an empty key ${this.key}`);
    if (this.gens[this.gens.length - 1].isEmpty()) return false;
    this.put(main, sub);
    this.gens.push(new Generation());
    return true;
  }

  /** The revision of the key visible at `atRev`, or undefined when it did not exist then. */
  get(atRev: number): IndexedRev | undefined {
    const g = this.findGeneration(atRev);
    if (g === undefined || g.isEmpty()) return undefined;
    const n = g.newestAtOrBefore(atRev);
    if (n === -1) return undefined;
    return { main: g.main(n), sub: g.sub(n), created: g.created, version: g.ver - (g.length - n - 1) };
  }

  /** True when the key is live at the newest revision. */
  isLive(): boolean {
    return this.gens.length > 0 && !this.gens[this.gens.length - 1].isEmpty();
  }

  isEmpty(): boolean {
    return this.gens.length === 1 && this.gens[0].isEmpty();
  }

  /** Drops history before `atRev`, adding the revisions that stay on disk to `keep`. */
  compact(atRev: number, keep: RevSet): void {
    if (this.isEmpty()) throw new Error(`key index: compact on an empty key ${this.key}`);
    let [genIdx, revIdx] = this.compactPoint(atRev, keep);
    const g = this.gens[genIdx];
    if (!g.isEmpty()) {
      if (revIdx !== -1) g.revs = g.revs.slice(revIdx << 1);
      // Only the tombstone of an ended generation is left: drop the whole generation.
      if (g.length === 1 && genIdx !== this.gens.length - 1) {
        keep.delete(g.main(0), g.sub(0));
        genIdx++;
      }
    }
    this.gens = this.gens.slice(genIdx);
  }

  /** Adds to `keep` what a compaction at `atRev` would keep for this key, changing nothing. */
  keep(atRev: number, keep: RevSet): void {
    if (this.isEmpty()) return;
    const [genIdx, revIdx] = this.compactPoint(atRev, keep);
    const g = this.gens[genIdx];
    if (!g.isEmpty() && revIdx === g.length - 1 && genIdx !== this.gens.length - 1) {
      keep.delete(g.main(revIdx), g.sub(revIdx));
    }
  }

  /**
   * Removes every revision with this main revision (a write being rolled back). Returns false
   * when the key has no revisions left.
   */
  undo(main: number): boolean {
    for (;;) {
      const last = this.gens[this.gens.length - 1];
      if (last === undefined) break;
      if (last.isEmpty()) {
        const prev = this.gens[this.gens.length - 2];
        // An empty generation opened by a tombstone of this write goes away with it.
        if (prev !== undefined && prev.main(prev.length - 1) === main) {
          this.gens.pop();
          continue;
        }
        break;
      }
      if (last.main(last.length - 1) !== main) break;
      last.revs.length -= 2;
      last.ver--;
      if (last.isEmpty() && this.gens.length === 1) this.gens.pop();
    }
    const g = this.gens.length > 0 ? this.newestNonEmpty() : undefined;
    this.modMain = g === undefined ? 0 : g.main(g.length - 1);
    this.modSub = g === undefined ? 0 : g.sub(g.length - 1);
    return this.gens.length > 0;
  }

  private newestNonEmpty(): Generation | undefined {
    for (let i = this.gens.length - 1; i >= 0; i--) if (!this.gens[i].isEmpty()) return this.gens[i];
    return undefined;
  }

  /** Every (main, sub) this key has in [fromRev, ∞), in order (used by tests and tools). */
  revisionsSince(fromRev: number): RevPair[] {
    const out: RevPair[] = [];
    for (const g of this.gens) {
      for (let i = 0; i < g.length; i++) {
        if (g.main(i) >= fromRev) out.push({ main: g.main(i), sub: g.sub(i) });
      }
    }
    return out;
  }

  private compactPoint(atRev: number, keep: RevSet): [number, number] {
    let genIdx = 0;
    while (genIdx < this.gens.length - 1) {
      const g = this.gens[genIdx];
      if (g.main(g.length - 1) > atRev) break;
      genIdx++;
    }
    const g = this.gens[genIdx];
    const revIdx = g.newestAtOrBefore(atRev);
    if (revIdx !== -1) keep.add(g.main(revIdx), g.sub(revIdx));
    return [genIdx, revIdx];
  }

  private findGeneration(atRev: number): Generation | undefined {
    const last = this.gens.length - 1;
    for (let i = last; i >= 0; i--) {
      const g = this.gens[i];
      if (g.isEmpty()) continue;
      // An ended generation whose tombstone is at or before atRev: the key was deleted then.
      if (i !== last && g.main(g.length - 1) <= atRev) return undefined;
      if (g.main(0) <= atRev) return g;
    }
    return undefined;
  }
}

/** Key bytes as the index's string form, and back. */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

export function keyBytes(key: string): Buffer {
  return Buffer.from(key, "latin1");
}

/**
 * A key range in index form. `end === undefined`: the single key `start`; otherwise [start, end).
 * Built with etcd's rules by `toKeyRange`.
 */
export interface KeyRange {
  start: string;
  end: string | undefined;
}

/** etcd's key-range rules: no/empty end = one key, end "\0" = every key >= start. */
export function toKeyRange(key: Uint8Array, end: Uint8Array | undefined): KeyRange {
  const start = keyString(key);
  if (end === undefined || end.length === 0) return { start, end: undefined };
  if (end.length === 1 && end[0] === 0) return { start, end: AFTER_ALL_KEYS };
  return { start, end: keyString(end) };
}

/** True when `key` (index form) lies in `range`. */
export function inKeyRange(key: string, range: KeyRange): boolean {
  if (range.end === undefined) return key === range.start;
  return key >= range.start && key < range.end;
}

/** The B-tree of key histories. */
export class KeyIndex {
  private readonly tree: SortedMap<string, KeyHistory> = new BTree<string, KeyHistory>();

  get size(): number {
    return this.tree.size;
  }

  history(key: string): KeyHistory | undefined {
    return this.tree.get(key);
  }

  get(key: string, atRev: number): IndexedRev | undefined {
    return this.tree.get(key)?.get(atRev);
  }

  put(key: string, main: number, sub: number): void {
    let ki = this.tree.get(key);
    if (ki === undefined) {
      ki = new KeyHistory(key);
      this.tree.set(key, ki);
    }
    ki.put(main, sub);
  }

  /** Restores a key first seen while loading (older history compacted away). */
  restore(key: string, created: number, main: number, sub: number, version: number): void {
    const ki = new KeyHistory(key);
    ki.restore(created, main, sub, version);
    this.tree.set(key, ki);
  }

  /** False when the key is not live (etcd's ErrRevisionNotFound). */
  tombstone(key: string, main: number, sub: number): boolean {
    const ki = this.tree.get(key);
    if (ki === undefined) return false;
    return ki.tombstone(main, sub);
  }

  /** Rolls back every change at revision `main` of the given keys (an aborted write). */
  undo(keys: Iterable<string>, main: number): void {
    for (const key of keys) {
      const ki = this.tree.get(key);
      if (ki !== undefined && !ki.undo(main)) this.tree.delete(key);
    }
  }

  /** Visits every key history in the range, ascending; return false from `fn` to stop. */
  visit(range: KeyRange, fn: (ki: KeyHistory) => boolean | undefined): void {
    if (range.end === undefined) {
      const ki = this.tree.get(range.start);
      if (ki !== undefined) fn(ki);
      return;
    }
    if (range.end <= range.start) return;
    for (const [, ki] of this.tree.entries(range.start)) {
      if (ki.key >= range.end) return;
      if (fn(ki) === false) return;
    }
  }

  /** Keys and revisions visible at `atRev` in the range, ascending by key. */
  revisions(range: KeyRange, atRev: number): { keys: string[]; revs: IndexedRev[] } {
    const keys: string[] = [];
    const revs: IndexedRev[] = [];
    this.visit(range, (ki) => {
      const r = ki.get(atRev);
      if (r !== undefined) {
        keys.push(ki.key);
        revs.push(r);
      }
      return true;
    });
    return { keys, revs };
  }

  /** Compacts every key at `atRev`; returns the revisions the backend must keep. */
  compact(atRev: number): RevSet {
    const keep = new RevSet();
    const emptied: string[] = [];
    for (const [key, ki] of this.tree.entries()) {
      ki.compact(atRev, keep);
      if (ki.isEmpty()) emptied.push(key);
    }
    for (const key of emptied) this.tree.delete(key);
    return keep;
  }

  /** What `compact(atRev)` would keep, without compacting. */
  keep(atRev: number): RevSet {
    const keep = new RevSet();
    for (const [, ki] of this.tree.entries()) ki.keep(atRev, keep);
    return keep;
  }

  /** Every key history, ascending. */
  all(): IterableIterator<[string, KeyHistory]> {
    return this.tree.entries();
  }
}
