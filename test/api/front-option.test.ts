// The switches of the client port's thread: RXETCD_CLIENT_THREAD is 1 or off, and nothing else passes
// for either; RXETCD_FRONT_URL is an http:// URL with a port.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { clientThreadFromEnvironment, frontFromEnvironment } from "../../src/api/front/front-option.js";

describe("the client port thread's switches", () => {
  it("reads RXETCD_CLIENT_THREAD as 1 for on, unset, empty or 0 for off, and refuses anything else", () => {
    assert.equal(clientThreadFromEnvironment({ RXETCD_CLIENT_THREAD: "1" }), true);
    assert.equal(clientThreadFromEnvironment({}), false);
    assert.equal(clientThreadFromEnvironment({ RXETCD_CLIENT_THREAD: "" }), false);
    assert.equal(clientThreadFromEnvironment({ RXETCD_CLIENT_THREAD: "0" }), false);
    for (const value of ["true", "yes", "2", " 1"])
      assert.throws(
        () => clientThreadFromEnvironment({ RXETCD_CLIENT_THREAD: value }),
        /RXETCD_CLIENT_THREAD/,
      );
  });

  it("reads RXETCD_FRONT_URL as an http:// URL with a port", () => {
    assert.equal(frontFromEnvironment({}), undefined);
    assert.equal(frontFromEnvironment({ RXETCD_FRONT_URL: "http://127.0.0.1:4000" })?.listenUrl.port, "4000");
    assert.throws(
      () => frontFromEnvironment({ RXETCD_FRONT_URL: "https://127.0.0.1:4000" }),
      /RXETCD_FRONT_URL/,
    );
    assert.throws(() => frontFromEnvironment({ RXETCD_FRONT_URL: "http://127.0.0.1" }), /RXETCD_FRONT_URL/);
  });
});
