import assert from "node:assert/strict";
import { test } from "node:test";
import { decodePutRequest } from "../../src/api/grpc/kv-request-decoders.js";
import { PutRequest } from "../../src/gen/etcdserverpb/rpc.js";
import { mulberry32, randomBytes, withSeed } from "../seeded-random.js";

function randomPut(next: () => number): PutRequest {
  const leaseKind = next();
  return {
    key: randomBytes(next, next() < 0.05 ? 300 : 40),
    // values across the 128-byte and 16 KiB length-prefix boundaries
    value: randomBytes(next, next() < 0.05 ? 20_000 : 300),
    lease:
      leaseKind < 0.4
        ? 0n
        : leaseKind < 0.8
          ? BigInt(Math.floor(next() * 2 ** Math.floor(next() * 54)))
          : BigInt.asIntN(64, BigInt(Math.floor(next() * 2 ** 53)) * 4096n + 7n),
    prevKv: next() < 0.5,
    ignoreValue: next() < 0.2,
    ignoreLease: next() < 0.2,
  };
}

/** What a decoder gives: its message, or the text of what it threw. */
function outcome(decode: (b: Uint8Array) => PutRequest, bytes: Uint8Array): PutRequest | string {
  try {
    return decode(bytes);
  } catch (err) {
    return `threw ${(err as Error).message}`;
  }
}

test("a put request decodes as the generated decoder decodes it (random requests)", () =>
  withSeed("SEED", "test/api/kv-request-decoders.test.ts", (seed) => {
    const next = mulberry32(seed);
    for (let i = 0; i < 3000; i++) {
      const put = randomPut(next);
      const bytes = PutRequest.encode(put).finish();
      const got = decodePutRequest(bytes);
      assert.deepEqual(got, PutRequest.decode(bytes), `seed ${seed}, request ${i}`);
      assert.deepEqual(got, put, `seed ${seed}, request ${i}`);
      // key and value are copies: the request's buffer may be reused
      if (got.key.length > 0) assert.notEqual(got.key.buffer, bytes.buffer, `seed ${seed}, request ${i}`);
      // as the server gets it: a Buffer past a gRPC prefix, in a buffer of its own
      const framed = Buffer.concat([Buffer.alloc(5), bytes]);
      const fromBuffer = decodePutRequest(framed.subarray(5));
      assert.deepEqual(fromBuffer, got, `seed ${seed}, request ${i}`);
      // copies: the request's bytes may be overwritten after the decode
      framed.fill(0xff);
      assert.deepEqual(fromBuffer, got, `seed ${seed}, request ${i}`);
    }
  }));

test("damaged, reordered and unusual put requests decode, or fail, as the generated decoder makes them", () =>
  withSeed("SEED", "test/api/kv-request-decoders.test.ts", (seed) => {
    const next = mulberry32(seed);
    for (let i = 0; i < 5000; i++) {
      let bytes: Buffer = Buffer.from(PutRequest.encode(randomPut(next)).finish());
      const damage = next();
      if (damage < 0.25 && bytes.length > 0) {
        bytes = bytes.subarray(0, Math.floor(next() * bytes.length)); // truncated
      } else if (damage < 0.5 && bytes.length > 0) {
        const copy = Buffer.from(bytes);
        for (let k = 0; k < 3; k++) copy[Math.floor(next() * copy.length)] = Math.floor(next() * 256);
        bytes = copy; // bytes changed
      } else if (damage < 0.75) {
        // fields repeated, an unknown field, a flag written as a larger varint, a long lease varint
        const extras = [
          [0x0a, 0x01, 0x41],
          [0x12, 0x00],
          [0x38, 0x05],
          [0x20, 0x02],
          [0x28, 0x81, 0x00],
          [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
          [0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
          [0x08, 0x01],
        ];
        bytes = Buffer.concat([bytes, Buffer.from(extras[Math.floor(next() * extras.length)])]);
      } else {
        bytes = randomBytes(next, 20); // noise
      }
      assert.deepEqual(
        outcome(decodePutRequest, bytes),
        outcome((b) => PutRequest.decode(b), bytes),
        `seed ${seed}, case ${i}: ${bytes.toString("hex")}`,
      );
    }
  }));
