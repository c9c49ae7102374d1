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

/**
 * The messages in order, with every MsgApp that continues the previous message to the same member
 * joined into that message (entries appended, the later commit), up to MAX_JOINED_ENTRY_BYTES of
 * entry data per message. Messages to one member keep their order; the input is not changed.
 */
export function coalesceAppends(msgs: readonly Message[]): Message[] {
  const out: Message[] = [];
  // where the last message to each member sits in `out`, and its entry bytes
  const lastTo = new Map<bigint, { at: number; bytes: number; joined: boolean }>();
  for (const m of msgs) {
    const last = lastTo.get(m.to);
    if (last !== undefined && continues(out[last.at], m)) {
      const bytes = entryBytes(m);
      if (last.bytes + bytes <= MAX_JOINED_ENTRY_BYTES) {
        const prev = out[last.at];
        // the first join copies: raft's own message and entry array stay as they were
        const entries = last.joined ? prev.entries : prev.entries.slice();
        for (const e of m.entries) entries.push(e);
        out[last.at] = { ...prev, entries, commit: m.commit };
        last.bytes += bytes;
        last.joined = true;
        continue;
      }
    }
    lastTo.set(m.to, { at: out.length, bytes: entryBytes(m), joined: false });
    out.push(m);
  }
  return out;
}
