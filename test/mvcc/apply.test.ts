import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  TxnRequest,
} from "../../src/gen/etcdserverpb/rpc.js";
import { KVApplier } from "../../src/mvcc/apply.js";
import {
  checkDeleteRangeRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxn,
} from "../../src/mvcc/checks.js";
import { EtcdError, GrpcCode } from "../../src/mvcc/errors.js";
import { b, openTempStore } from "./helpers.js";

const put = (key: string, value = "", extra: Partial<PutRequest> = {}) =>
  PutRequest.fromPartial({ key: b(key), value: b(value), ...extra });
const range = (key: string, end = "", extra: Partial<RangeRequest> = {}) =>
  RangeRequest.fromPartial({ key: b(key), rangeEnd: b(end), ...extra });
const del = (key: string, end = "", extra: Partial<DeleteRangeRequest> = {}) =>
  DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(end), ...extra });

async function withApplier(
  fn: (a: KVApplier, leases: Map<string, bigint[]>) => void | Promise<void>,
): Promise<void> {
  const t = openTempStore();
  const attached = new Map<string, bigint[]>();
  const log = (kind: string) => (lease: bigint, key: Buffer) => {
    const k = `${kind}:${key.toString("latin1")}`;
    attached.set(k, [...(attached.get(k) ?? []), lease]);
  };
  try {
    const a = new KVApplier(t.store, {
      leaseExists: (id) => id === 7n || id === 8n,
      onLeaseAttach: log("attach"),
      onLeaseDetach: log("detach"),
      maxTxnOps: 4,
    });
    await fn(a, attached);
  } finally {
    await t.cleanup();
  }
}

function assertEtcdError(fn: () => unknown, code: number, message: string): void {
  assert.throws(fn, (e: unknown) => e instanceof EtcdError && e.code === code && e.grpcMessage === message);
}

describe("request checks (etcd's exact errors)", () => {
  it("rejects empty keys, value/lease with ignore_*, bad sort options", () => {
    assert.equal(checkRangeRequest(range(""))?.message, "etcdserver: key is not provided");
    assert.equal(checkDeleteRangeRequest(del(""))?.message, "etcdserver: key is not provided");
    assert.equal(checkPutRequest(put(""))?.code, GrpcCode.InvalidArgument);
    assert.equal(
      checkPutRequest(put("k", "v", { ignoreValue: true }))?.message,
      "etcdserver: value is provided",
    );
    assert.equal(
      checkPutRequest(put("k", "", { ignoreLease: true, lease: 5n }))?.message,
      "etcdserver: lease is provided",
    );
    assert.equal(checkPutRequest(put("k", "", { ignoreValue: true, ignoreLease: true })), undefined);
    // etcd 3.4 accepts an unknown sort order (no sorting) but not an unknown target
    assert.equal(checkRangeRequest(range("k", "", { sortOrder: 7 as RangeRequest_SortOrder })), undefined);
    assert.equal(
      checkRangeRequest(range("k", "", { sortTarget: 9 as RangeRequest_SortTarget }))?.message,
      "etcdserver: invalid sort option",
    );
    assert.equal(checkRangeRequest(range("k")), undefined);
  });

  it("limits txn size and finds duplicate keys like etcd", () => {
    const op = { requestPut: put("a") };
    assert.equal(
      checkTxn(
        TxnRequest.fromPartial({
          success: Array.from({ length: 129 }, (_, i) => ({ requestRange: range(`k${i}`) })),
        }),
      )?.message,
      "etcdserver: too many operations in txn request",
    );
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [{ requestRange: range("x") }] }), 128),
      undefined,
    );
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ compare: [{ key: b("") }] }))?.message,
      "etcdserver: key is not provided",
    );
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: [{}] }))?.message, "etcdserver: key not found");
    const dup = "etcdserver: duplicate key given in txn request";
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: [op, op] }))?.message, dup);
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: [op], failure: [op] })), undefined);
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [op, { requestDeleteRange: del("a") }] }))?.message,
      dup,
    );
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [op, { requestDeleteRange: del("0", "b") }] }))?.message,
      dup,
    );
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [op, { requestDeleteRange: del("b", "c") }] })),
      undefined,
    );
    // etcd 3.4: a delete to "\0" (from key) is an empty interval for this check.
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [op, { requestDeleteRange: del("a", "\0") }] })),
      undefined,
    );
    // Nested: the same key in both branches of a nested txn is fine; with an outer put it is not.
    const nested = { requestTxn: TxnRequest.fromPartial({ success: [op], failure: [op] }) };
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: [nested] })), undefined);
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: [nested, op] }))?.message, dup);
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [{ requestDeleteRange: del("a") }, nested] }))?.message,
      dup,
    );
    // Nested txns get the ops left over by their parent.
    const wide = TxnRequest.fromPartial({ success: [op, { requestPut: put("b") }] });
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: [{ requestTxn: wide }] }), 3), undefined);
    assert.equal(
      checkTxn(TxnRequest.fromPartial({ success: [{ requestTxn: wide }, { requestPut: put("c") }] }), 3)
        ?.message,
      "etcdserver: too many operations in txn request",
    );
  });
});

