// The message stream (`/raft/stream/message/<id>`) and the head of a snapshot body: each frame is
// a big-endian uint64 length followed by one raft message in etcd's layout.
import { type Message, MessageType } from "../gen/raftpb/raft.js";
import { FrameError, type FrameResult, MAX_FRAME_BYTES, readLength } from "./frames.js";
import { decodeMessage, emptyMessage, messageSize, RaftWireError, writeMessageInto } from "./raft-wire.js";

/** The keep-alive every stream writer sends: a MsgHeartbeat with every other field zero. */
export const LINK_HEARTBEAT: Message = emptyMessage(MessageType.MsgHeartbeat);

/** Receivers drop a heartbeat whose From and To are both 0: it only keeps the stream alive. */
export function isLinkHeartbeat(m: Message): boolean {
  return m.type === MessageType.MsgHeartbeat && m.from === 0n && m.to === 0n;
}

export function encodeMessageFrame(m: Message): Buffer {
  const size = messageSize(m);
  const buf = Buffer.allocUnsafe(8 + size);
  buf.writeBigUInt64BE(BigInt(size), 0);
  const end = writeMessageInto(m, buf, 8);
  if (end !== buf.length) throw new RaftWireError(`message size ${size} but wrote ${end - 8}`);
  return buf;
}

/** One length-prefixed message from the start of `buf`; frames above `limit` bytes are an error. */
export function decodeMessageFrame(buf: Buffer, limit: number = MAX_FRAME_BYTES): FrameResult<Message> {
  if (buf.length < 8) return { done: false, need: 8 };
  const len = readLength(buf, 0, limit, "raft message length");
  if (buf.length < 8 + len) return { done: false, need: 8 + len };
  try {
    return { done: true, value: decodeMessage(buf.subarray(8, 8 + len)), size: 8 + len };
  } catch (err) {
    throw new FrameError((err as Error).message);
  }
}
