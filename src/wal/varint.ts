// Protobuf varints of numbers below 2^53, for the WAL's hand-written frames (the generated code goes through
// BigInt for every 64-bit field).

/** Bytes the varint of `value` takes. */
export function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 0x80)) n++;
  return n;
}

/** Writes the varint of `value` at `at`; returns the offset after it. */
export function writeVarint(out: Buffer, at: number, value: number): number {
  let v = value;
  let i = at;
  while (v >= 0x80) {
    out[i++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[i++] = v;
  return i;
}
