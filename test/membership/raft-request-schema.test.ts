import assert from "node:assert/strict";
import { test } from "node:test";
import { ScalarType } from "@bufbuild/protobuf";
import { protoRegistry } from "../../src/api/gateway/json-codec.js";
import type { FieldWire } from "../../src/membership/gogo-wire.js";
import { RAFT_REQUEST_SCHEMA } from "../../src/membership/raft-request-schema.js";

const PACKAGES = ["etcdserverpb", "authpb"];

function descriptor(name: string) {
  for (const pkg of PACKAGES) {
    const d = protoRegistry.getMessage(`${pkg}.${name}`);
    if (d) return d;
  }
  return undefined;
}

const LENGTH_DELIMITED = new Set([ScalarType.STRING, ScalarType.BYTES]);

test("the wire table of InternalRaftRequest and everything it embeds equals proto/", () => {
  const reached = new Set<string>();
  const pending = ["InternalRaftRequest"];
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (reached.has(name)) continue;
    reached.add(name);
    const desc = descriptor(name);
    assert.ok(desc, `proto/ has ${name}`);
    const table = RAFT_REQUEST_SCHEMA[name];
    assert.ok(table, `the table has ${name}`);
    const expected: Record<number, FieldWire> = {};
    for (const f of desc.fields) {
      if (f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) {
        const msg = f.message;
        assert.ok(msg);
        expected[f.number] = { message: msg.name };
        pending.push(msg.name);
      } else if (f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar")) {
        assert.ok(
          f.fieldKind !== "list" || LENGTH_DELIMITED.has(f.scalar),
          `${name}.${f.name}: no packed lists`,
        );
        expected[f.number] = LENGTH_DELIMITED.has(f.scalar) ? "bytes" : "varint";
        assert.ok(
          ![
            ScalarType.FIXED32,
            ScalarType.FIXED64,
            ScalarType.SFIXED32,
            ScalarType.SFIXED64,
            ScalarType.FLOAT,
            ScalarType.DOUBLE,
          ].includes(f.scalar),
          `${name}.${f.name}: fixed-width scalars are not in the table`,
        );
      } else if (f.fieldKind === "enum") {
        expected[f.number] = "varint";
      } else {
        assert.fail(`${name}.${f.name}: unexpected field kind ${f.fieldKind}`);
      }
    }
    assert.deepEqual({ ...table }, expected, name);
  }
  assert.deepEqual(
    new Set(Object.keys(RAFT_REQUEST_SCHEMA)),
    reached,
    "no message in the table that is not reached",
  );
});
