import { readU64, writeU64 } from "./u64.js";

/**
 * The first record of every segment: which layout wrote it, the WAL's metadata and the state of the
 * log when the segment was started, so that replay can begin at any segment once older ones are
 * purged. Entries are not repeated: those still live are in this segment or later ones.
 *
 *   schema (u32 BE) | seq | snapshotIndex | snapshotTerm | firstIndex | lastIndex | lastTerm (u64 LE each)
 *   | metadata length (u32 LE) | metadata | hard state length (u32 LE) | raftpb.HardState
 *
 * The schema comes first, as in every layout since the first, so that a later one is refused by number.
 */
export const SCHEMA_VERSION = 2;

export interface LogSummary {
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  /** First and last stored entry, 0 when there is none. */
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface SegmentHeader extends LogSummary {
  readonly schema: number;
  readonly seq: number;
  readonly metadata: Buffer;
  /** The last hard state written before the segment (protobuf; empty when none). */
  readonly hardState: Buffer;
}

const FIXED_BYTES = 4 + 6 * 8;

export function encodeHeader(header: SegmentHeader): Buffer {
  const { metadata, hardState } = header;
  const out = Buffer.alloc(FIXED_BYTES + 4 + metadata.length + 4 + hardState.length);
  out.writeUInt32BE(header.schema, 0);
  const numbers = [
    header.seq,
    header.snapshotIndex,
    header.snapshotTerm,
    header.firstIndex,
    header.lastIndex,
    header.lastTerm,
  ];
  numbers.forEach((value, k) => {
    writeU64(out, value, 4 + k * 8);
  });
  let at = FIXED_BYTES;
  out.writeUInt32LE(metadata.length, at);
  out.set(metadata, at + 4);
  at += 4 + metadata.length;
  out.writeUInt32LE(hardState.length, at);
  out.set(hardState, at + 4);
  return out;
}

export function headerSchema(payload: Buffer): number | undefined {
  return payload.length >= 4 ? payload.readUInt32BE(0) : undefined;
}

/** The header, or why the payload is not one. */
export function decodeHeader(payload: Buffer): SegmentHeader | string {
  if (payload.length < FIXED_BYTES + 8) return `segment header is truncated (${payload.length} bytes)`;
  const numbers: number[] = [];
  for (let k = 0; k < 6; k++) {
    const value = readU64(payload, 4 + k * 8);
    if (value === undefined) return "segment header holds a number beyond 2^53";
    numbers.push(value);
  }
  let at = FIXED_BYTES;
  const metadataLength = payload.readUInt32LE(at);
  if (at + 4 + metadataLength + 4 > payload.length) return "segment header has a malformed metadata length";
  const metadata = Buffer.from(payload.subarray(at + 4, at + 4 + metadataLength));
  at += 4 + metadataLength;
  const hardStateLength = payload.readUInt32LE(at);
  if (at + 4 + hardStateLength !== payload.length) return "segment header has a malformed hard state length";
  const hardState = Buffer.from(payload.subarray(at + 4));
  const [seq, snapshotIndex, snapshotTerm, firstIndex, lastIndex, lastTerm] = numbers;
  return {
    schema: payload.readUInt32BE(0),
    seq,
    metadata,
    hardState,
    snapshotIndex,
    snapshotTerm,
    firstIndex,
    lastIndex,
    lastTerm,
  };
}
