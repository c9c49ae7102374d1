// Protobuf varints read by hand from a byte range, for the hand-written decoders of puts (client requests
// and raft entries). Each read leaves where its varint ended in `varintEnd` (not a [value, end] pair: several
// per message on the write path); a varint longer than asked for, or cut short, reads as "left to the
// generated decoder" (-1 or undefined), which then decodes the message with its own rules and errors.

/** Varints of up to this many bytes are read as numbers (below 2^49, exact). */
export const MAX_PLAIN_VARINT_BYTES = 7;

/** Where the varint read last ended. */
export let varintEnd = 0;

/** A varint of at most 7 bytes at `at`, below `end`; -1 when longer or cut short. */
export function plainVarint(data: Uint8Array, at: number, end: number): number {
  let value = 0;
  for (let size = 0, mul = 1; size < MAX_PLAIN_VARINT_BYTES && at < end; size++, mul *= 128) {
    const byte = data[at++];
    value += (byte & 0x7f) * mul;
    if (byte < 0x80) {
      varintEnd = at;
      return value;
    }
  }
  return -1;
}

/**
 * An unsigned varint of at most `maxBytes` bytes (9: below 2^63; 10: a uint64, whose tenth byte may hold bit 63
 * alone) at `at`, below `end`, as a bigint: the low 49 bits as a number, the rest beside them. Undefined when
 * longer, cut short, or past 64 bits.
 */
export function bigVarint(data: Uint8Array, at: number, end: number, maxBytes: 9 | 10): bigint | undefined {
  let low = 0;
  let high = 0;
  for (let size = 0, mul = 1; size < maxBytes && at < end; size++) {
    const byte = data[at++];
    if (size < MAX_PLAIN_VARINT_BYTES) {
      low += (byte & 0x7f) * mul;
      mul *= 128;
    } else high += (byte & 0x7f) * 128 ** (size - MAX_PLAIN_VARINT_BYTES);
    if (byte < 0x80) {
      if (size === 9 && byte > 1) return undefined;
      varintEnd = at;
      return high === 0 ? BigInt(low) : (BigInt(high) << 49n) | BigInt(low);
    }
  }
  return undefined;
}
