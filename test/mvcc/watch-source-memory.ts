// A small in-memory revisioned KV store with the semantics of the KV store's watch hooks (see
// src/mvcc/watchable-source.ts): one revision per write, events per revision, key history for get-at-revision,
// compaction that discards older history. The watch tests run against it and against the LMDB-backed store.
import { type Event, Event_EventType, type KeyValue } from "../../src/gen/mvccpb/kv.js";
import type { WatchableSource } from "../../src/mvcc/watchable-source.js";

export class MemoryCompactedError extends Error {
  constructor() {
    super("mvcc: required revision has been compacted");
  }
}

export class MemoryFutureRevError extends Error {
  constructor() {
    super("mvcc: required revision is a future revision");
  }
}

export type MemoryOp =
  | { put: { key: string | Buffer; value: string | Buffer; lease?: bigint } }
  | { del: { key: string | Buffer; end?: string | Buffer } };

interface Version {
  rev: number;
  /** undefined = deleted at `rev`. */
  kv: KeyValue | undefined;
}

export interface MemoryWatchSourceOptions {
  /** Refuse eventsBetween(fromRev == compactRev) too (the stricter reading of the contract). */
  refuseCompactRev?: boolean;
}

const bytes = (b: string | Buffer): Buffer => (typeof b === "string" ? Buffer.from(b) : Buffer.from(b));

export function cloneKv(kv: KeyValue): KeyValue {
  return { ...kv, key: Buffer.from(kv.key), value: Buffer.from(kv.value) };
}

export function cloneEvent(ev: Event): Event {
  return {
    type: ev.type,
    kv: ev.kv === undefined ? undefined : cloneKv(ev.kv),
    prevKv: ev.prevKv === undefined ? undefined : cloneKv(ev.prevKv),
  };
}

/** etcd's range rule: end undefined/empty = one key, [0] = key and after, else [key, end). */
export function inRange(k: Buffer, key: Buffer, end: Buffer | undefined): boolean {
  if (end === undefined || end.length === 0) return k.equals(key);
  if (end.length === 1 && end[0] === 0) return Buffer.compare(k, key) >= 0;
  return Buffer.compare(k, key) >= 0 && Buffer.compare(k, end) < 0;
}

export class MemoryWatchSource implements WatchableSource {
  private rev = 1;
  /** -1 until the first compaction, as the KV store. */
  private compacted = -1;
  /** Events of every revision > compacted (and of the compact revision itself). */
  private readonly history: Array<{ rev: number; events: Event[] }> = [];
  private readonly versions = new Map<string, Version[]>();
  private readonly commitListeners = new Set<(events: Event[], rev: number) => void>();
  private readonly compactListeners = new Set<(rev: number) => void>();

  constructor(private readonly options: MemoryWatchSourceOptions = {}) {}

  currentRev(): number {
    return this.rev;
  }

  compactRev(): number {
    return this.compacted;
  }

