import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type HeaderField, HpackDecoder } from "../../src/api/grpc/hpack.js";
import {
  type AnswerBlock,
  answerHeadersBlock,
  failBlock,
  headersBlock,
  okTrailersBlock,
  statusTrailers,
} from "../../src/api/wire/answer-blocks.js";
import { AnswerHpack } from "../../src/api/wire/answer-hpack.js";
import { mulberry32, withSeed } from "../seeded-random.js";

/** The bytes a client's decoder holds in its dynamic table. */
const tableBytes = (decoder: HpackDecoder): number => Reflect.get(decoder, "size") as number;

describe("a connection's HPACK encoding of its answers", () => {
  it("indexes the answer headers and OK trailers the first time, and refers to them in one byte after", () => {
    const encoder = new AnswerHpack();
    const decoder = new HpackDecoder();
    const first = [encoder.encode(answerHeadersBlock), encoder.encode(okTrailersBlock)];
    assert.deepEqual(decoder.decode(first[0]), answerHeadersBlock);
    assert.deepEqual(decoder.decode(first[1]), okTrailersBlock);
    for (let i = 0; i < 3; i++) {
      const headers = encoder.encode(answerHeadersBlock);
      const trailers = encoder.encode(okTrailersBlock);
      assert.equal(headers.length, 2, ":status and content-type, one byte each");
      assert.equal(trailers.length, 2, "grpc-status and grpc-message, one byte each");
      assert.deepEqual(decoder.decode(headers), answerHeadersBlock);
      assert.deepEqual(decoder.decode(trailers), okTrailersBlock);
    }
    assert.ok(first[0].length + first[1].length > 40, "the first answer carries the strings");
  });

  it("keeps error texts out of the table, and refers to what it inserted in whatever order it came", () => {
    const encoder = new AnswerHpack();
    const decoder = new HpackDecoder();
    const blocks: AnswerBlock[] = [
      failBlock(3, "etcdserver: key is not provided"),
      statusTrailers(0, ""),
      answerHeadersBlock,
      failBlock(5, "etcdserver: requested lease not found"),
      okTrailersBlock,
      answerHeadersBlock,
    ];
    for (const block of blocks) assert.deepEqual(decoder.decode(encoder.encode(block)), block);
    assert.equal(tableBytes(decoder), 148, "content-type, grpc-status 0 and an empty grpc-message");
  });

  it("with a client's table size of 0, starts with a size update and indexes nothing", () => {
    const encoder = new AnswerHpack();
    encoder.setTableLimit(0);
    const decoder = new HpackDecoder(4096, 0);
    const first = encoder.encode(answerHeadersBlock);
    assert.equal(first[0], 0x20, "a dynamic table size update to 0");
    assert.deepEqual(decoder.decode(first), answerHeadersBlock);
    const again = encoder.encode(answerHeadersBlock);
    assert.deepEqual(again, first.subarray(1), "the same literals every time");
    assert.deepEqual(decoder.decode(encoder.encode(okTrailersBlock)), okTrailersBlock);
    assert.equal(tableBytes(decoder), 0);
  });

  it("decodes to the same fields through any order of blocks and table size changes (random)", () =>
    withSeed("SEED", "test/api/answer-hpack.test.ts", (seed) => {
      const next = mulberry32(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
      for (let round = 0; round < 50; round++) {
        const encoder = new AnswerHpack();
        const decoder = new HpackDecoder(4096);
        let limit = 4096;
        for (let i = 0; i < 40; i++) {
          if (next() < 0.05) {
            const value = pick([0, 1, 100, 147, 148, 200, 4096, 8192]);
            encoder.setTableLimit(value);
            limit = Math.min(limit, value);
          }
          const forwarded: HeaderField[] = [
            [":status", "200"],
            ["content-type", pick(["application/grpc", "application/grpc+proto", "text/plain"])],
            ["grpc-status", pick(["0", "2"])],
            ["grpc-message", pick(["", "x"])],
          ];
          const block = pick<AnswerBlock>([
            answerHeadersBlock,
            okTrailersBlock,
            failBlock(pick([2, 3, 9]), pick(["", "a b", "etcdserver: key not found"])),
            statusTrailers(pick([0, 1]), pick(["", "canceled"])),
            headersBlock(Object.fromEntries(forwarded.filter(() => next() < 0.7))),
          ]);
          const bytes = encoder.encode(block);
          assert.deepEqual(decoder.decode(bytes), block, `seed ${seed}, round ${round}, block ${i}`);
          assert.ok(tableBytes(decoder) <= limit, `seed ${seed}, round ${round}: table over ${limit}`);
        }
      }
    }));
});
