import assert from "node:assert/strict";
import { test } from "node:test";
import { InternalRaftRequest } from "../../src/gen/etcdserverpb/raft_internal.js";
import {
  clusterVersionRequest,
  decodeEntryData,
  decodeV2Request,
  EntryDataError,
  encodeV2Request,
  publishRequest,
  syncRequest,
  type V2Request,
  v2Request,
} from "../../src/membership/v2-request.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const ascii = (s: string) => Buffer.from(s, "latin1").toString("hex");

test("a publish request has the bytes of the publish entry observed in etcd's WAL (§7.2)", () => {
  const val = '{"name":"a","clientURLs":["http://127.0.0.1:23711"]}';
  const path = "/0/members/5a9ff2fd570cac50/attributes";
  // 08 <id> 12 03 "PUT" 1a 26 <path> 22 34 <val> 28 00 32 00 38 00 48 00 50 00 58 00 60 00 68 00 70 00 78 00 80 01 00
  const expected = hex(
    `08 b960 12 03 ${ascii("PUT")} 1a 26 ${ascii(path)} 22 34 ${ascii(val)}` +
      "28 00 32 00 38 00 48 00 50 00 58 00 60 00 68 00 70 00 78 00 80 01 00",
  );
  const req = publishRequest(12345n, 0x5a9ff2fd570cac50n, "a", ["http://127.0.0.1:23711"]);
  assert.equal(req.Val, val);
  assert.equal(encodeV2Request(req).toString("hex"), expected.toString("hex"));
});

test("optional fields 8 (PrevExist) and 17 (Refresh) are written only when set, false included", () => {
  const base = encodeV2Request(v2Request({ Method: "PUT", Path: "/1/k" }));
  const withPrevExist = encodeV2Request(v2Request({ Method: "PUT", Path: "/1/k", PrevExist: false }));
  const withRefresh = encodeV2Request(v2Request({ Method: "PUT", Path: "/1/k", Refresh: true }));
  assert.ok(!base.includes(hex("4000")) && !base.includes(hex("8801")));
  assert.equal(withPrevExist.length, base.length + 2);
  assert.ok(withPrevExist.includes(hex("3800 4000 4800")), "field 8 sits between 7 and 9");
  assert.deepEqual(withRefresh.subarray(-3), hex("880101"));
  assert.equal(decodeV2Request(withPrevExist).PrevExist, false);
  assert.equal(decodeV2Request(base).PrevExist, undefined);
  assert.equal(decodeV2Request(withRefresh).Refresh, true);
});

test("negative and large integers are Go's uint64 varints and read back", () => {
  const r = v2Request({
    ID: 0xffffffffffffffffn,
    Method: "PUT",
    Expiration: -5n,
    Time: 1_700_000_000_123_456_789n,
    PrevIndex: 1n << 60n,
    Since: 7n,
  });
  const bytes = encodeV2Request(r);
  assert.ok(bytes.includes(hex("48 fbffffffffffffffff01")), "int64 -5 as ten bytes");
  assert.deepEqual(decodeV2Request(bytes), r);
});

test("the cluster version and SYNC requests", () => {
  const v = clusterVersionRequest(9n, "3.4.0");
  assert.deepEqual([v.Method, v.Path, v.Val], ["PUT", "/0/version", "3.4.0"]);
  const s = syncRequest(10n, 1_700_000_000_000_000_000n);
  assert.deepEqual([s.Method, s.Path, s.Time], ["SYNC", "", 1_700_000_000_000_000_000n]);
});

