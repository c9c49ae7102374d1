import assert from "node:assert/strict";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { grpcRequestContext, tokenlessMetadata } from "../../src/api/request-context.js";

test("a gRPC call's credentials: its token (either key), else its certificate's name, else none", () => {
  const withToken = new Metadata();
  withToken.set("token", "t1");
  assert.deepEqual(grpcRequestContext(withToken, "cn"), { token: "t1" });
  const withAuthorization = new Metadata();
  withAuthorization.set("authorization", "t2");
  assert.deepEqual(grpcRequestContext(withAuthorization, undefined), { token: "t2" });
  assert.deepEqual(grpcRequestContext(new Metadata(), "cn"), { commonName: "cn" });
  assert.equal(grpcRequestContext(new Metadata(), undefined), undefined);
  // the shared metadata of calls without a token header answers as empty metadata does
  assert.deepEqual(grpcRequestContext(tokenlessMetadata, "cn"), { commonName: "cn" });
  assert.equal(grpcRequestContext(tokenlessMetadata, undefined), undefined);
});
