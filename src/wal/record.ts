import { crc32 } from "node:zlib";

/**
 * On-disk record framing. Every value the WAL stores is sealed with a CRC32 that covers a record
 * kind, the LMDB key and the payload, so a flipped bit, a torn value or a record copied under
 * another key or into another table all fail the check.
 *
 *   value = kind (1 byte) | crc32 (4 bytes, big-endian) | payload
 *
 * The meta record is framed differently (see meta.ts) so that its schema version can be read
 * before anything else is interpreted.
 */
export const RecordKind = {
  entry: 0x45, // 'E'
  snapshot: 0x53, // 'S'
  hardState: 0x48, // 'H'
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

const HEADER_BYTES = 5;

function checksum(kind: number, key: Uint8Array, payload: Uint8Array): number {
  return crc32(payload, crc32(key, crc32(Uint8Array.of(kind))));
}

export function seal(kind: RecordKind, key: Uint8Array, payload: Uint8Array): Buffer {
  const value = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  value[0] = kind;
  value.writeUInt32BE(checksum(kind, key, payload), 1);
  value.set(payload, HEADER_BYTES);
  return value;
}

/** Returns the payload, or a short reason why the value is not an intact record of this kind. */
export function unseal(kind: RecordKind, key: Uint8Array, value: Uint8Array): Uint8Array | string {
  if (value.length < HEADER_BYTES) return `record is truncated (${value.length} bytes)`;
  if (value[0] !== kind) return `record has kind 0x${value[0].toString(16)}, expected 0x${kind.toString(16)}`;
  const payload = value.subarray(HEADER_BYTES);
  const stored = Buffer.from(value.buffer, value.byteOffset, value.length).readUInt32BE(1);
  if (stored !== checksum(kind, key, payload)) return "checksum mismatch";
  return payload;
}

/** Raft indexes as 8-byte big-endian keys: byte order equals numeric order in LMDB's B-tree. */
export function indexKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(8);
  key.writeBigUInt64BE(BigInt(index));
  return key;
}

export function keyIndex(key: Uint8Array): number | undefined {
  if (key.length !== 8) return undefined;
  const value = Buffer.from(key.buffer, key.byteOffset, 8).readBigUInt64BE(0);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}
