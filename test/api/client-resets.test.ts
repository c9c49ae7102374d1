// A client that resets its connection is routine: etcd logs nothing for it, and neither does rxetcd (it used to
// warn "client connection error: read ECONNRESET" for every such client).
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startHarness } from "./harness.js";

test("a client resetting its connection, during sniffing or mid-request, logs no warning", async () => {
  const warnings: string[] = [];
  const h = await startHarness({
    logger: { info: () => {}, warn: (obj, msg) => warnings.push(`${msg} ${JSON.stringify(obj)}`) },
  });
  try {
    const sends = [
      "P",
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
      "POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
    ];
    for (const first of sends) {
      const socket = connect(Number(h.url.port), h.url.hostname);
      await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
      socket.write(first);
      await sleep(50);
      socket.resetAndDestroy();
    }
    // the member keeps serving, and the resets reached it (a request after them is answered)
    await sleep(200);
    const r = await fetch(new URL("/version", h.url));
    assert.equal(r.status, 200);
    assert.deepEqual(warnings, []);
  } finally {
    await h.close();
  }
});
