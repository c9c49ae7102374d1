/**
 * The operations the crash writer performs and a model of the log they produce. The writer prints
 * each operation before issuing it ("I ...") and after it resolved ("A ..."); the test replays the
 * same lines through this model to know exactly which states a reopened WAL may be in.
 */
import { payloadFor } from "./helpers.js";

export type CrashOp =
  | { kind: "save"; first: number; last: number; term: number; hsTerm: number; commit: number }
  | { kind: "snap"; index: number; term: number }
  | { kind: "purge"; catchUpEntries: number; maxSnapshots: number };

/** Entry payloads: deterministic from (index, term); every 97th one is 64 KiB to stretch a commit. */
export function crashPayload(index: number, term: number): Buffer {
  return (index * 31 + term) % 97 === 0 ? payloadFor(index, term, 64 * 1024) : payloadFor(index, term);
}

export function snapshotData(index: number): Buffer {
  return Buffer.from(`crash-state@${index}`);
}

export function formatOp(seq: number, op: CrashOp): string {
  switch (op.kind) {
    case "save":
      return `I ${seq} save ${op.first} ${op.last} ${op.term} ${op.hsTerm} ${op.commit}`;
    case "snap":
      return `I ${seq} snap ${op.index} ${op.term}`;
    case "purge":
      return `I ${seq} purge ${op.catchUpEntries} ${op.maxSnapshots}`;
  }
}

export function parseOp(fields: string[]): CrashOp {
  const n = fields.slice(1).map(Number);
  switch (fields[0]) {
    case "save":
      return { kind: "save", first: n[0], last: n[1], term: n[2], hsTerm: n[3], commit: n[4] };
    case "snap":
      return { kind: "snap", index: n[0], term: n[1] };
    case "purge":
      return { kind: "purge", catchUpEntries: n[0], maxSnapshots: n[1] };
    default:
      throw new Error(`unknown crash op ${fields.join(" ")}`);
  }
}

/** What the log holds, reduced to what the WAL returns on open. */
export class LogModel {
  /** index -> term of every stored entry */
  entries = new Map<number, number>();
  firstIndex = 0;
  lastIndex = 0;
  hsTerm = 0;
  commit = 0;
  /** ascending snapshot indexes and their terms */
  snapshots: [number, number][] = [];

  clone(): LogModel {
    const copy = new LogModel();
    copy.entries = new Map(this.entries);
    copy.firstIndex = this.firstIndex;
    copy.lastIndex = this.lastIndex;
    copy.hsTerm = this.hsTerm;
    copy.commit = this.commit;
    copy.snapshots = this.snapshots.map((s) => [s[0], s[1]]);
    return copy;
  }

  snapshotIndex(): number {
    return this.snapshots.at(-1)?.[0] ?? 0;
  }

  private dropEntries(from: number, to: number): void {
    for (let i = from; i <= to; i++) this.entries.delete(i);
  }

  apply(op: CrashOp): void {
    switch (op.kind) {
      case "save": {
        if (op.first <= this.lastIndex) this.dropEntries(op.first, this.lastIndex);
        for (let i = op.first; i <= op.last; i++) this.entries.set(i, op.term);
        if (this.firstIndex === 0 || op.first === this.firstIndex) this.firstIndex = op.first;
        this.lastIndex = op.last;
        this.hsTerm = op.hsTerm;
        this.commit = op.commit;
        return;
      }
      case "snap": {
        if (op.index > this.snapshotIndex() && this.lastIndex > 0 && this.entries.get(op.index) !== op.term) {
          this.dropEntries(this.firstIndex, this.lastIndex);
          this.firstIndex = this.lastIndex = 0;
        }
        this.snapshots = [...this.snapshots.filter((s) => s[0] !== op.index), [op.index, op.term]];
        this.snapshots.sort((a, b) => a[0] - b[0]);
        return;
      }
      case "purge": {
        const snapIndex = this.snapshotIndex();
        if (snapIndex > 0 && this.firstIndex > 0) {
          const keepFrom = Math.min(snapIndex - op.catchUpEntries, this.lastIndex + 1);
          if (keepFrom > this.firstIndex) {
            this.dropEntries(this.firstIndex, keepFrom - 1);
            if (keepFrom > this.lastIndex) this.firstIndex = this.lastIndex = 0;
            else this.firstIndex = keepFrom;
          }
        }
        this.snapshots = this.snapshots.slice(-op.maxSnapshots);
        return;
      }
    }
  }
}

/** Seeded PRNG (mulberry32): the same seed gives the same operations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
