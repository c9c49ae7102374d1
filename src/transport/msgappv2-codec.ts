// The msgappv2 stream (`/raft/stream/msgapp/<id>`): only MsgApp travels here, and a MsgApp that
// continues exactly where the previous one ended is sent without its header. Both ends track the
// (term, index) the last frame ended at; these functions are pure and return the next state.
//
//   0x00                                   link heartbeat (state unchanged)
//   0x01 u64 n, n × (u64 len, Entry), u64 commit   entries continuing at state.index in state.term
//   0x02 u64 len, Message                  a full MsgApp; resets the state
import { type Entry, type Message, MessageType } from "../gen/raftpb/raft.js";
import { FrameError, type FrameResult, MAX_FRAME_BYTES, readLength, readU64, writeU64 } from "./frames.js";
import { isLinkHeartbeat, LINK_HEARTBEAT } from "./message-codec.js";
import {
  decodeEntry,
  decodeMessage,
  entrySize,
  messageSize,
  writeEntryInto,
  writeMessageInto,
} from "./raft-wire.js";

export interface MsgAppV2State {
  readonly term: number;
  readonly index: number;
}

export const INITIAL_MSGAPPV2_STATE: MsgAppV2State = { term: 0, index: 0 };

const TYPE_LINK_HEARTBEAT = 0x00;
const TYPE_APP_ENTRIES = 0x01;
const TYPE_APP = 0x02;

function afterFullApp(m: Message): MsgAppV2State {
  const last = m.entries[m.entries.length - 1];
  return { term: m.term, index: last ? last.index : m.index };
}

/** A MsgApp that continues where the last frame ended travels without its header. */
function continuesAt(state: MsgAppV2State, m: Message): boolean {
  return state.index === m.index && state.term === m.logTerm && m.logTerm === m.term;
}

function checkType(m: Message): void {
  if (m.type !== MessageType.MsgApp) throw new FrameError(`msgappv2 carries only MsgApp, not type ${m.type}`);
}

/** The bytes of the frame for one message (a MsgApp or the link heartbeat) in `state`. */
export function msgAppV2FrameSize(state: MsgAppV2State, m: Message): number {
  if (isLinkHeartbeat(m)) return 1;
  checkType(m);
  if (continuesAt(state, m)) {
    let size = 1 + 8 + 8;
    for (const e of m.entries) size += 8 + entrySize(e);
    return size;
  }
  return 1 + 8 + messageSize(m);
}

/** The encoder's state after the frame for `m`. */
export function msgAppV2StateAfter(state: MsgAppV2State, m: Message): MsgAppV2State {
  if (isLinkHeartbeat(m)) return state;
  if (continuesAt(state, m)) return { term: state.term, index: state.index + m.entries.length };
  return afterFullApp(m);
}

/**
 * Writes the frame for one message into `target` at `offset` (msgAppV2FrameSize bytes); returns the
 * end offset. The state to go on with is msgAppV2StateAfter.
 */
export function writeMsgAppV2Frame(state: MsgAppV2State, m: Message, target: Buffer, offset: number): number {
  if (isLinkHeartbeat(m)) {
    target[offset] = TYPE_LINK_HEARTBEAT;
    return offset + 1;
  }
  checkType(m);
  let at = offset;
  if (continuesAt(state, m)) {
    target[at++] = TYPE_APP_ENTRIES;
    at = writeU64(target, m.entries.length, at);
    for (const e of m.entries) {
      const start = writeU64(target, entrySize(e), at);
      at = writeEntryInto(e, target, start);
    }
    return writeU64(target, m.commit, at);
  }
  target[at++] = TYPE_APP;
  const size = messageSize(m);
  at = writeU64(target, size, at);
  return writeMessageInto(m, target, at);
}

/** The frame for one message (a MsgApp or the link heartbeat) and the encoder's next state. */
export function encodeMsgAppV2(
  state: MsgAppV2State,
  m: Message,
): { readonly bytes: Buffer; readonly state: MsgAppV2State } {
  const bytes = Buffer.allocUnsafe(msgAppV2FrameSize(state, m));
  const end = writeMsgAppV2Frame(state, m, bytes, 0);
  if (end !== bytes.length) throw new FrameError(`msgappv2 frame size ${bytes.length} but wrote ${end}`);
  return { bytes, state: msgAppV2StateAfter(state, m) };
}

export interface MsgAppV2Decoded {
  readonly message: Message;
  readonly state: MsgAppV2State;
}

/**
 * One frame from the start of `buf`. A compressed frame becomes a MsgApp from `remote` to `local`
 * at the tracked (term, index). Unknown frame types and oversized lengths throw FrameError.
 */
export function decodeMsgAppV2(
  state: MsgAppV2State,
  buf: Buffer,
  local: bigint,
  remote: bigint,
  limit: number = MAX_FRAME_BYTES,
): FrameResult<MsgAppV2Decoded> {
  if (buf.length < 1) return { done: false, need: 1 };
  const type = buf[0];
  switch (type) {
    case TYPE_LINK_HEARTBEAT:
      return { done: true, value: { message: { ...LINK_HEARTBEAT, entries: [] }, state }, size: 1 };
    case TYPE_APP_ENTRIES: {
      if (buf.length < 9) return { done: false, need: 9 };
      const n = readLength(buf, 1, limit / 8, "msgappv2 entry count");
      let offset = 9;
      const entries: Entry[] = [];
      for (let i = 0; i < n; i++) {
        if (buf.length < offset + 8) return { done: false, need: offset + 8 + 8 * (n - i) };
        const len = readLength(buf, offset, limit, "msgappv2 entry length");
        offset += 8;
        if (buf.length < offset + len) return { done: false, need: offset + len + 8 * (n - i) };
        entries.push(decodeEntryFrame(buf.subarray(offset, offset + len)));
        offset += len;
      }
      if (buf.length < offset + 8) return { done: false, need: offset + 8 };
      const commit = readU64(buf, offset);
      offset += 8;
      const message: Message = {
        type: MessageType.MsgApp,
        to: local,
        from: remote,
        term: state.term,
        logTerm: state.term,
        index: state.index,
        entries,
        commit,
        snapshot: undefined,
        reject: false,
        rejectHint: 0,
        context: NO_CONTEXT,
      };
      return {
        done: true,
        value: { message, state: { term: state.term, index: state.index + n } },
        size: offset,
      };
    }
    case TYPE_APP: {
      if (buf.length < 9) return { done: false, need: 9 };
      const len = readLength(buf, 1, limit, "msgappv2 message length");
      if (buf.length < 9 + len) return { done: false, need: 9 + len };
      const message = wrap(() => decodeMessage(buf.subarray(9, 9 + len)));
      return { done: true, value: { message, state: afterFullApp(message) }, size: 9 + len };
    }
    default:
      throw new FrameError(`failed to parse type ${type} in msgappv2 stream`);
  }
}

/** The context of a MsgApp sent without its header: empty, one buffer for all (nobody writes into it). */
const NO_CONTEXT = Buffer.alloc(0);

/** An entry of a headerless MsgApp; what does not decode ends the stream. */
function decodeEntryFrame(bytes: Buffer): Entry {
  try {
    return decodeEntry(bytes);
  } catch (err) {
    throw new FrameError((err as Error).message);
  }
}

function wrap<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw new FrameError((err as Error).message);
  }
}
