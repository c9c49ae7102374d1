/**
 * Small helpers for the Raft paper tests: a raft node over a MemoryStorage holding a given log, messages with
 * only the fields a test cares about, and an in-process network that delivers until quiet (with cut links).
 */
import {
  ConfChangeType,
  ConfChangeV2,
  type Entry,
  EntryType,
  Message,
  type MessageType,
} from "../../../src/gen/raftpb/raft.js";
import {
  discardLogger,
  MemoryStorage,
  ProposalDroppedError,
  Raft,
  type ReadOnlyOption,
  SeededRand,
} from "./raft-api.js";

export const ELECTION = 10;
export const HEARTBEAT = 1;

export interface RaftOptions {
  /** Log to start from: terms of entries 1..n. */
  logTerms?: number[];
  term?: number;
  vote?: bigint;
  commit?: number;
  learners?: bigint[];
  preVote?: boolean;
  checkQuorum?: boolean;
  readOnlyOption?: ReadOnlyOption;
  seed?: number;
}

export function entry(index: number, term: number, data = ""): Entry {
  return { type: EntryType.EntryNormal, index, term, data: Buffer.from(data) };
}

/** A raft node with id `id`, the given voters (and learners), and optionally a pre-existing log. */
export function newRaft(id: bigint, voters: bigint[], o: RaftOptions = {}): Raft {
  const storage = new MemoryStorage();
  const terms = o.logTerms ?? [];
  storage.append(terms.map((t, i) => entry(i + 1, t)));
  if (o.term !== undefined || o.vote !== undefined || o.commit !== undefined) {
    storage.setHardState({ term: o.term ?? 0, vote: o.vote ?? 0n, commit: o.commit ?? 0 });
  }
  const r = new Raft({
    id,
    electionTick: ELECTION,
    heartbeatTick: HEARTBEAT,
    storage,
    maxInflightMsgs: 256,
    maxSizePerMsg: Number.POSITIVE_INFINITY,
    preVote: o.preVote ?? false,
    checkQuorum: o.checkQuorum ?? false,
    readOnlyOption: o.readOnlyOption,
    logger: discardLogger,
    rand: new SeededRand(o.seed ?? Number(id)),
  });
  // One member per change: a simple change may touch one voter at a time.
  for (const v of voters) {
    r.applyConfChange(
      ConfChangeV2.fromPartial({ changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: v }] }),
    );
  }
  for (const l of o.learners ?? []) {
    r.applyConfChange(
      ConfChangeV2.fromPartial({ changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: l }] }),
    );
  }
  return r;
}

export interface MsgFields {
  type: MessageType;
  from?: bigint;
  to?: bigint;
  term?: number;
  logTerm?: number;
  index?: number;
  commit?: number;
  entries?: Entry[];
  reject?: boolean;
  rejectHint?: number;
  context?: Buffer;
}

export function msg(f: MsgFields): Message {
  const m = Message.fromPartial({});
  return { ...m, ...f, entries: f.entries ?? [], context: f.context ?? Buffer.alloc(0) };
}

/** Takes (and clears) the messages a node queued. */
export function takeMessages(r: Raft): Message[] {
  const out = r.msgs;
  r.msgs = [];
  return out;
}

/** The terms of a node's whole log (stable and unstable), index 1 first. */
export function logTerms(r: Raft): number[] {
  const out: number[] = [];
  for (let i = r.raftLog.firstIndex(); i <= r.raftLog.lastIndex(); i++) out.push(r.raftLog.term(i));
  return out;
}

export function tickTimes(r: Raft, n: number): void {
  for (let i = 0; i < n; i++) r.tick();
}

/** Steps a message, ignoring a dropped proposal (as a server does). */
export function stepQuiet(r: Raft, m: Message): void {
  try {
    r.step(m);
  } catch (err) {
    if (!(err instanceof ProposalDroppedError)) throw err;
  }
}

/** Nodes exchanging messages in process; `cut(a, b)` drops everything between a and b. */
export class Network {
  readonly nodes = new Map<bigint, Raft>();
  private readonly cuts = new Set<string>();

  constructor(nodes: Raft[]) {
    for (const r of nodes) this.nodes.set(r.id, r);
  }

  node(id: bigint): Raft {
    const r = this.nodes.get(id);
    if (r === undefined) throw new Error(`no node ${id}`);
    return r;
  }

  cut(a: bigint, b: bigint): void {
    this.cuts.add(`${a}-${b}`).add(`${b}-${a}`);
  }

  isolate(id: bigint): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  heal(): void {
    this.cuts.clear();
  }

  /** Steps the messages and everything they cause, until no message is left. */
  send(...first: Message[]): void {
    const queue = [...first];
    while (queue.length > 0) {
      const m = queue.shift()!;
      const to = this.nodes.get(m.to);
      if (to === undefined || this.cuts.has(`${m.from}-${m.to}`)) continue;
      stepQuiet(to, m);
      for (const r of this.nodes.values()) queue.push(...takeMessages(r));
    }
  }

  /** Makes `id` campaign and delivers everything. */
  campaign(id: bigint): void {
    this.send(msg({ type: 0 as MessageType, from: id, to: id }));
  }

  propose(id: bigint, data: string): void {
    this.send(msg({ type: 2 as MessageType, from: id, to: id, entries: [entry(0, 0, data)] }));
  }

  /** Ticks every node once and delivers what that causes. */
  tickAll(): void {
    for (const r of this.nodes.values()) r.tick();
    const out: Message[] = [];
    for (const r of this.nodes.values()) out.push(...takeMessages(r));
    this.send(...out);
  }
}
