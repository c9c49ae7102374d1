// The size bound that spares most writes an encode before --max-request-bytes: it must never be
// below the real encoded size, whatever the request, or an oversized request would get through.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encodedSizeBound } from "../../src/api/client-handlers.js";
import { PutRequest, type RequestOp, TxnRequest } from "../../src/gen/etcdserverpb/rpc.js";

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const put = fc
  .record({ key: bytes, value: bytes, lease: int64, prevKv: fc.boolean(), ignoreValue: fc.boolean() })
  .map((p) => PutRequest.fromPartial(p));
const compare = fc.record({
  result: fc.integer({ min: 0, max: 3 }),
  target: fc.integer({ min: 0, max: 4 }),
  key: bytes,
  rangeEnd: bytes,
  modRevision: fc.option(int64, { nil: undefined }),
  value: fc.option(bytes, { nil: undefined }),
});
const txn: fc.Arbitrary<TxnRequest> = fc.letrec<{ txn: TxnRequest; op: RequestOp }>((tie) => ({
  op: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    put.map((requestPut) => ({ requestPut })),
    fc.record({ key: bytes, rangeEnd: bytes, limit: int64 }).map((r) => ({ requestRange: r as never })),
    fc
      .record({ key: bytes, rangeEnd: bytes, prevKv: fc.boolean() })
      .map((requestDeleteRange) => ({ requestDeleteRange })),
    tie("txn").map((requestTxn) => ({ requestTxn })),
  ),
  txn: fc
    .record({
      compare: fc.array(compare, { maxLength: 3 }),
      success: fc.array(tie("op"), { maxLength: 3 }),
      failure: fc.array(tie("op"), { maxLength: 3 }),
    })
    .map((t) => TxnRequest.fromPartial(t as never)),
})).txn;

describe("request size bound", () => {
  const seed = process.env.SIZE_SEED !== undefined ? Number(process.env.SIZE_SEED) : Date.now() % 2 ** 31;
  const check = <T>(arb: fc.Arbitrary<T>, encode: (v: T) => Uint8Array) => {
    try {
      fc.assert(
        fc.property(arb, (req) => encodedSizeBound(req) >= encode(req).length),
        { seed, numRuns: 300 },
      );
    } catch (err) {
      console.log(`replay: SIZE_SEED=${seed} node --import tsx --test test/api/request-size.test.ts`);
      throw err;
    }
  };
  it("is at least the encoded size of any put", () => check(put, (p) => PutRequest.encode(p).finish()));
  it("is at least the encoded size of any txn, nested ones included", () =>
    check(txn, (t) => TxnRequest.encode(t).finish()));
  it("is close enough to let ordinary writes skip the encode", () => {
    const p = PutRequest.fromPartial({ key: Buffer.alloc(8), value: Buffer.alloc(256) });
    const bound = encodedSizeBound(p);
    assert.ok(bound < 2 * PutRequest.encode(p).finish().length, `bound ${bound}`);
  });
});
