/**
 * The operations the crash writer performs and a model of the log they produce. The writer prints
 * each operation before issuing it ("I ...") and after it resolved ("A ..."); the test replays the
 * same lines through this model to know exactly which states a reopened WAL may be in.
 */
import { Entry, EntryType, HardState, Snapshot } from "../../src/gen/raftpb/raft.js";
import type { WAL, WalContents } from "../../src/wal/index.js";
import { mulberry32 } from "../seeded-random.js";
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

  /** The entries of a save from its first index up to `last`, replacing any stored from its first on. */
  applyEntries(op: Extract<CrashOp, { kind: "save" }>, last: number): void {
    if (op.first <= this.lastIndex) this.dropEntries(op.first, this.lastIndex);
    for (let i = op.first; i <= last; i++) this.entries.set(i, op.term);
    if (this.firstIndex === 0 || op.first === this.firstIndex) this.firstIndex = op.first;
    this.lastIndex = last;
  }

  private dropEntries(from: number, to: number): void {
    for (let i = from; i <= to; i++) this.entries.delete(i);
  }

  apply(op: CrashOp): void {
    switch (op.kind) {
      case "save": {
        this.applyEntries(op, op.last);
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

/**
 * The state a save leaves when a kill cut its write short: its entries up to `last` (whole records; a
 * record cut in two is dropped on open) and the hard state before it, which comes after them. The
 * kernel may end a buffered write early when a fatal signal is pending (between the pages it copies),
 * so one write system call is not all or nothing under SIGKILL; etcd's WAL reads such a log the same
 * way. Raft loses nothing by it: the save was not acknowledged, and its hard state, never ahead of its
 * entries, is simply not there yet.
 */
export function partlySaved(model: LogModel, op: Extract<CrashOp, { kind: "save" }>, last: number): LogModel {
  const copy = model.clone();
  copy.applyEntries(op, last);
  return copy;
}

/** Seeded PRNG: the same seed gives the same operations. */
export const prng = mulberry32;

/** Describes how the reopened WAL differs from a model state, or undefined when it matches. */
export function differenceFromModel(opened: WalContents & { wal: WAL }, model: LogModel): string | undefined {
  const [snapIndex, snapTerm] = model.snapshots.at(-1) ?? [0, 0];
  // Entries kept for catch-up before the snapshot are not returned, but purge must leave the right ones.
  if (opened.wal.firstIndex() !== model.firstIndex) {
    return `first stored index ${opened.wal.firstIndex()}, expected ${model.firstIndex}`;
  }
  const meta = opened.snapshot?.metadata;
  if ((meta?.index ?? 0) !== snapIndex || (meta?.term ?? 0) !== snapTerm) {
    return `snapshot ${meta?.index}/${meta?.term}, expected ${snapIndex}/${snapTerm}`;
  }
  if (opened.snapshot !== undefined && !opened.snapshot.data.equals(snapshotData(snapIndex))) {
    return `snapshot ${snapIndex} data differs`;
  }
  if (opened.hardState.term !== model.hsTerm || opened.hardState.commit !== model.commit) {
    return `hard state term ${opened.hardState.term} commit ${opened.hardState.commit}, expected ${model.hsTerm}/${model.commit}`;
  }
  const expected = [...model.entries.entries()].filter(([i]) => i > snapIndex).sort((a, b) => a[0] - b[0]);
  if (opened.entries.length !== expected.length) {
    return `${opened.entries.length} entries after the snapshot, expected ${expected.length}`;
  }
  for (let k = 0; k < expected.length; k++) {
    const [index, term] = expected[k];
    const e = opened.entries[k];
    if (e.index !== index || e.term !== term)
      return `entry #${k} is ${e.index}/${e.term}, expected ${index}/${term}`;
    if (!e.data.equals(crashPayload(index, term))) return `entry ${index} data differs`;
  }
  return undefined;
}

/** Where the log stands when a planner starts: from an opened WAL, or empty. */
export interface PlanStart {
  readonly entries: readonly { index: number; term: number }[];
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  readonly lastIndex: number;
  readonly hsTerm: number;
  readonly commit: number;
}

export function planStartOf(opened: WalContents, lastIndex: number): PlanStart {
  return {
    entries: opened.entries,
    snapshotIndex: opened.snapshot?.metadata?.index ?? 0,
    snapshotTerm: opened.snapshot?.metadata?.term ?? 0,
    lastIndex,
    hsTerm: opened.hardState.term,
    commit: opened.hardState.commit,
  };
}

/**
 * Chooses operations the way a Raft member issues them: mostly appends with a lagging commit,
 * sometimes a new leader overwriting an uncommitted suffix, a snapshot at the commit index, a purge.
 * It tracks the log as planned after every operation it returned (issued in that order).
 */
export class OpPlanner {
  private readonly terms: Map<number, number>;
  private snapshotIndex: number;
  private lastIndex: number;
  private term: number;
  private commit: number;

  constructor(
    private readonly random: () => number,
    start: PlanStart,
  ) {
    this.terms = new Map(start.entries.map((e) => [e.index, e.term]));
    this.snapshotIndex = start.snapshotIndex;
    this.lastIndex = start.lastIndex;
    this.term = Math.max(start.hsTerm, start.entries.at(-1)?.term ?? start.snapshotTerm, 1);
    this.commit = start.commit;
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  next(): CrashOp {
    const op = this.choose();
    if (op.kind === "save") {
      for (let i = op.first; i <= this.lastIndex; i++) this.terms.delete(i);
      for (let i = op.first; i <= op.last; i++) this.terms.set(i, op.term);
      this.lastIndex = op.last;
      this.term = op.hsTerm;
      this.commit = op.commit;
    } else if (op.kind === "snap") {
      this.snapshotIndex = op.index;
    }
    return op;
  }

  private choose(): CrashOp {
    const roll = this.random();
    if (roll < 0.05 && this.commit > this.snapshotIndex) {
      return { kind: "snap", index: this.commit, term: this.terms.get(this.commit)! };
    }
    if (roll < 0.08) return { kind: "purge", catchUpEntries: this.int(0, 40), maxSnapshots: this.int(1, 3) };
    let first = this.lastIndex + 1;
    let entryTerm = this.term;
    const floor = Math.max(this.commit, this.snapshotIndex);
    if (roll < 0.16 && this.lastIndex > floor) {
      // A new leader overwrites an uncommitted suffix.
      entryTerm = this.term + 1;
      first = this.int(floor + 1, this.lastIndex);
    }
    const last = first + this.int(0, 31);
    const commit = this.int(this.commit, Math.max(this.commit, first - 1));
    return { kind: "save", first, last, term: entryTerm, hsTerm: entryTerm, commit };
  }
}

/** Performs one operation on a WAL; resolves when it is durable. */
export function issueOp(wal: WAL, op: CrashOp): Promise<void> {
  if (op.kind === "save") {
    const entries: Entry[] = [];
    for (let i = op.first; i <= op.last; i++) {
      entries.push(
        Entry.fromPartial({
          type: EntryType.EntryNormal,
          index: i,
          term: op.term,
          data: crashPayload(i, op.term),
        }),
      );
    }
    return wal.save(HardState.fromPartial({ term: op.hsTerm, vote: 1n, commit: op.commit }), entries);
  }
  if (op.kind === "snap") {
    const snap = Snapshot.fromPartial({
      data: snapshotData(op.index),
      metadata: { index: op.index, term: op.term, confState: { voters: [1n] } },
    });
    return wal.saveSnapshot(snap);
  }
  return wal
    .purge({ catchUpEntries: op.catchUpEntries, maxSnapshots: op.maxSnapshots })
    .then(() => undefined);
}
