// Revision keys of the history table, laid out as etcd lays them out in its "key" bucket:
// 8-byte big-endian main revision, '_', 8-byte big-endian sub revision, and a trailing 't'
// on tombstones. Byte order of these keys is (main, sub) order, so LMDB iterates history
// in revision order, and HashKV over these bytes matches etcd's.

export const REV_KEY_LEN = 17;
export const TOMBSTONE_REV_KEY_LEN = 18;
const TWO_32 = 0x1_0000_0000;

export interface Revision {
  main: number;
  sub: number;
}

function writeUint64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), offset);
  buf.writeUInt32BE(value % TWO_32, offset + 4);
}

function readUint64(buf: Uint8Array, offset: number): number {
  const hi = ((buf[offset] << 24) | (buf[offset + 1] << 16) | (buf[offset + 2] << 8) | buf[offset + 3]) >>> 0;
  const lo =
    ((buf[offset + 4] << 24) | (buf[offset + 5] << 16) | (buf[offset + 6] << 8) | buf[offset + 7]) >>> 0;
  return hi * TWO_32 + lo;
}

/** The history key of revision (main, sub); tombstones carry the 't' mark. */
export function revKey(main: number, sub: number, tombstone = false): Buffer {
  const buf = Buffer.allocUnsafe(tombstone ? TOMBSTONE_REV_KEY_LEN : REV_KEY_LEN);
  writeUint64(buf, main, 0);
  buf[8] = 0x5f; // '_'
  writeUint64(buf, sub, 9);
  if (tombstone) buf[17] = 0x74; // 't'
  return buf;
}

export function revKeyMain(key: Uint8Array): number {
  return readUint64(key, 0);
}

export function revKeySub(key: Uint8Array): number {
  return readUint64(key, 9);
}

export function isTombstoneKey(key: Uint8Array): boolean {
  return key.length === TOMBSTONE_REV_KEY_LEN && key[17] === 0x74;
}

/** a > b in (main, sub) order. */
export function revGreater(aMain: number, aSub: number, bMain: number, bSub: number): boolean {
  return aMain > bMain || (aMain === bMain && aSub > bSub);
}
