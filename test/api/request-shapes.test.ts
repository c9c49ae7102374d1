// The request shapes etcd's codec is checked by (request-shapes.ts) are those of proto/: every
// message a method takes, its fields' numbers, Go names and wire types (but etcd 3.5's
// hashedPassword fields, which etcd 3.4 does not know); and the check answers as gogo's Unmarshal
// and golang/protobuf's (the health check) answered etcd 3.4.23 for the same bytes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { protoRegistry } from "../../src/api/gateway/json-codec.js";
import { requestOfMethod, requestShapes, shapeTexts } from "../../src/api/grpc/request-shapes.js";
import { servedServices } from "../../src/api/grpc/served-services.js";
import {
  gogoUnmarshalError,
  healthUnmarshalError,
  requestUnmarshalError,
} from "../../src/api/grpc/unmarshal-errors.js";

/** protoc-gen-gogo's Go name of a field of etcd's protos. */
const goName = (name: string) =>
  name
    .split("_")
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join("");

const etcd35Only = new Set([
  "AuthUserAddRequest.hashedPassword",
  "AuthUserChangePasswordRequest.hashedPassword",
]);

function shapeText(desc: DescMessage, into: Map<string, string>): void {
  if (into.has(desc.name)) return;
  into.set(desc.name, "");
  const fields: string[] = [];
  for (const f of desc.fields) {
    if (etcd35Only.has(`${desc.name}.${f.name}`)) continue;
    let kind: string;
    if (f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) {
      kind = `m${f.message.name}`;
      shapeText(f.message, into);
    } else {
      assert.ok(f.fieldKind !== "map", `${desc.name}.${f.name}: a map`);
      const scalar =
        f.fieldKind === "enum" || (f.fieldKind === "list" && f.listKind === "enum")
          ? ScalarType.INT32
          : (f as { scalar: ScalarType }).scalar;
      assert.ok(
        ![ScalarType.DOUBLE, ScalarType.FLOAT, ScalarType.FIXED32, ScalarType.FIXED64].includes(scalar),
        `${desc.name}.${f.name}: a fixed-size scalar`,
      );
      const bytes = scalar === ScalarType.STRING || scalar === ScalarType.BYTES;
      kind = bytes ? "b" : f.fieldKind === "list" ? "pv" : "v";
    }
    fields.push(`${f.number} ${goName(f.name)} ${kind}`);
  }
  into.set(desc.name, `${desc.name}:${fields.join(",")}`);
}

describe("etcd's codec's request shapes", () => {
  it("are proto/'s, for every method of etcd's services", () => {
    const texts = new Map<string, string>();
    const methods: [string, string][] = [];
    for (const service of servedServices) {
      for (const { path } of Object.values(service)) {
        if (path.startsWith("/grpc.health")) continue;
        const [, serviceName, methodName] = path.split("/");
        const desc = protoRegistry.getService(serviceName);
        const method = desc?.methods.find((m) => m.name === methodName);
        assert.ok(method, path);
        shapeText(method.input, texts);
        methods.push([path, method.input.name]);
      }
    }
    assert.deepEqual([...shapeTexts].sort(), [...texts.values()].sort());
    assert.deepEqual([...requestOfMethod].map(([p, n]) => [p, n]).sort(), methods.sort());
  });

  it("answer as etcd 3.4.23 answered the same bytes", () => {
    const range = requestShapes.get("/etcdserverpb.KV/Range");
    const txn = requestShapes.get("/etcdserverpb.KV/Txn");
    const watch = requestShapes.get("/etcdserverpb.Watch/Watch");
    const keepAlive = requestShapes.get("/etcdserverpb.Lease/LeaseKeepAlive");
    const snapshot = requestShapes.get("/etcdserverpb.Maintenance/Snapshot");
    assert.ok(range && txn && watch && keepAlive && snapshot);
    const cases: [typeof range, number[], string | undefined][] = [
      [range, [0x0a, 0x01, 0x61, 0x18, 0x05], undefined],
      [range, [0xff], "unexpected EOF"],
      [range, [0x0f], "proto: wrong wireType = 7 for field Key"],
      [range, [0x08, 0x01], "proto: wrong wireType = 0 for field Key"],
      [range, [0x00], "proto: RangeRequest: illegal tag 0 (wire type 0)"],
      [range, [0x0a, 0x05, 0x61], "unexpected EOF"],
      [range, [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], "unexpected EOF"],
      [watch, [0x0b], "proto: wrong wireType = 3 for field CreateRequest"],
      [watch, [0x00], "proto: WatchRequest: illegal tag 0 (wire type 0)"],
      [keepAlive, [0x08, ...Array(10).fill(0xff), 0x01], "proto: integer overflow"],
      [keepAlive, [0x0a, 0x05, 0x61], "proto: wrong wireType = 2 for field ID"],
      [snapshot, [0x0f], "proto: illegal wireType 7"],
      [snapshot, [0x0b], "unexpected EOF"],
      [snapshot, [0x08, ...Array(10).fill(0xff), 0x01], "proto: integer overflow"],
      [snapshot, [0x08, 0x01], undefined],
      // a Txn's compare, then a success op whose put has a key of the wrong wire type
      [txn, [0x0a, 0x00, 0x12, 0x04, 0x12, 0x02, 0x08, 0x01], "proto: wrong wireType = 0 for field Key"],
      [txn, [0x12, 0x02, 0x0c, 0x00], "proto: RequestOp: wiretype end group for non-group"],
      [txn, [0x0a, 0x02, 0x20, 0x80], "unexpected EOF"],
      [txn, [0x1a, 0x01, 0x00], "proto: RequestOp: illegal tag 0 (wire type 0)"],
    ];
    for (const [shape, bytes, expected] of cases)
      assert.equal(gogoUnmarshalError(shape, Buffer.from(bytes)), expected, `${shape.name} ${bytes}`);
    assert.equal(
      requestUnmarshalError("/etcdserverpb.KV/Range", Buffer.from([0x0f])),
      "proto: wrong wireType = 7 for field Key",
    );
    assert.equal(requestUnmarshalError("/etcdserverpb.Nope/Nope", Buffer.from([0x0f])), undefined);
    const health: [number[], string | undefined][] = [
      [[0x0a, 0x01, 0x61], undefined],
      [[0x08, 0x01], undefined],
      [[0xff], "unexpected EOF"],
      [[0x0f], "proto: can't skip unknown wire type 7"],
      [[0x00], "proto: grpc_health_v1.HealthCheckRequest: illegal tag 0 (wire type 0)"],
      [[0x0b], "unexpected EOF"],
      [[0x08, ...Array(10).fill(0xff), 0x01], "unexpected EOF"],
    ];
    for (const [bytes, expected] of health)
      assert.equal(healthUnmarshalError(Buffer.from(bytes)), expected, `health ${bytes}`);
  });
});
