// The msgappv2 stream (`/raft/stream/msgapp/<id>`): only MsgApp travels here, and a MsgApp that
// continues exactly where the previous one ended is sent without its header. Both ends track the
// (term, index) the last frame ended at: the functions here are pure and return the next state; a
// stream's MsgAppV2Reader keeps it.
//
//   0x00                                   link heartbeat (state unchanged)
//   0x01 u64 n, n × (u64 len, Entry), u64 commit   entries continuing at state.index in state.term
//   0x02 u64 len, Message                  a full MsgApp; resets the state
import { type Entry, type Message, MessageType } from "../gen/raftpb/raft.js";
import { FrameError, type FrameResult, MAX_FRAME_BYTES, readLength, readU64, writeU64 } from "./frames.js";
import { isLinkHeartbeat, LINK_HEARTBEAT } from "./message-codec.js";
import {
  decodeEntryAt,
  decodeMessageAt,
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
  const reader = new MsgAppV2Reader(local, remote, limit);
  reader.term = state.term;
  reader.index = state.index;
  const r = reader.decode(buf);
  if (!r.done) return r;
  const next = reader.term === state.term && reader.index === state.index ? state : reader.state;
  return { done: true, value: { message: r.value, state: next }, size: r.size };
}

/**
 * The receiving end of one msgappv2 stream: decodes frame after frame, keeping the (term, index) the
 * last one ended at. A follower decodes one frame per append; a fresh state and two result objects for
 * each (decodeMsgAppV2's answer) were garbage of every put.
 */
export class MsgAppV2Reader {
  term = INITIAL_MSGAPPV2_STATE.term;
  index = INITIAL_MSGAPPV2_STATE.index;

  constructor(
    private readonly local: bigint,
    private readonly remote: bigint,
    private readonly limit: number = MAX_FRAME_BYTES,
  ) {}

  get state(): MsgAppV2State {
    return { term: this.term, index: this.index };
  }

  /** One frame from the start of `buf` (a FrameReader's decoder). */
  readonly decode = (buf: Buffer): FrameResult<Message> => {
    if (buf.length < 1) return NEED_TYPE;
    const type = buf[0];
    switch (type) {
      case TYPE_LINK_HEARTBEAT:
        return { done: true, value: { ...LINK_HEARTBEAT, entries: [] }, size: 1 };
      case TYPE_APP_ENTRIES:
        return this.entries(buf);
      case TYPE_APP: {
        if (buf.length < 9) return { done: false, need: 9 };
        const len = readLength(buf, 1, this.limit, "msgappv2 message length");
        if (buf.length < 9 + len) return { done: false, need: 9 + len };
        const message = wrap(() => decodeMessageAt(buf, 9, 9 + len));
        const last = message.entries[message.entries.length - 1];
        this.term = message.term;
        this.index = last ? last.index : message.index;
        return { done: true, value: message, size: 9 + len };
      }
      default:
        throw new FrameError(`failed to parse type ${type} in msgappv2 stream`);
    }
  };

  /** Entries continuing at the tracked (term, index), without the message's header. */
  private entries(buf: Buffer): FrameResult<Message> {
    const limit = this.limit;
    if (buf.length < 9) return { done: false, need: 9 };
    const n = readLength(buf, 1, limit / 8, "msgappv2 entry count");
    let offset = 9;
    // measured before anything is decoded: a frame still arriving costs no entries decoded again
    for (let i = 0; i < n; i++) {
      if (buf.length < offset + 8) return { done: false, need: offset + 8 + 8 * (n - i) };
      const len = readLength(buf, offset, limit, "msgappv2 entry length");
      offset += 8;
      if (buf.length < offset + len) return { done: false, need: offset + len + 8 * (n - i) };
      offset += len;
    }
    if (buf.length < offset + 8) return { done: false, need: offset + 8 };
    // pushed, not preallocated: a holey array would be a second elements kind in raft's code
    const entries: Entry[] = [];
    let at = 9;
    for (let i = 0; i < n; i++) {
      const len = readU64(buf, at);
      at += 8;
      entries.push(decodeEntryFrame(buf, at, at + len));
      at += len;
    }
    const commit = readU64(buf, offset);
    const term = this.term;
    const message: Message = {
      type: MessageType.MsgApp,
      to: this.local,
      from: this.remote,
      term,
      logTerm: term,
      index: this.index,
      entries,
      commit,
      snapshot: undefined,
      reject: false,
      rejectHint: 0,
      context: NO_CONTEXT,
    };
    this.index += n;
    return { done: true, value: message, size: offset + 8 };
  }
}

/** What a reader answers for an empty buffer. */
const NEED_TYPE: FrameResult<never> = Object.freeze({ done: false, need: 1 });

/** The context of a MsgApp sent without its header: empty, one buffer for all (nobody writes into it). */
const NO_CONTEXT = Buffer.alloc(0);

/** An entry of a headerless MsgApp, in place in its frame; what does not decode ends the stream. */
function decodeEntryFrame(bytes: Buffer, start: number, end: number): Entry {
  try {
    return decodeEntryAt(bytes, start, end);
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
