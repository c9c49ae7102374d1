// grpc-go's answers to a gRPC path that names no served method, its %q quoting, and its grpc-message
// encoding: the texts etcd's clients read for an unknown service or method.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { goQuoted, MethodTable } from "../../src/api/grpc/method-table.js";
import { grpcMessageValue } from "../../src/api/grpc/status-text.js";

describe("the served method table", () => {
  const table = new MethodTable();

  it("serves etcd's methods, health, Lock and Election", () => {
    for (const path of [
      "/etcdserverpb.KV/Range",
      "/etcdserverpb.Watch/Watch",
      "/etcdserverpb.Maintenance/Snapshot",
      "/grpc.health.v1.Health/Check",
      "/v3lockpb.Lock/Lock",
      "/v3electionpb.Election/Campaign",
    ]) {
      assert.equal(table.serves(path), true, path);
      assert.equal(table.unserved(path), undefined, path);
    }
  });

  it("answers an unknown method, an unknown service and a path without a service as grpc-go", () => {
    assert.deepEqual(table.unserved("/etcdserverpb.KV/Nope"), {
      code: 12,
      message: "unknown method Nope for service etcdserverpb.KV",
    });
    assert.deepEqual(table.unserved("/etcdserverpb.Nope/Range"), {
      code: 12,
      message: "unknown service etcdserverpb.Nope",
    });
    assert.deepEqual(table.unserved("/a/b/Range"), { code: 12, message: "unknown service a/b" });
    assert.deepEqual(table.unserved("/etcdserverpb.KV/"), {
      code: 12,
      message: "unknown method  for service etcdserverpb.KV",
    });
    for (const path of ["/Range", "Range", "/", ""])
      assert.deepEqual(table.unserved(path), { code: 8, message: `malformed method name: "${path}"` }, path);
  });

  it("quotes as Go's %q", () => {
    assert.equal(goQuoted('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(goQuoted("\n\t\u0001\u007f"), '"\\n\\t\\x01\\x7f"');
    assert.equal(goQuoted("é"), '"é"');
  });

  it("encodes grpc-message as grpc-go: printable ASCII but % as it is, other bytes percent-encoded", () => {
    assert.equal(grpcMessageValue("unknown service a.B"), "unknown service a.B");
    assert.equal(grpcMessageValue("50% off"), "50%25 off");
    assert.equal(grpcMessageValue("a\nb é"), "a%0Ab %C3%A9");
    assert.equal(grpcMessageValue(""), "");
  });
});
