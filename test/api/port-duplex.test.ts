// The in-process connections between the client port's thread and the main thread: bytes arrive
// whole and in order, a writer is held while its reader does not read, an end is a half-close and a
// destroy reaches the other side.
import assert from "node:assert/strict";
import { once } from "node:events";
import { describe, it } from "node:test";
import { MessageChannel } from "node:worker_threads";
import { PortDuplex } from "../../src/api/front/port-duplex.js";
import { mulberry32, withSeed } from "../seeded-random.js";

function pair(): [PortDuplex, PortDuplex] {
  const { port1, port2 } = new MessageChannel();
  return [new PortDuplex(port1, { remoteAddress: "10.0.0.1", remotePort: 4242 }), new PortDuplex(port2)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("PortDuplex", () => {
  it("carries random chunks whole and in order, and holds a writer its reader does not read", async () => {
    const FILE = "test/api/port-duplex.test.ts";
    const { seed, chunks } = withSeed("PORT_DUPLEX_SEED", FILE, (seed) => {
      const random = mulberry32(seed);
      const chunks = Array.from({ length: 200 }, () =>
        Buffer.from(
          Array.from({ length: 1 + Math.floor(random() * 64 * 1024) }, () => Math.floor(random() * 256)),
        ),
      );
      return { seed, chunks };
    });
    const [a, b] = pair();
    try {
      assert.equal(a.remoteAddress, "10.0.0.1");
      assert.equal(a.remotePort, 4242);
      const sent = Buffer.concat(chunks);
      b.pause();
      let written = 0;
      const writing = (async () => {
        for (const chunk of chunks) {
          if (!a.write(chunk)) await once(a, "drain");
          written += chunk.length;
        }
        a.end();
      })();
      await sleep(200);
      // about a window (1 MiB) and the writable's own buffer get out before the reader reads
      assert.ok(written < 4 << 20, `${written} bytes written while nothing was read`);
      assert.ok(written < sent.length);
      const received: Buffer[] = [];
      b.on("data", (chunk: Buffer) => received.push(chunk));
      b.resume();
      await once(b, "end");
      await writing;
      assert.ok(Buffer.concat(received).equals(sent), "the bytes differ");
    } catch (err) {
      if (err instanceof Error)
        err.message += `\nseed ${seed}; replay: PORT_DUPLEX_SEED=${seed} node --import tsx --test ${FILE}`;
      throw err;
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it("keeps the other direction open after an end, and a destroy closes the other side", async () => {
    const [a, b] = pair();
    b.resume();
    a.end();
    await once(b, "end");
    b.write("still open");
    const [chunk] = (await once(a, "data")) as [Buffer];
    assert.equal(chunk.toString(), "still open");
    const closed = once(b, "close");
    a.destroy();
    await closed;
    assert.equal(b.destroyed, true);
  });

  it("delivers what was written just before a destroy, then closes the other side and the port", async () => {
    for (let round = 0; round < 50; round++) {
      const [a, b] = pair();
      const received: Buffer[] = [];
      b.on("data", (chunk: Buffer) => received.push(chunk));
      const closed = once(b, "close");
      a.write(`last line ${round}`);
      a.destroy();
      await closed;
      assert.equal(Buffer.concat(received).toString(), `last line ${round}`, `round ${round}`);
      // the destroyed side's port no longer holds the process open: a timer does, as a closing server's does
      const limit = setTimeout(() => {}, 5000);
      await Promise.all([a.released, b.released]);
      clearTimeout(limit);
    }
  });
});
