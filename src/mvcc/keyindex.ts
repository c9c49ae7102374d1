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
const BTree = (
  createRequire(import.meta.url)("sorted-btree") as {
    default: new <K, V>(entries: undefined, compare: (a: K, b: K) => number) => SortedMap<K, V>;
  }
).default;

/**
 * Index keys compared as strings only: the library's default comparator first tests both for finite
 * numbers and compares their types, and a put's two look-ups ran it at every level of the tree.
 */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

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

/** No revisions: shared by every empty generation (never mutated; replaced on first put). */
const NO_REVS: number[] = [];

/** One life of a key: revisions from its creation up to and including its tombstone. */
class Generation {
  /** Main revision of the put that created the key. */
  created: number;
  /** Version of the key after the last revision in `revs`. */
  ver: number;
  /** Flat (main, sub) pairs in ascending order, sized exactly (memory matters at 1M keys). */
  revs: number[];

  constructor(created = 0, ver = 0, revs: number[] = NO_REVS) {
    this.created = created;
    this.ver = ver;
    this.revs = revs;
  }

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

  append(main: number, sub: number): void {
    const r = this.revs;
    // Up to four revisions the array is replaced by one of exactly the new length: a push grows a
    // two-element array to room for 22 (192 bytes), and most keys keep few revisions until compacted.
    switch (r.length) {
      case 0:
        this.created = main;
        this.revs = [main, sub];
        break;
      case 2:
        this.revs = [r[0], r[1], main, sub];
        break;
      case 4:
        this.revs = [r[0], r[1], r[2], r[3], main, sub];
        break;
      case 6:
        this.revs = [r[0], r[1], r[2], r[3], r[4], r[5], main, sub];
        break;
      default:
        r.push(main, sub);
    }
    this.ver++;
  }

  /** Index of the newest revision whose main <= atRev, or -1. */
  newestAtOrBefore(atRev: number): number {
    for (let i = this.length - 1; i >= 0; i--) {
      if (this.main(i) <= atRev) return i;
    }
    return -1;
  }
}

/**
 * The full revision history of one key: the current generation (empty after a delete) and the
 * ended ones before it. Same semantics as etcd's keyIndex, whose `generations` list is
 * `[...past, current]` here.
 */
export class KeyHistory {
  readonly key: string;
  private current: Generation;
  private past: Generation[] | undefined;

  constructor(key: string, current: Generation = new Generation()) {
    this.key = key;
    this.current = current;
  }

  /** The newest change (main, sub), or (0, 0). */
  private lastChange(): [number, number] {
    let g: Generation | undefined = this.current;
    if (g.isEmpty()) g = this.past?.[this.past.length - 1];
    if (g === undefined || g.isEmpty()) return [0, 0];
    return [g.main(g.length - 1), g.sub(g.length - 1)];
  }

  put(main: number, sub: number): void {
    const [lastMain, lastSub] = this.lastChange();
    if (!(main > lastMain || (main === lastMain && sub > lastSub))) {
      throw new Error(`key index: put at ${main}/${sub} is not after the last change ${lastMain}/${lastSub}`);
    }
    this.current.append(main, sub);
  }

  /** Ends the current generation; false when the key is not live. */
  tombstone(main: number, sub: number): boolean {
    if (this.isEmpty()) throw new Error(`key index: tombstone on an empty key ${this.key}`);
    if (this.current.isEmpty()) return false;
    this.put(main, sub);
    if (this.past === undefined) this.past = [this.current];
    else this.past.push(this.current);
    this.current = new Generation();
    return true;
  }

  /** The revision of the key visible at `atRev`, or undefined when it did not exist then. */
  get(atRev: number): IndexedRev | undefined {
    const g = this.findGeneration(atRev);
    if (g === undefined) return undefined;
    const n = g.newestAtOrBefore(atRev);
    if (n === -1) return undefined;
    return { main: g.main(n), sub: g.sub(n), created: g.created, version: g.ver - (g.length - n - 1) };
  }

  /** True when the key is live at the newest revision. */
  isLive(): boolean {
    return !this.current.isEmpty();
  }

  isEmpty(): boolean {
    return (this.past === undefined || this.past.length === 0) && this.current.isEmpty();
  }

  /** Drops history before `atRev`, adding the revisions that stay on disk to `keep`. */
  compact(atRev: number, keep: RevSet): void {
    if (this.isEmpty()) throw new Error(`key index: compact on an empty key ${this.key}`);
    const gens = this.generations();
    let [genIdx, revIdx] = compactPoint(gens, atRev, keep);
    const g = gens[genIdx];
    if (!g.isEmpty()) {
      if (revIdx !== -1) g.revs = g.revs.slice(revIdx << 1);
      // Only the tombstone of an ended generation is left: drop the whole generation.
      if (g.length === 1 && genIdx !== gens.length - 1) {
        keep.delete(g.main(0), g.sub(0));
        genIdx++;
      }
    }
    this.setGenerations(gens.slice(genIdx));
  }

