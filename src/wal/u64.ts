/** Raft indexes and terms as unsigned 64-bit little-endian fields; undefined when not a safe integer. */
export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeBigUInt64LE(BigInt(value), offset);
}

export function readU64(buf: Buffer, offset: number): number | undefined {
  const value = buf.readBigUInt64LE(offset);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

/** Index or sequence number as 16 hex digits, the way file names carry them. */
export function hex16(value: number): string {
  return value.toString(16).padStart(16, "0");
}
