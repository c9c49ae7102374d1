// The message stream (`/raft/stream/message/<id>`) and the head of a snapshot body: each frame is
// a big-endian uint64 length followed by one raft message in etcd's layout.
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { FrameError, type FrameResult, MAX_FRAME_BYTES, readLength, writeU64 } from "./frames.js";
import { decodeMessageAt, emptyMessage, messageSize, RaftWireError, writeMessageInto } from "./raft-wire.js";

/** The keep-alive every stream writer sends: a MsgHeartbeat with every other field zero. */
export const LINK_HEARTBEAT: Message = emptyMessage(MessageType.MsgHeartbeat);

/** Receivers drop a heartbeat whose From and To are both 0: it only keeps the stream alive. */
export function isLinkHeartbeat(m: Message): boolean {
  return m.type === MessageType.MsgHeartbeat && m.from === 0n && m.to === 0n;
}

/** The bytes of a message's frame: its length and the message. */
export function messageFrameSize(m: Message): number {
  return 8 + messageSize(m);
}

/** Writes a message's frame into `target` at `offset`; returns the end offset. */
export function writeMessageFrame(m: Message, target: Buffer, offset: number): number {
  const size = messageSize(m);
  const start = writeU64(target, size, offset);
  const end = writeMessageInto(m, target, start);
  if (end !== start + size) throw new RaftWireError(`message size ${size} but wrote ${end - start}`);
  return end;
}

export function encodeMessageFrame(m: Message): Buffer {
  const buf = Buffer.allocUnsafe(messageFrameSize(m));
  writeMessageFrame(m, buf, 0);
  return buf;
}

/** One length-prefixed message from the start of `buf`; frames above `limit` bytes are an error. */
export function decodeMessageFrame(buf: Buffer, limit: number = MAX_FRAME_BYTES): FrameResult<Message> {
  if (buf.length < 8) return { done: false, need: 8 };
  const len = readLength(buf, 0, limit, "raft message length");
  if (buf.length < 8 + len) return { done: false, need: 8 + len };
  try {
    return { done: true, value: decodeMessageAt(buf, 8, 8 + len), size: 8 + len };
  } catch (err) {
    throw new FrameError((err as Error).message);
  }
}
