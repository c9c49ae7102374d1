// A raft entry's frame written in one pass: the entry's protobuf encoding (byte for byte what the
// generated Entry.encode gives) goes straight into the frame's buffer. The generated encoder converts
// every number to a BigInt, grows a writer from a few bytes, copies the result out, and the frame
// copied that again; this runs once per proposed entry on the leader.
import { Entry } from "../gen/raftpb/raft.js";
import { closeFrame, encodeFrame, FRAME_HEADER_BYTES, FrameKind } from "./frame.js";
import { varintLength, writeVarint } from "./varint.js";

/** Field tags (field number << 3 | wire type) of raftpb.Entry. */
const TYPE_TAG = 0x08;
const TERM_TAG = 0x10;
const INDEX_TAG = 0x18;
const DATA_TAG = 0x22;

/** Numbers the one-pass encoding writes as the generated encoder does: non-negative safe integers. */
const plain = (n: number) => Number.isSafeInteger(n) && n >= 0;

/** The WAL frame of `entry` (encodeFrame of Entry.encode's bytes). */
export function encodeEntryFrame(entry: Entry): Buffer {
  const { type, term, index, data } = entry;
  // anything else (a negative enum is a 10-byte varint, a bad number an encoder error) takes the generated path
  if (!plain(type) || type > 0x7f || !plain(term) || !plain(index)) {
    return encodeFrame(FrameKind.entry, Entry.encode(entry).finish());
  }
  let size = 0;
  if (type !== 0) size += 2;
  if (term !== 0) size += 1 + varintLength(term);
  if (index !== 0) size += 1 + varintLength(index);
  if (data.length !== 0) size += 1 + varintLength(data.length) + data.length;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + size);
  let at = FRAME_HEADER_BYTES;
  if (type !== 0) {
    out[at++] = TYPE_TAG;
    out[at++] = type;
  }
  if (term !== 0) {
    out[at++] = TERM_TAG;
    at = writeVarint(out, at, term);
  }
  if (index !== 0) {
    out[at++] = INDEX_TAG;
    at = writeVarint(out, at, index);
  }
  if (data.length !== 0) {
    out[at++] = DATA_TAG;
    at = writeVarint(out, at, data.length);
    out.set(data, at);
  }
  return closeFrame(out, FrameKind.entry);
}
