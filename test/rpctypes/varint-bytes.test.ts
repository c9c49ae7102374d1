// The hand varint readers against protobufjs's writer: every value they accept reads back exactly with its
// end, and every varint they must leave to the generated decoder (too long, cut short, past 64 bits) is left.
import assert from "node:assert/strict";
import { test } from "node:test";
import protobuf from "protobufjs";
import {
  bigVarint,
  MAX_PLAIN_VARINT_BYTES,
  plainVarint,
  varintEnd,
} from "../../src/rpctypes/varint-bytes.js";

const encode = (v: bigint): Uint8Array => protobuf.Writer.create().uint64(v.toString()).finish();

/** Random values of every bit length up to 64, from a seed (printed on failure). */
function values(seed: number, count: number): bigint[] {
  let a = seed;
  const next = () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0);
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    const bits = BigInt(next() % 65);
    const raw = (BigInt(next()) << 32n) | BigInt(next());
    out.push(bits === 0n ? 0n : raw & ((1n << bits) - 1n));
  }
  return out;
}

test("plainVarint reads every varint of up to seven bytes, with its end, and leaves longer ones", () => {
  for (const seed of [1, 2, 3]) {
    for (const v of values(seed, 2000)) {
      const bytes = encode(v);
      // a prefix and a suffix, so that the start and the end given are honoured
      const data = new Uint8Array([0xff, ...bytes, 0x05]);
      const got = plainVarint(data, 1, 1 + bytes.length);
      const why = `seed ${seed}: ${v}`;
      if (bytes.length <= MAX_PLAIN_VARINT_BYTES) {
        assert.equal(got, Number(v), why);
        assert.equal(varintEnd, 1 + bytes.length, why);
      } else assert.equal(got, -1, why);
      if (bytes.length > 1) assert.equal(plainVarint(data, 1, bytes.length), -1, `${why}, cut short`);
    }
  }
});

test("bigVarint reads up to nine bytes below 2^63, or ten for a uint64, with its end", () => {
  for (const seed of [4, 5, 6]) {
    for (const v of values(seed, 2000)) {
      const bytes = encode(v);
      const data = new Uint8Array([...bytes, 0x7f]);
      const why = `seed ${seed}: ${v}`;
      for (const max of [9, 10] as const) {
        const got = bigVarint(data, 0, bytes.length, max);
        if (bytes.length <= max) {
          assert.equal(got, v, `${why}, at most ${max} bytes`);
          assert.equal(varintEnd, bytes.length, why);
        } else assert.equal(got, undefined, `${why}, at most ${max} bytes`);
        if (bytes.length > 1)
          assert.equal(bigVarint(data, 0, bytes.length - 1, max), undefined, `${why}, cut short`);
      }
    }
  }
});

test("bigVarint takes bit 63 alone in a tenth byte and refuses a varint past 64 bits", () => {
  const max = (1n << 64n) - 1n;
  assert.equal(bigVarint(encode(max), 0, 10, 10), max);
  assert.equal(bigVarint(encode(1n << 63n), 0, 10, 10), 1n << 63n);
  for (const tenth of [0x02, 0x03, 0x40, 0x7f]) {
    const past = encode(max);
    past[9] = tenth;
    assert.equal(bigVarint(past, 0, 10, 10), undefined, `tenth byte 0x${tenth.toString(16)}`);
  }
  // an eleventh byte is never read
  const eleven = new Uint8Array([...encode(max).slice(0, 9), 0x81, 0x00]);
  assert.equal(bigVarint(eleven, 0, 11, 10), undefined);
});
