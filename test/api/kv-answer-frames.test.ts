// The hand-written framing of the key-value RPCs' answers against the generated encoders, byte for
// byte, over random answers: nested txns, long values (multi-byte lengths), and the numbers the fast
// path leaves to the generated code (negative, beyond 2^53, refused ones).
// Replay: KV_FRAMES_SEED=<seed> node --import tsx --test test/api/kv-answer-frames.test.ts
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  frameDeleteRangeResponse,
  framePutResponse,
  frameRangeResponse,
  frameTxnResponse,
} from "../../src/api/grpc/kv-answer-frames.js";
import {
  DeleteRangeResponse,
  PutResponse,
  RangeResponse,
  type ResponseHeader,
  type ResponseOp,
  TxnResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import type { KeyValue } from "../../src/gen/mvccpb/kv.js";
import { mulberry32 } from "../seeded-random.js";

function generator(rand: () => number) {
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(...xs: T[]) => xs[int(xs.length)];
  const bytes = (n: number) => Buffer.from(Array.from({ length: int(n) }, () => int(256)));
  /** Now and then (1 in 300) a value the generated encoder refuses. */
  const refused = () => rand() < 1 / 300;
  /** Mostly revisions as a member has them, now and then what only the generated code handles. */
  const number = (usual: number) => {
    if (refused()) return pick(2 ** 64, 1.5, -(2 ** 64));
    return rand() < 0.9
      ? pick(0, int(usual), int(2 ** 40))
      : pick(-1, -int(1e6), 2 ** 53 - 1, 2 ** 53 + 2, 2 ** 62);
  };
  const lease = () => {
    if (refused()) return pick(2n ** 63n, -(2n ** 63n) - 1n);
    return rand() < 0.6
      ? 0n
      : pick(BigInt(int(2 ** 50)), 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, -1n, -(2n ** 63n));
  };
  const kv = (): KeyValue => ({
    key: bytes(20),
    createRevision: number(1e6),
    modRevision: number(1e9),
    version: number(50),
    value: rand() < 0.1 ? bytes(20_000) : bytes(300),
    lease: lease(),
  });
  const header = (): ResponseHeader | undefined =>
    rand() < 0.1
      ? undefined
      : {
          clusterId: refused()
            ? 2n ** 64n
            : pick(0n, 0xcdef_1234_5678_9abcn, 2n ** 64n - 1n, BigInt(int(2 ** 31))),
          memberId: pick(0n, 0x8e9e_05c5_2164_694dn, BigInt(int(2 ** 31)) * 7n),
          revision: number(1e6),
          raftTerm: rand() < 0.95 ? int(10) : pick(2 ** 53 - 1, 2 ** 60),
        };
  const range = (): RangeResponse => ({
    header: header(),
    kvs: Array.from({ length: pick(0, 1, 1, 3, 20) }, kv),
    more: rand() < 0.2,
    count: number(1e4),
  });
  const put = (): PutResponse => ({ header: header(), prevKv: rand() < 0.4 ? kv() : undefined });
  const deleteRange = (): DeleteRangeResponse => ({
    header: header(),
    deleted: number(100),
    prevKvs: Array.from({ length: pick(0, 1, 4) }, kv),
  });
  const op = (depth: number): ResponseOp => {
    switch (int(depth > 2 ? 3 : 4)) {
      case 0:
        return { responseRange: range() };
      case 1:
        return { responsePut: put() };
      case 2:
        return { responseDeleteRange: deleteRange() };
      default:
        return { responseTxn: txn(depth + 1) };
    }
  };
  const txn = (depth = 0): TxnResponse => ({
    header: header(),
    succeeded: rand() < 0.5,
    responses: Array.from({ length: int(5) }, () => op(depth)),
  });
  return { range, put, deleteRange, txn };
}

/** The frame the generated encoder gives: 5-byte prefix, then its bytes. */
function generatedFrame(bytes: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
}

/** Both ways: the same bytes, or the same error. */
function same(encode: () => Uint8Array, frame: () => Buffer, what: string): "bytes" | "error" {
  let expected: Buffer | Error;
  try {
    expected = generatedFrame(encode());
  } catch (err) {
    expected = err as Error;
  }
  if (expected instanceof Error) {
    assert.throws(frame, { name: expected.name, message: expected.message }, what);
    return "error";
  }
  assert.deepEqual(frame(), expected, what);
  return "bytes";
}

test("frames every key-value answer as the generated encoders do", () => {
  const seed = Number(process.env.KV_FRAMES_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const g = generator(mulberry32(seed));
  const seen = { bytes: 0, error: 0 };
  try {
    for (let round = 0; round < 400; round++) {
      const r = g.range();
      seen[
        same(
          () => RangeResponse.encode(r).finish(),
          () => frameRangeResponse(r),
          `range ${round}`,
        )
      ]++;
      const p = g.put();
      seen[
        same(
          () => PutResponse.encode(p).finish(),
          () => framePutResponse(p),
          `put ${round}`,
        )
      ]++;
      const d = g.deleteRange();
      seen[
        same(
          () => DeleteRangeResponse.encode(d).finish(),
          () => frameDeleteRangeResponse(d),
          `delete ${round}`,
        )
      ]++;
      const t = g.txn();
      seen[
        same(
          () => TxnResponse.encode(t).finish(),
          () => frameTxnResponse(t),
          `txn ${round}`,
        )
      ]++;
    }
  } catch (err) {
    console.error(`seed ${seed}`);
    throw err;
  }
  // both paths were taken: answers framed, and answers the generated code refuses
  assert.ok(seen.bytes > 1000, `seed ${seed}: ${seen.bytes} framed`);
  assert.ok(seen.error > 5, `seed ${seed}: ${seen.error} refused`);
});

test("an answer refused half-way leaves nothing behind for the next one", () => {
  const header = { clusterId: 1n, memberId: 2n, revision: 5, raftTerm: 1 };
  const kv = (lease: bigint): KeyValue => ({
    key: Buffer.from("k"),
    value: Buffer.alloc(200, 1),
    createRevision: 2,
    modRevision: 5,
    version: 3,
    lease,
  });
  // the second kv's lease is beyond int64: the generated encoder refuses it after the first was written
  const refused: RangeResponse = { header, kvs: [kv(7n), kv(2n ** 63n)], more: false, count: 2 };
  assert.throws(() => frameRangeResponse(refused), /lease of type int64 too large/);
  const fine: RangeResponse = { header, kvs: [kv(7n)], more: true, count: 1 };
  assert.deepEqual(frameRangeResponse(fine), generatedFrame(RangeResponse.encode(fine).finish()));
});

test("a put's answer is a header of plain varints after the ids", () => {
  const frame = framePutResponse({
    header: { clusterId: 0x1234n, memberId: 0x56n, revision: 300, raftTerm: 2 },
    prevKv: undefined,
  });
  // tag 1, length 10: ids (08 b4 24, 10 56), revision (18 ac 02), term (20 02)
  assert.deepEqual(
    [...frame],
    [0, 0, 0, 0, 12, 0x0a, 10, 0x08, 0xb4, 0x24, 0x10, 0x56, 0x18, 0xac, 0x02, 0x20, 0x02],
  );
});