test("v2 requests of every method decode as v2, never as an InternalRaftRequest", () => {
  const requests: V2Request[] = [
    publishRequest(1n, 0x8e9e05c52164694dn, "default", ["http://localhost:2379"]),
    clusterVersionRequest(2n, "3.4.0"),
    v2Request({
      ID: 3n,
      Method: "POST",
      Path: "/1/queue",
      Val: "job",
      Expiration: 1_800_000_000_000_000_000n,
    }),
    v2Request({ ID: 4n, Method: "DELETE", Path: "/1/dir", Dir: true, Recursive: true }),
    v2Request({ ID: 5n, Method: "QGET", Path: "/1/k", Quorum: true, Sorted: true }),
    syncRequest(6n, 1_700_000_000_000_000_000n),
    v2Request({
      ID: 7n,
      Method: "PUT",
      Path: "/1/k",
      Val: "v",
      PrevValue: "old",
      PrevIndex: 3n,
      PrevExist: true,
    }),
    v2Request({ ID: 8n, Method: "PUT", Path: "/1/k", Refresh: true, Expiration: 1n }),
  ];
  for (const r of requests) {
    const decoded = decodeEntryData(encodeV2Request(r));
    assert.equal(decoded.kind, "v2", r.Method);
    assert.deepEqual(decoded.req, r, r.Method);
  }
});

test("bytes the lenient generated decoder takes for an InternalRaftRequest are still a v2 request", () => {
  // every field at its zero value: field 5 (Dir, a varint) has the wrong wire type for delete_range
  const bytes = encodeV2Request(v2Request({ ID: 3n }));
  const lenient = InternalRaftRequest.decode(bytes);
  assert.ok(lenient.v2 !== undefined && lenient.range !== undefined, "ts-proto skips the mismatched fields");
  const decoded = decodeEntryData(bytes);
  assert.equal(decoded.kind, "v2");
  assert.equal(decoded.req.ID, 3n);
});

test("v3 requests decode as InternalRaftRequest; one carrying v2 is a v2 request", () => {
  const put = InternalRaftRequest.encode(
    InternalRaftRequest.fromPartial({
      header: { ID: 0xac50_0000_0000_0001n, username: "", authRevision: 0 },
      put: { key: Buffer.from("foo"), value: Buffer.from("bar") },
    }),
  ).finish();
  const decoded = decodeEntryData(put);
  assert.equal(decoded.kind, "v3");
  assert.equal(decoded.kind === "v3" && Buffer.from(decoded.req.put?.key ?? []).toString(), "foo");

  const txn = InternalRaftRequest.encode(
    InternalRaftRequest.fromPartial({
      header: { ID: 2n },
      txn: {
        compare: [{ key: Buffer.from("a"), version: 1n }],
        success: [{ requestPut: { key: Buffer.from("a"), value: Buffer.from("b") } }],
        failure: [{ requestRange: { key: Buffer.from("a") } }],
      },
    }),
  ).finish();
  assert.equal(decodeEntryData(txn).kind, "v3");

  const inner = publishRequest(77n, 0x5a9ff2fd570cac50n, "a", ["http://127.0.0.1:23711"]);
  const wrapped = Buffer.concat([
    hex("12"),
    Buffer.from([encodeV2Request(inner).length]),
    encodeV2Request(inner),
  ]);
  const asV2 = decodeEntryData(Buffer.concat([hex("0801"), wrapped]));
  assert.equal(asV2.kind, "v2");
  assert.deepEqual(asV2.req, inner);
});

test("an InternalRaftRequest with a malformed embedded message is not one (gogo checks all the way down)", () => {
  // field 4 (put) holding a PutRequest whose field 1 (key) has wire type 0: as a Request it is Val "\b\x01"
  const decoded = decodeEntryData(hex("2202 0801"));
  assert.equal(decoded.kind, "v2");
  assert.equal(decoded.req.Val, "\b\x01");
  // nested deeper: a txn whose success op holds a put with a bad key
  const deep = hex("3206 1204 1202 0801");
  assert.equal(decodeEntryData(deep).kind, "v2");
  assert.equal(decodeEntryData(hex("3206 1204 1202 0a00")).kind, "v3");
});

test("data that is neither payload is refused with one clear error", () => {
  for (const garbage of [
    hex("ff"),
    hex("0a"),
    hex("12 05 41"),
    hex("0f"),
    hex("08 ffffffffffffffffffff01"),
  ]) {
    assert.throws(
      () => decodeEntryData(garbage),
      (err: unknown) =>
        err instanceof EntryDataError &&
        /neither an InternalRaftRequest .* nor a v2 Request/.test(err.message),
    );
  }
});
