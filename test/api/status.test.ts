// How errors become client statuses: any layer's error that carries a client status keeps it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toRpcStatus } from "../../src/api/grpc/status.js";
import { Errors } from "../../src/rpctypes/errors.js";

describe("error -> gRPC status", { timeout: 60_000 }, () => {
  it("keeps an EtcdError's code and text", () => {
    assert.deepEqual(toRpcStatus(Errors.Compacted), {
      code: 11,
      message: "etcdserver: mvcc: required revision has been compacted",
    });
  });

  it("uses grpcMessage of a lower layer's error, not its shorter message", () => {
    const mvccError = Object.assign(new Error("mvcc: required revision is a future revision"), {
      code: 11,
      grpcMessage: "etcdserver: mvcc: required revision is a future revision",
    });
    assert.deepEqual(toRpcStatus(mvccError), {
      code: 11,
      message: "etcdserver: mvcc: required revision is a future revision",
    });
  });

  it("turns anything else into Unknown with its raw text", () => {
    assert.deepEqual(toRpcStatus(new Error("disk on fire")), { code: 2, message: "disk on fire" });
    assert.deepEqual(toRpcStatus("plain"), { code: 2, message: "plain" });
  });
});