  onCommit(listener: (events: Event[], rev: number) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  onCompact(listener: (compactRev: number) => void): () => void {
    this.compactListeners.add(listener);
    return () => this.compactListeners.delete(listener);
  }

  put(key: string | Buffer, value: string | Buffer, lease = 0n): number {
    return this.txn([{ put: { key, value, lease } }]);
  }

  deleteRange(key: string | Buffer, end?: string | Buffer): number {
    return this.txn([{ del: { key, end } }]);
  }

  /** Applies every op under one revision; returns the store revision after it (unchanged when nothing changed). */
  txn(ops: MemoryOp[]): number {
    const rev = this.rev + 1;
    const events: Event[] = [];
    const touched = new Map<string, KeyValue | undefined>();
    const live = (k: string): KeyValue | undefined => (touched.has(k) ? touched.get(k) : this.latest(k));
    for (const op of ops) {
      if ("put" in op) {
        const key = bytes(op.put.key);
        const k = key.toString("latin1");
        const prev = live(k);
        const kv: KeyValue = {
          key,
          value: bytes(op.put.value),
          createRevision: prev === undefined ? rev : prev.createRevision,
          modRevision: rev,
          version: prev === undefined ? 1 : prev.version + 1,
          lease: op.put.lease ?? 0n,
        };
        touched.set(k, kv);
        events.push({ type: Event_EventType.PUT, kv, prevKv: undefined });
      } else {
        const key = bytes(op.del.key);
        const end = op.del.end === undefined ? undefined : bytes(op.del.end);
        const names = new Set<string>([...this.versions.keys(), ...touched.keys()]);
        const hit = [...names]
          .filter((k) => inRange(Buffer.from(k, "latin1"), key, end) && live(k) !== undefined)
          .sort((a, b) => Buffer.compare(Buffer.from(a, "latin1"), Buffer.from(b, "latin1")));
        for (const k of hit) {
          touched.set(k, undefined);
          const kv: KeyValue = {
            key: Buffer.from(k, "latin1"),
            value: Buffer.alloc(0),
            createRevision: 0,
            modRevision: rev,
            version: 0,
            lease: 0n,
          };
          events.push({ type: Event_EventType.DELETE, kv, prevKv: undefined });
        }
      }
    }
    if (events.length === 0) return this.rev;
    for (const [k, kv] of touched) {
      let list = this.versions.get(k);
      if (list === undefined) this.versions.set(k, (list = []));
      list.push({ rev, kv });
    }
    this.rev = rev;
    this.history.push({ rev, events: events.map(cloneEvent) });
    for (const l of this.commitListeners) l(events.map(cloneEvent), rev);
    return rev;
  }

  compact(rev: number): void {
    if (rev <= this.compacted) throw new MemoryCompactedError();
    if (rev > this.rev) throw new MemoryFutureRevError();
    this.compacted = rev;
    while (this.history.length > 0 && this.history[0].rev < rev) this.history.shift();
    for (const [k, list] of this.versions) {
      // Keep what is readable at `rev` and after: the newest version at or before rev, and all later ones.
      let keepFrom = 0;
      for (let i = 0; i < list.length; i++) if (list[i].rev <= rev) keepFrom = i;
      const kept = list.slice(keepFrom);
      if (kept.length > 0 && kept[0].rev <= rev && kept[0].kv === undefined) kept.shift();
      if (kept.length === 0) this.versions.delete(k);
      else this.versions.set(k, kept);
    }
    for (const l of this.compactListeners) l(rev);
  }

  eventsBetween(
    key: Buffer,
    end: Buffer | undefined,
    fromRev: number,
    toRev: number,
    limit?: number,
  ): Event[] {
    if (
      fromRev > 0 &&
      (fromRev < this.compacted || (this.options.refuseCompactRev && fromRev === this.compacted))
    ) {
      throw new MemoryCompactedError();
    }
    const out: Event[] = [];
    for (const entry of this.history) {
      if (entry.rev < fromRev) continue;
      if (entry.rev > toRev) break;
      for (const ev of entry.events) {
        if (!inRange(ev.kv!.key, key, end)) continue;
        out.push(cloneEvent(ev));
        if (limit !== undefined && limit > 0 && out.length >= limit) return out;
      }
    }
    return out;
  }

  get(key: Buffer, atRev: number): KeyValue | undefined {
    if (atRev < this.compacted) throw new MemoryCompactedError();
    if (atRev > this.rev) throw new MemoryFutureRevError();
    const list = this.versions.get(key.toString("latin1"));
    if (list === undefined) return undefined;
    let found: Version | undefined;
    for (const v of list) if (v.rev <= atRev) found = v;
    return found?.kv === undefined ? undefined : cloneKv(found.kv);
  }

  private latest(k: string): KeyValue | undefined {
    const list = this.versions.get(k);
    return list === undefined || list.length === 0 ? undefined : list[list.length - 1].kv;
  }
}

// ---- helpers shared by the watch tests ----

/** What a subscriber of one watcher saw. */
export interface Collected<B> {
  batches: B[];
  done: boolean;
  error: unknown;
}

export function collect<B>(events$: import("rxjs").Observable<B>): Collected<B> & { stop(): void } {
  const seen: Collected<B> = { batches: [], done: false, error: undefined };
  const sub = events$.subscribe({
    next: (b) => seen.batches.push(b),
    complete: () => {
      seen.done = true;
    },
    error: (e) => {
      seen.error = e;
      seen.done = true;
    },
  });
  return Object.assign(seen, { stop: () => sub.unsubscribe() });
}

/** Lets microtasks, immediates and short timers run until `cond` holds; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Lets queued deliveries and catch-up passes run for a while. */
export async function settle(ms = 5): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** A compact text form of events for readable assertions: "PUT a=1@2", "DELETE a@5". */
export function describeEvents(events: Event[]): string[] {
  return events.map((ev) =>
    ev.type === Event_EventType.PUT
      ? `PUT ${ev.kv!.key.toString()}=${ev.kv!.value.toString()}@${ev.kv!.modRevision}`
      : `DELETE ${ev.kv!.key.toString()}@${ev.kv!.modRevision}`,
  );
}