describe("KVApplier", () => {
  it("puts with prev_kv, ignore_value, ignore_lease and lease bookkeeping", () =>
    withApplier((a, leases) => {
      assert.equal(a.put(put("k", "v1", { lease: 7n }), 1)?.header?.revision, 2);
      const r = a.put(put("k", "", { ignoreValue: true, prevKv: true, lease: 8n }), 2);
      assert.equal(r?.prevKv?.value.toString(), "v1");
      assert.equal(r?.prevKv?.lease, 7n);
      const kv = a.range(range("k")).kvs[0];
      assert.deepEqual(
        [kv.value.toString(), kv.lease, kv.version, kv.createRevision, kv.modRevision],
        ["v1", 8n, 2, 2, 3],
      );
      a.put(put("k", "v2", { ignoreLease: true }), 3);
      assert.equal(a.range(range("k")).kvs[0].lease, 8n);
      a.deleteRange(del("k"), 4);
      assert.deepEqual(Object.fromEntries(leases), { "attach:k": [7n, 8n, 8n], "detach:k": [7n, 8n, 8n] });
      assertEtcdError(() => a.put(put("k", "", { ignoreValue: true }), 5), 3, "etcdserver: key not found");
      assertEtcdError(
        () => a.put(put("n", "x", { lease: 99n }), 6),
        5,
        "etcdserver: requested lease not found",
      );
      assert.equal(a.store.currentRev(), 5);
    }));

  it("ranges with limit/more/count, sort defaults, filters, keys_only and count_only", () =>
    withApplier((a) => {
      for (const [i, k] of ["d", "a", "c", "b"].entries()) a.put(put(k, `${9 - i}`), i + 1); // revs 2..5
      a.put(put("a", "0"), 5); // a: version 2, mod 6
      const all = (extra: Partial<RangeRequest>) => a.range(range("a", "\0", extra));
      const keys = (r: { kvs: { key: Buffer }[] }) => r.kvs.map((kv) => kv.key.toString()).join("");
      assert.equal(keys(all({})), "abcd");
      const limited = all({ limit: 2 });
      assert.deepEqual([keys(limited), limited.more, limited.count], ["ab", true, 4]);
      assert.equal(all({ limit: 4 }).more, false);
      // Target other than KEY with order NONE sorts ascending.
      assert.equal(keys(all({ sortTarget: RangeRequest_SortTarget.MOD })), "dcba");
      assert.equal(
        keys(all({ sortTarget: RangeRequest_SortTarget.VALUE, sortOrder: RangeRequest_SortOrder.DESCEND })),
        "dcba",
      );
      assert.equal(
        keys(all({ sortTarget: RangeRequest_SortTarget.KEY, sortOrder: RangeRequest_SortOrder.DESCEND })),
        "dcba",
      );
      assert.equal(
        keys(
          all({
            sortTarget: RangeRequest_SortTarget.VERSION,
            sortOrder: RangeRequest_SortOrder.DESCEND,
            limit: 1,
          }),
        ),
        "a",
      );
      const filtered = all({ minModRevision: 3, maxModRevision: 5, limit: 1 });
      assert.deepEqual([keys(filtered), filtered.more, filtered.count], ["b", true, 4]);
      assert.equal(keys(all({ minCreateRevision: 3, maxCreateRevision: 4 })), "ac");
      assert.deepEqual(
        all({ minCreateRevision: 3, maxCreateRevision: 4 }).kvs.map((kv) => kv.createRevision),
        [3, 4],
      );
      assert.equal(all({ keysOnly: true }).kvs[0].value.length, 0);
      const counted = all({ countOnly: true });
      assert.deepEqual([counted.kvs.length, counted.count], [0, 4]);
      assert.equal(keys(a.range(range("a", "", { revision: 2 }))), "");
      assert.equal(keys(a.range(range("d", "", { revision: 2 }))), "d");
      assert.equal(a.range(range("d", "", { revision: 2 })).header?.revision, 6);
      assertEtcdError(
        () => a.range(range("a", "", { revision: 7 })),
        11,
        "etcdserver: mvcc: required revision is a future revision",
      );
    }));

  it("runs txns: compares, nested txns, own writes, one revision, rollback on a late failure", () =>
    withApplier((a) => {
      a.put(put("x", "1"), 1); // 2
      const cmp = (
        target: Compare_CompareTarget,
        result: Compare_CompareResult,
        fields: object,
        key = "x",
      ) => ({
        key: b(key),
        rangeEnd: Buffer.alloc(0),
        target,
        result,
        ...fields,
      });
      const txn = TxnRequest.fromPartial({
        compare: [cmp(Compare_CompareTarget.VALUE, Compare_CompareResult.EQUAL, { value: b("1") })],
        success: [
          { requestPut: put("y", "2") },
          { requestRange: range("y") },
          {
            requestTxn: TxnRequest.fromPartial({
              compare: [
                cmp(Compare_CompareTarget.VERSION, Compare_CompareResult.EQUAL, { version: 0n }, "y"),
              ],
              success: [{ requestPut: put("z", "3") }],
              failure: [{ requestPut: put("w", "4") }],
            }),
          },
          { requestDeleteRange: del("x", "", { prevKv: true }) },
        ],
      });
      const resp = a.txn(txn, 2);
      assert.ok(resp);
      assert.equal(resp.succeeded, true);
      assert.equal(resp.header?.revision, 3);
      assert.equal(resp.responses[1].responseRange?.kvs[0].value.toString(), "2");
      assert.equal(resp.responses[1].responseRange?.header?.revision, 3);
      // The nested compare saw the state before the txn: y did not exist.
      assert.equal(resp.responses[2].responseTxn?.succeeded, true);
      assert.equal(resp.responses[2].responseTxn?.header?.revision, 0);
      assert.equal(resp.responses[3].responseDeleteRange?.prevKvs[0].value.toString(), "1");
      assert.equal(a.store.currentRev(), 3);
      const z = a.range(range("z")).kvs[0];
      assert.deepEqual([z.modRevision, a.range(range("x")).count], [3, 0]);

      // VALUE compare on a missing key is false; others compare as 0.
      const miss = a.txn(
        TxnRequest.fromPartial({
          compare: [
            cmp(Compare_CompareTarget.VALUE, Compare_CompareResult.NOT_EQUAL, { value: b("q") }, "nope"),
          ],
        }),
        3,
      );
      assert.equal(miss?.succeeded, false);
      assert.equal(miss?.header?.revision, 3);
      const zero = a.txn(
        TxnRequest.fromPartial({
          compare: [cmp(Compare_CompareTarget.MOD, Compare_CompareResult.EQUAL, { modRevision: 0n }, "nope")],
        }),
        4,
      );
      assert.equal(zero?.succeeded, true);
      // range_end in a compare: every key in range must satisfy it.
      const ranged = a.txn(
        TxnRequest.fromPartial({
          compare: [
            {
              ...cmp(Compare_CompareTarget.MOD, Compare_CompareResult.GREATER, { modRevision: 2n }, "y"),
              rangeEnd: b("\0"),
            },
          ],
        }),
        5,
      );
      assert.equal(ranged?.succeeded, true);

      // ignore_value on a key the same txn deleted: the txn fails and changes nothing.
      const late = TxnRequest.fromPartial({
        success: [
          { requestDeleteRange: del("a", "\0") },
          { requestPut: put("y", "", { ignoreValue: true }) },
        ],
      });
      assert.equal(checkTxn(late), undefined);
      assertEtcdError(() => a.txn(late, 6), 3, "etcdserver: key not found");
      assert.equal(a.store.currentRev(), 3);
      assert.equal(a.range(range("a", "\0")).count, 2);
      assert.equal(a.range(range("y")).kvs[0].version, 1);
      // The store keeps working and writes at the next revision.
      assert.equal(a.put(put("y", "5"), 7)?.header?.revision, 4);
      assert.equal(a.range(range("y")).kvs[0].version, 2);
    }));

  it("handles binary, empty and maximum-size keys and values, and inverted ranges", () =>
    withApplier((a) => {
      const big = Buffer.alloc(1024 * 1024 + 512 * 1024 - 64, 0xab); // a 1.5 MiB request's value
      const keys = [
        Buffer.from([0]),
        Buffer.from([0xff]),
        Buffer.from([0x61, 0, 0xff]),
        Buffer.alloc(1500, 0xff),
      ];
      let i = 0;
      for (const k of keys) a.put(PutRequest.fromPartial({ key: k, value: Buffer.alloc(0) }), ++i);
      a.put(PutRequest.fromPartial({ key: b("big"), value: big }), ++i);
      assert.deepEqual(a.range(RangeRequest.fromPartial({ key: b("big") })).kvs[0].value, big);
      // A key of the maximum request size works too (and is removed again).
      const bigKey = Buffer.alloc(1024 * 1024 + 512 * 1024 - 64, 0x6b);
      a.put(PutRequest.fromPartial({ key: bigKey, value: b("v") }), ++i);
      assert.deepEqual(a.range(RangeRequest.fromPartial({ key: bigKey })).kvs[0].key, bigKey);
      assert.equal(a.deleteRange(DeleteRangeRequest.fromPartial({ key: bigKey }), ++i)?.deleted, 1);
      const all = a.range(RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) }));
      assert.deepEqual(
        all.kvs.map((kv) => kv.key),
        [
          Buffer.from([0]),
          Buffer.from([0x61, 0, 0xff]),
          b("big"),
          Buffer.from([0xff]),
          Buffer.alloc(1500, 0xff),
        ],
      );
      assert.equal(all.kvs[0].value.length, 0);
      // End before start: nothing, like etcd.
      assert.equal(a.range(range("z", "a")).count, 0);
      assert.equal(a.deleteRange(del("z", "a"), ++i)?.deleted, 0);
      // Prefix end "a\xff" -> "b" style, and the whole keyspace.
      assert.equal(a.range(RangeRequest.fromPartial({ key: b("a"), rangeEnd: b("b") })).count, 1);
      const gone = a.deleteRange(
        DeleteRangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]) }),
        ++i,
      );
      assert.equal(gone?.deleted, 5);
      assert.equal(gone?.header?.revision, 9);
    }));
});
