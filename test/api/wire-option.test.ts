// RXETCD_CLIENT_HTTP2: unset, empty or "own" chooses the port's own connection; "node" keeps Node's
// HTTP/2; anything else is refused with a message naming both values.
import assert from "node:assert/strict";
import { test } from "node:test";
import { clientHttp2FromEnvironment } from "../../src/api/wire/client-http2-option.js";

test("RXETCD_CLIENT_HTTP2 is read as node or own, and nothing else", () => {
  assert.equal(clientHttp2FromEnvironment({}), "own");
  assert.equal(clientHttp2FromEnvironment({ RXETCD_CLIENT_HTTP2: "" }), "own");
  assert.equal(clientHttp2FromEnvironment({ RXETCD_CLIENT_HTTP2: "node" }), "node");
  assert.equal(clientHttp2FromEnvironment({ RXETCD_CLIENT_HTTP2: "own" }), "own");
  for (const value of ["1", "OWN", "on", "nghttp2"])
    assert.throws(
      () => clientHttp2FromEnvironment({ RXETCD_CLIENT_HTTP2: value }),
      (err: Error) =>
        err.message.includes("own") && err.message.includes("node") && err.message.endsWith(value),
    );
});
