import { crc32 } from "node:zlib";

/**
 * Framing of the records in a segment file:
 *
 *   length (u32 LE, bytes of kind + payload) | crc32 (u32 LE, over length, kind and payload) | kind | payload
 *
 * Segments are filled with zeros before use, so a length of zero marks the end of what was written.
 * The checksum covers the length as well: a damaged length cannot silently re-frame what follows.
 */
export const FrameKind = {
  /** First record of every segment: the state the segment starts from (segment-header.ts). */
  header: 0x57,
  /** raftpb.Entry */
  entry: 0x45,
  /** raftpb.HardState */
  hardState: 0x48,
  /** A snapshot became the base of the log (markers.ts); its data is in a snapshot file. */
  snapshot: 0x53,
  /** Entries before an index were dropped (markers.ts). */
  purge: 0x50,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

export const FRAME_HEADER_BYTES = 9;
/** A disk writes a sector whole or not at all: a torn write leaves whole sectors of zeros. */
const SECTOR_BYTES = 512;
const ZEROS = Buffer.alloc(64 * 1024);

/** The length field's bytes, copied here for its checksum instead of a view made per frame. */
const lengthBytes = Buffer.alloc(4);

function checksum(frame: Uint8Array): number {
  lengthBytes[0] = frame[0];
  lengthBytes[1] = frame[1];
  lengthBytes[2] = frame[2];
  lengthBytes[3] = frame[3];
  return crc32(frame.subarray(8), crc32(lengthBytes));
}

export function encodeFrame(kind: FrameKind, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return closeFrame(out, kind);
}

/** Fills in the header of a frame whose payload is already written from FRAME_HEADER_BYTES to its end. */
export function closeFrame(out: Buffer, kind: FrameKind): Buffer {
  out.writeUInt32LE(out.length - FRAME_HEADER_BYTES + 1, 0);
  out[8] = kind;
  out.writeUInt32LE(checksum(out), 4);
  return out;
}

export type FrameRead =
  | { readonly type: "frame"; readonly kind: number; readonly payload: Buffer; readonly end: number }
  | { readonly type: "end" }
  /** `torn`: the damage looks like a write cut short; `end` is where the next record would start. */
  | {
      readonly type: "bad";
      readonly problem: string;
      readonly torn: boolean;
      readonly end: number | undefined;
    };

const END: FrameRead = { type: "end" };

/** True when buf[from, to) holds only zeros. */
export function isZero(buf: Buffer, from: number, to: number): boolean {
  for (let at = from; at < to; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, to - at);
    if (!buf.subarray(at, at + n).equals(ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** Offset just past the last non-zero byte at or after `from`, or `from` when there is none. */
export function nonZeroEnd(buf: Buffer, from: number): number {
  let to = buf.length;
  while (to > from) {
    const at = Math.max(from, to - ZEROS.length);
    if (!isZero(buf, at, to)) {
      for (let k = to - 1; k >= at; k--) if (buf[k] !== 0) return k + 1;
    }
    to = at;
  }
  return from;
}

/** Some sector of buf[from, to) (by file offset) is all zeros: that part of the write never reached the disk. */
function hasZeroSector(buf: Buffer, from: number, to: number): boolean {
  for (let at = from; at < to; ) {
    const next = Math.min(to, (Math.floor(at / SECTOR_BYTES) + 1) * SECTOR_BYTES);
    if (isZero(buf, at, next)) return true;
    at = next;
  }
  return false;
}

/** Reads the record at `offset` of a whole segment file held in `buf`. */
export function readFrame(buf: Buffer, offset: number): FrameRead {
  const left = buf.length - offset;
  if (left <= 0) return END;
  if (left < FRAME_HEADER_BYTES) {
    if (isZero(buf, offset, buf.length)) return END;
    return { type: "bad", problem: `record at offset ${offset} is cut short`, torn: true, end: undefined };
  }
  const length = buf.readUInt32LE(offset);
  if (length === 0) return END;
  const end = offset + FRAME_HEADER_BYTES - 1 + length;
  if (end > buf.length) {
    return {
      type: "bad",
      problem: `record at offset ${offset} (${length} bytes) runs past the end of the file`,
      torn: true,
      end: undefined,
    };
  }
  const frame = buf.subarray(offset, end);
  if (frame.readUInt32LE(4) !== checksum(frame)) {
    return {
      type: "bad",
      problem: `checksum mismatch in the record at offset ${offset}`,
      torn: hasZeroSector(buf, offset + 4, end),
      end,
    };
  }
  return { type: "frame", kind: frame[8], payload: frame.subarray(FRAME_HEADER_BYTES), end };
}