  /** Adds to `keep` what a compaction at `atRev` would keep for this key, changing nothing. */
  keep(atRev: number, keep: RevSet): void {
    if (this.isEmpty()) return;
    const gens = this.generations();
    const [genIdx, revIdx] = compactPoint(gens, atRev, keep);
    const g = gens[genIdx];
    if (!g.isEmpty() && revIdx === g.length - 1 && genIdx !== gens.length - 1) {
      keep.delete(g.main(revIdx), g.sub(revIdx));
    }
  }

  /**
   * Removes every revision with this main revision (a write being rolled back). Returns false
   * when the key has no revisions left.
   */
  undo(main: number): boolean {
    const gens = this.generations();
    for (;;) {
      const last = gens[gens.length - 1];
      if (last === undefined) break;
      if (last.isEmpty()) {
        const prev = gens[gens.length - 2];
        // An empty generation opened by a tombstone of this write goes away with it.
        if (prev !== undefined && prev.main(prev.length - 1) === main) {
          gens.pop();
          continue;
        }
        break;
      }
      if (last.main(last.length - 1) !== main) break;
      last.revs = last.revs.slice(0, -2);
      last.ver--;
      if (last.isEmpty() && gens.length === 1) gens.pop();
    }
    if (gens.length === 0) return false;
    this.setGenerations(gens);
    return true;
  }

  /** Every (main, sub) this key has in [fromRev, ∞), in order (used by tests and tools). */
  revisionsSince(fromRev: number): RevPair[] {
    const out: RevPair[] = [];
    for (const g of this.generations()) {
      for (let i = 0; i < g.length; i++) {
        if (g.main(i) >= fromRev) out.push({ main: g.main(i), sub: g.sub(i) });
      }
    }
    return out;
  }

  /** Creates the history of a key whose older revisions were compacted away. */
  static restored(key: string, created: number, main: number, sub: number, version: number): KeyHistory {
    return new KeyHistory(key, new Generation(created, version, [main, sub]));
  }

  private generations(): Generation[] {
    return this.past === undefined ? [this.current] : [...this.past, this.current];
  }

  private setGenerations(gens: Generation[]): void {
    this.current = gens[gens.length - 1];
    this.past = gens.length > 1 ? gens.slice(0, -1) : undefined;
  }

  private findGeneration(atRev: number): Generation | undefined {
    const cur = this.current;
    if (!cur.isEmpty() && cur.main(0) <= atRev) return cur;
    const past = this.past;
    if (past === undefined) return undefined;
    for (let i = past.length - 1; i >= 0; i--) {
      const g = past[i];
      if (g.isEmpty()) continue;
      // An ended generation whose tombstone is at or before atRev: the key was deleted then.
      if (g.main(g.length - 1) <= atRev) return undefined;
      if (g.main(0) <= atRev) return g;
    }
    return undefined;
  }
}

/** etcd's doCompact: the generation holding `atRev` and the newest revision <= atRev in it. */
function compactPoint(gens: Generation[], atRev: number, keep: RevSet): [number, number] {
  let genIdx = 0;
  while (genIdx < gens.length - 1) {
    const g = gens[genIdx];
    if (g.main(g.length - 1) > atRev) break;
    genIdx++;
  }
  const g = gens[genIdx];
  const revIdx = g.newestAtOrBefore(atRev);
  if (revIdx !== -1) keep.add(g.main(revIdx), g.sub(revIdx));
  return [genIdx, revIdx];
}

/** Key bytes as the index's string form (latin1: one char per byte), and back. */
export function keyString(key: Uint8Array): string {
  // Short keys: building the string in JS is cheaper than a call into Buffer's C++ decoder.
  if (key.length <= 64) return String.fromCharCode.apply(null, key as unknown as number[]);
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
  private readonly tree: SortedMap<string, KeyHistory> = new BTree<string, KeyHistory>(
    undefined,
    compareKeys,
  );

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
    this.putFound(this.tree.get(key), key, main, sub);
  }

  /**
   * put() for a key whose history the caller just looked up (history(key), the index unchanged since):
   * a write that read the key's previous revision does not search the tree for it twice.
   */
  putFound(found: KeyHistory | undefined, key: string, main: number, sub: number): void {
    let ki = found;
    if (ki === undefined) {
      ki = new KeyHistory(key);
      this.tree.set(key, ki);
    }
    ki.put(main, sub);
  }

  /** Restores a key first seen while loading (older history compacted away). */
  restore(key: string, created: number, main: number, sub: number, version: number): void {
    this.tree.set(key, KeyHistory.restored(key, created, main, sub, version));
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
