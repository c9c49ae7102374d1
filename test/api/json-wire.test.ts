// The gateway turns a JSON body into the request's wire bytes as Go's marshaller would: a proto3 field without
// presence that holds its default is left out, a oneof member is written even then, repeated enums are packed.
// etcd reports an oversized request by that size, so the bytes must match what ts-proto (which follows the same
// rules) encodes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { messageDesc, parseBody } from "../../src/api/gateway/json-codec.js";
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  PutRequest,
  TxnRequest,
  WatchCreateRequest,
  WatchCreateRequest_FilterType,
} from "../../src/gen/etcdserverpb/rpc.js";

const wire = (type: string, body: unknown) =>
  Buffer.from(parseBody(messageDesc(`etcdserverpb.${type}`), JSON.stringify(body)));

test("defaults given explicitly are left out, as Go leaves them out", () => {
  const body = { key: "YQ==", value: "", lease: "0", prevKv: false, ignoreValue: false, ignoreLease: false };
  assert.deepEqual(
    wire("PutRequest", body),
    Buffer.from(PutRequest.encode(PutRequest.fromPartial({ key: Buffer.from("a") })).finish()),
  );
  assert.equal(
    wire("PutRequest", { ...body, value: "Yg==" }).length,
    6,
    "a value that is not empty is written",
  );
  assert.deepEqual(
    wire("RangeRequest", { key: "YQ==", limit: 0, revision: "0", sortOrder: "NONE", sortTarget: 0 }),
    Buffer.from([0x0a, 0x01, 0x61]),
  );
});

test("a oneof member holding its default is written (a compare of version 0)", () => {
  const expected = TxnRequest.encode(
    TxnRequest.fromPartial({
      compare: [
        Compare.fromPartial({
          key: Buffer.from("a"),
          target: Compare_CompareTarget.VERSION,
          result: Compare_CompareResult.EQUAL,
          version: 0n,
        }),
      ],
    }),
  ).finish();
  const got = wire("TxnRequest", {
    compare: [{ key: "YQ==", target: "VERSION", result: "EQUAL", version: "0" }],
  });
  assert.deepEqual(got, Buffer.from(expected));
  assert.ok(got.includes(Buffer.from([0x20, 0x00])), "field 4 (version) = 0 is on the wire");
});

test("a watch's filters are packed", () => {
  const expected = WatchCreateRequest.encode(
    WatchCreateRequest.fromPartial({
      key: Buffer.from("a"),
      filters: [WatchCreateRequest_FilterType.NOPUT, WatchCreateRequest_FilterType.NODELETE],
    }),
  ).finish();
  assert.deepEqual(wire("WatchCreateRequest", { key: "YQ==", filters: ["NOPUT", 1] }), Buffer.from(expected));
  assert.deepEqual(wire("WatchCreateRequest", { key: "YQ==", filters: [] }), Buffer.from([0x0a, 0x01, 0x61]));
});

test("a wrong type is still refused when the value would be a default", () => {
  assert.throws(
    () => wire("PutRequest", { key: "YQ==", prevKv: 0 }),
    /cannot unmarshal number into Go value of type bool/,
  );
  assert.throws(
    () => wire("PutRequest", { key: "YQ==", value: 0 }),
    /cannot unmarshal number into Go value of type \[\]uint8/,
  );
  assert.throws(
    () => wire("RangeRequest", { key: "YQ==", limit: "x" }),
    /invalid character .x. looking for beginning of value/,
  );
});
