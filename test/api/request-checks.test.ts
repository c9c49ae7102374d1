// Txn checks as etcd 3.4 makes them. The duplicate-key check: a put may not meet another put or a delete of the same
// branch, but a delete whose range end is "\0" (or at or below its key) covers no key in that check. Read-only:
// only ranges, in both branches.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkTxn, isReadOnlyTxn } from "../../src/api/request-checks.js";
import { type RequestOp, TxnRequest } from "../../src/gen/etcdserverpb/rpc.js";

const b = (s: string) => Buffer.from(s, "latin1");
const put = (key: string): RequestOp => ({
  requestPut: {
    key: b(key),
    value: b("v"),
    lease: 0n,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  },
});
const del = (key: string, rangeEnd = ""): RequestOp => ({
  requestDeleteRange: { key: b(key), rangeEnd: b(rangeEnd), prevKv: false },
});
const txn = (success: RequestOp[], failure: RequestOp[] = []) =>
  TxnRequest.fromPartial({ compare: [], success, failure });
const nested = (success: RequestOp[], failure: RequestOp[] = []): RequestOp => ({
  requestTxn: txn(success, failure),
});

const duplicate = { message: "etcdserver: duplicate key given in txn request" };

test("a delete with range end \\0 and a put of a key after its start are accepted, as etcd 3.4 accepts them", () => {
  assert.doesNotThrow(() => checkTxn(txn([del("a", "\x00"), put("b")]), 128));
  assert.doesNotThrow(() => checkTxn(txn([del("\x01", "\x00"), put("foo")]), 128));
  // the same through a nested txn
  assert.doesNotThrow(() => checkTxn(txn([nested([del("c", "\x00")]), put("d")]), 128));
  assert.doesNotThrow(() => checkTxn(txn([nested([], [del("c", "\x00")]), put("z")]), 128));
});

test("a delete whose range end is below its key covers nothing in the duplicate check", () => {
  assert.doesNotThrow(() => checkTxn(txn([del("c", "a"), put("c")]), 128));
  assert.doesNotThrow(() => checkTxn(txn([del("c", "c"), put("c")]), 128));
});

test("puts inside a delete's range, or twice in one branch, are still duplicates", () => {
  assert.throws(() => checkTxn(txn([del("a", "c"), put("b")]), 128), duplicate);
  assert.throws(() => checkTxn(txn([del("a", "c"), put("a")]), 128), duplicate);
  assert.throws(() => checkTxn(txn([del("b"), put("b")]), 128), duplicate);
  assert.throws(() => checkTxn(txn([put("b"), put("b")]), 128), duplicate);
  assert.throws(() => checkTxn(txn([del("a", "c"), nested([put("b")])]), 128), duplicate);
  // the end itself is outside the range
  assert.doesNotThrow(() => checkTxn(txn([del("a", "c"), put("c")]), 128));
  // then and else of one nested txn exclude each other
  assert.doesNotThrow(() => checkTxn(txn([nested([put("x")], [put("x")])]), 128));
});

test("a txn is read-only only when both branches hold nothing but ranges; a nested txn makes it a write", () => {
  const range: RequestOp = {
    requestRange: {
      key: b("a"),
      rangeEnd: b(""),
      limit: 0,
      revision: 0,
      sortOrder: 0,
      sortTarget: 0,
      serializable: false,
      keysOnly: false,
      countOnly: false,
      minModRevision: 0,
      maxModRevision: 0,
      minCreateRevision: 0,
      maxCreateRevision: 0,
    },
  };
  assert.equal(isReadOnlyTxn(txn([range], [range])), true);
  assert.equal(isReadOnlyTxn(txn([])), true);
  assert.equal(isReadOnlyTxn(txn([range, put("a")])), false);
  assert.equal(isReadOnlyTxn(txn([range], [del("a")])), false);
  assert.equal(isReadOnlyTxn(txn([range, nested([range])])), false);
  assert.equal(isReadOnlyTxn(txn([], [nested([])])), false);
});
