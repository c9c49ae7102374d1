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
  RangeRequest,
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

const wireText = (type: string, body: string) =>
  Buffer.from(parseBody(messageDesc(`etcdserverpb.${type}`), body));
const refusal = (type: string, body: string) => {
  try {
    wireText(type, body);
  } catch (err) {
    return (err as Error).message;
  }
  return "accepted";
};

test("a bytes field may be an array of numbers 0-255, as encoding/json reads a []byte", () => {
  const put = (key: Buffer) => Buffer.from(PutRequest.encode(PutRequest.fromPartial({ key })).finish());
  assert.deepEqual(wireText("PutRequest", '{"key":[97, 98]}'), put(Buffer.from("ab")));
  assert.deepEqual(wireText("PutRequest", '{"key":[null,255,0]}'), put(Buffer.from([0, 255, 0])));
  assert.deepEqual(wireText("PutRequest", '{"key":[]}'), put(Buffer.alloc(0)));
  // the first element that is not a byte is the error, with its text as written
  const cases: [string, string][] = [
    ["[256]", "json: cannot unmarshal number 256 into Go value of type uint8"],
    ["[-1]", "json: cannot unmarshal number -1 into Go value of type uint8"],
    ["[-0]", "json: cannot unmarshal number -0 into Go value of type uint8"],
    ["[1.0]", "json: cannot unmarshal number 1.0 into Go value of type uint8"],
    ["[1e2]", "json: cannot unmarshal number 1e2 into Go value of type uint8"],
    ["[[97]]", "json: cannot unmarshal array into Go value of type uint8"],
    ["[{}]", "json: cannot unmarshal object into Go value of type uint8"],
    ["[true]", "json: cannot unmarshal bool into Go value of type uint8"],
    ['[97,"a",256]', "json: cannot unmarshal string into Go value of type uint8"],
    ["97", "json: cannot unmarshal number into Go value of type []uint8"],
  ];
  for (const [key, message] of cases) assert.equal(refusal("PutRequest", `{"key":${key}}`), message, key);
});

test("given both names of a field, the JSON (camel-case) one counts", () => {
  const range = (rangeEnd: string) =>
    Buffer.from(
      RangeRequest.encode(
        RangeRequest.fromPartial({ key: Buffer.from("a"), rangeEnd: Buffer.from(rangeEnd, "base64") }),
      ).finish(),
    );
  assert.deepEqual(
    wireText("RangeRequest", '{"key":"YQ==","range_end":"AA==","rangeEnd":"Yg=="}'),
    range("Yg=="),
  );
  assert.deepEqual(
    wireText("RangeRequest", '{"key":"YQ==","rangeEnd":"Yg==","range_end":"AA=="}'),
    range("Yg=="),
  );
  assert.equal(
    refusal("RangeRequest", '{"key":"YQ==","count_only":true,"countOnly":"x"}'),
    "json: cannot unmarshal string into Go value of type bool",
  );
});

test("repeated enums: one quoted name is refused as jsonpb refuses it, a null element is the zero value", () => {
  assert.equal(
    refusal("WatchCreateRequest", '{"filters":"NOPUT"}'),
    'invalid target "slice" for enum etcdserverpb.WatchCreateRequest_FilterType',
  );
  assert.equal(
    refusal("WatchCreateRequest", '{"filters":"BAD"}'),
    'unknown value "BAD" for enum etcdserverpb.WatchCreateRequest_FilterType',
  );
  assert.deepEqual(
    wireText("WatchCreateRequest", '{"filters":[null,"NODELETE"]}'),
    Buffer.from(
      WatchCreateRequest.encode(
        WatchCreateRequest.fromPartial({
          filters: [WatchCreateRequest_FilterType.NOPUT, WatchCreateRequest_FilterType.NODELETE],
        }),
      ).finish(),
    ),
  );
});
