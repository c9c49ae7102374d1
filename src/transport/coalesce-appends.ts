// One Ready of a busy leader holds one MsgApp per proposal for every follower (raft broadcasts after
// each proposal it steps) and one empty MsgApp per commit step. Sent as they are, each costs the
// follower a decode, a step and an answer, and each answer costs the leader a step that may advance
// the commit by one and broadcast again. A MsgApp that continues exactly where the previous one to the
// same member ended carries nothing the joined message does not: the follower appends the same
// entries and reaches the same commit, and its one answer for the last index acknowledges them all.
import { type Message, MessageType } from "../gen/raftpb/raft.js";

/** Entry data joined into one MsgApp at most (etcd's default MaxSizePerMsg: 1 MiB). */
export const MAX_JOINED_ENTRY_BYTES = 1024 * 1024;

function lastIndex(m: Message): number {
  return m.entries.length > 0 ? m.entries[m.entries.length - 1].index : m.index;
}

function lastTerm(m: Message): number {
  return m.entries.length > 0 ? m.entries[m.entries.length - 1].term : m.logTerm;
}

function entryBytes(m: Message): number {
  let n = 0;
  for (const e of m.entries) n += e.data.length;
  return n;
}

/** `next` appends right after `prev` (same sender, receiver and term; its log position is prev's end). */
function continues(prev: Message, next: Message): boolean {
  return (
    next.type === MessageType.MsgApp &&
    prev.type === MessageType.MsgApp &&
    next.to === prev.to &&
    next.from === prev.from &&
    next.term === prev.term &&
    next.index === lastIndex(prev) &&
    next.logTerm === lastTerm(prev) &&
    next.commit >= prev.commit &&
    next.context.length === 0 &&
    prev.context.length === 0
  );
}

/** Batches up to this many messages look up the last message to a member by scanning back, with no map. */
const SCANNED_BATCH = 16;

/** Where the last message to `to` sits in `out` (-1: none). */
function lastTo(out: readonly Message[], to: bigint): number {
  for (let i = out.length - 1; i >= 0; i--) if (out[i].to === to) return i;
  return -1;
}

/**
 * `next` continues `prev`, which carries no entries and nothing `next` does not: the two joined are
 * `next` itself (a commit notice followed by an append).
 */
function stands(prev: Message, next: Message): boolean {
  return (
    prev.entries.length === 0 &&
    continues(prev, next) &&
    prev.reject === next.reject &&
    prev.rejectHint === next.rejectHint &&
    prev.snapshot === next.snapshot &&
    entryBytes(next) <= MAX_JOINED_ENTRY_BYTES
  );
}

/** Whether some MsgApp of a small batch continues the message before it to the same member. */
function joinsSome(msgs: readonly Message[]): boolean {
  for (let j = 1; j < msgs.length; j++) {
    const m = msgs[j];
    if (m.type !== MessageType.MsgApp) continue;
    for (let i = j - 1; i >= 0; i--) {
      if (msgs[i].to !== m.to) continue;
      if (continues(msgs[i], m)) return true;
      break;
    }
  }
  return false;
}

/**
 * The messages in order, with every MsgApp that continues the previous message to the same member
 * joined into that message (entries appended, the later commit), up to MAX_JOINED_ENTRY_BYTES of
 * entry data per message. Messages to one member keep their order; the input is not changed, and is
 * what comes back when nothing joins (a leader's Ready with one append per follower: no allocation).
 */
export function coalesceAppends(msgs: readonly Message[]): readonly Message[] {
  // a stream's commit notice and the append that followed it (one client's puts): the append alone
  if (msgs.length === 2 && stands(msgs[0], msgs[1])) return [msgs[1]];
  const scanned = msgs.length <= SCANNED_BATCH;
  if (scanned && !joinsSome(msgs)) return msgs;
  const out: Message[] = [];
  // per message of `out`: its entry bytes, and whether it is a joined copy
  const bytesOf: number[] = [];
  const joined: boolean[] = [];
  // where the last message to each member sits in `out`, for a big batch
  const lastAt = scanned ? undefined : new Map<bigint, number>();
  for (const m of msgs) {
    const at = lastAt === undefined ? lastTo(out, m.to) : (lastAt.get(m.to) ?? -1);
    if (at >= 0 && continues(out[at], m)) {
      const bytes = entryBytes(m);
      if (bytesOf[at] + bytes <= MAX_JOINED_ENTRY_BYTES) {
        const prev = out[at];
        if (!joined[at] && stands(prev, m)) {
          out[at] = m;
          bytesOf[at] = bytes;
          continue;
        }
        // the first join copies: raft's own message and entry array stay as they were
        const entries = joined[at] ? prev.entries : prev.entries.slice();
        for (const e of m.entries) entries.push(e);
        // field by field in raft's order: a spread copy made the messages' map generalize its fields
        // (to, term, snapshot) when the first join came, and code optimized on raft's messages deoptimized
        out[at] = {
          type: prev.type,
          to: prev.to,
          from: prev.from,
          term: prev.term,
          logTerm: prev.logTerm,
          index: prev.index,
          entries,
          commit: m.commit,
          snapshot: prev.snapshot,
          reject: prev.reject,
          rejectHint: prev.rejectHint,
          context: prev.context,
        };
        bytesOf[at] += bytes;
        joined[at] = true;
        continue;
      }
    }
    lastAt?.set(m.to, out.length);
    bytesOf.push(entryBytes(m));
    joined.push(false);
    out.push(m);
  }
  return out;
}
