import { readU64, writeU64 } from "./u64.js";

/**
 * Payloads of the two records that change the log without carrying entries. Both say what
 * happened rather than what was asked, so a replay needs no entry it may no longer have.
 */

/** A snapshot became the base of the log; `dropLog`: the stored entries were dropped with it. */
export interface SnapshotMark {
  readonly index: number;
  readonly term: number;
  readonly dropLog: boolean;
}

export function encodeSnapshotMark(mark: SnapshotMark): Buffer {
  const out = Buffer.alloc(17);
  writeU64(out, mark.index, 0);
  writeU64(out, mark.term, 8);
  out[16] = mark.dropLog ? 1 : 0;
  return out;
}

export function decodeSnapshotMark(payload: Buffer): SnapshotMark | undefined {
  if (payload.length !== 17 || payload[16] > 1) return undefined;
  const index = readU64(payload, 0);
  const term = readU64(payload, 8);
  if (index === undefined || term === undefined || index < 1) return undefined;
  return { index, term, dropLog: payload[16] === 1 };
}

/** After a purge the log starts at `firstIndex` (0: no entry is left). */
export function encodePurgeMark(firstIndex: number): Buffer {
  const out = Buffer.alloc(8);
  writeU64(out, firstIndex, 0);
  return out;
}

export function decodePurgeMark(payload: Buffer): number | undefined {
  return payload.length === 8 ? readU64(payload, 0) : undefined;
}
