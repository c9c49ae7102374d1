// Small helpers shared by the raft core: message classification, emptiness tests,
// entry sizes and size-limited slicing.
import {
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  MessageType,
  type Snapshot,
} from "../gen/raftpb/raft.js";

/** Placeholder node id meaning "no node" (no leader, no vote). */
export const None = 0n;

/** A size limit that never triggers (etcd's math.MaxUint64). */
export const noLimit = Number.POSITIVE_INFINITY;

/** Shared empty payload, so that empty entries do not each allocate a buffer. */
export const emptyBuffer: Buffer = Buffer.alloc(0);

/** Messages that only make sense inside one node and must never arrive from the network. */
export function isLocalMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgHup ||
    t === MessageType.MsgBeat ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgSnapStatus ||
    t === MessageType.MsgCheckQuorum
  );
}

/** Messages that answer a request of the leader/candidate (they need a known sender). */
export function isResponseMsg(t: MessageType): boolean {
  return (
    t === MessageType.MsgAppResp ||
    t === MessageType.MsgVoteResp ||
    t === MessageType.MsgHeartbeatResp ||
    t === MessageType.MsgUnreachable ||
    t === MessageType.MsgPreVoteResp
  );
}

/** The response type that answers a (pre-)vote request. */
export function voteRespMsgType(t: MessageType): MessageType {
  if (t === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (t === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new Error(`not a vote message: ${MessageType[t]}`);
}

export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptyHardState(hs: HardState | undefined): boolean {
  return hs === undefined || (hs.term === 0 && hs.vote === None && hs.commit === 0);
}

/** A snapshot is empty when it describes no log position. */
export function isEmptySnap(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata === undefined || s.metadata.index === 0;
}

/** Whether the hard state change and the new entries must be fsynced before continuing. */
export function mustSync(hs: HardState, prev: HardState, entryCount: number): boolean {
  return entryCount !== 0 || hs.vote !== prev.vote || hs.term !== prev.term;
}

/** The user payload size of an entry, which the uncommitted-size limit counts. */
export function payloadSize(e: Entry): number {
  return e.data.length;
}

/** The bytes a protobuf varint of a non-negative safe integer takes. */
export function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** The encoded size of an entry as etcd's gogo-protobuf computes it (message size limits use it). */
export function entrySize(e: Entry): number {
  return encodedEntrySize(e.type, e.term, e.index, e.data.length);
}

/** entrySize of an entry given by its fields and the length of its data. */
export function encodedEntrySize(type: number, term: number, index: number, dataLength: number): number {
  let n = 3 + varintSize(type) + varintSize(term) + varintSize(index);
  if (dataLength > 0) n += 1 + dataLength + varintSize(dataLength);
  return n;
}

/**
 * Truncates `ents` in place so that its encoded size stays within `maxSize`; at least one entry is
 * always kept. Only call this on an array the caller owns.
 */
/**
 * How many entries of arr[start, end) fit in `budget` encoded bytes, counting `used` bytes already
 * taken; when `atLeastOne`, the first entry is taken whatever its size. Lets callers copy only what
 * they will send instead of a whole range.
 */
export function countWithinSize(
  arr: readonly Entry[],
  start: number,
  end: number,
  budget: number,
  used: number,
  atLeastOne: boolean,
): number {
  if (budget === noLimit) return end - start;
  let size = used;
  let k = start;
  for (; k < end; k++) {
    size += entrySize(arr[k]);
    if (size > budget && !(atLeastOne && k === start)) break;
  }
  return k - start;
}

export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  if (ents.length === 0 || maxSize === noLimit) return ents;
  let size = entrySize(ents[0]);
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += entrySize(ents[limit]);
    if (size > maxSize) break;
  }
  if (limit < ents.length) ents.length = limit;
  return ents;
}

function sortedIds(ids: readonly bigint[]): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function sameIds(a: readonly bigint[], b: readonly bigint[]): boolean {
  if (a.length !== b.length) return false;
  const sa = sortedIds(a);
  const sb = sortedIds(b);
  for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return false;
  return true;
}

/** Whether two ConfStates describe the same configuration, ignoring the order of ids. */
export function confStatesEquivalent(a: ConfState, b: ConfState): boolean {
  return (
    sameIds(a.voters, b.voters) &&
    sameIds(a.learners, b.learners) &&
    sameIds(a.votersOutgoing, b.votersOutgoing) &&
    sameIds(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

/** An empty, normal entry (what a refused conf change and a new leader's first entry become). */
export function emptyEntry(): Entry {
  return { type: EntryType.EntryNormal, term: 0, index: 0, data: emptyBuffer };
}

/** An empty ConfState. */
export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** An empty snapshot (index 0). */
export function emptySnapshot(): Snapshot {
  return { data: emptyBuffer, metadata: { confState: emptyConfState(), index: 0, term: 0 } };
}
