// The gateway is built on its first request: requests arriving while it loads are all served, in
// arrival order, by one gateway; a load that fails answers 500 and the next request loads again.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import type { GatewayHandler } from "../../src/api/gateway/gateway.js";
import { lazyGateway } from "../../src/api/gateway/lazy-gateway.js";

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: GatewayHandler): Promise<string> {
  const server = createServer((req, res) => handler(req, res, req.url ?? "/"));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("lazyGateway", () => {
  test("loads once; requests waiting for the load are served in arrival order", async () => {
    let loads = 0;
    const seen: string[] = [];
    let release: () => void = () => {};
    const loaded = new Promise<void>((r) => {
      release = r;
    });
    const url = await serve(
      lazyGateway(async () => {
        loads++;
        await loaded;
        return (_req, res, path) => {
          seen.push(path);
          res.end(`served ${path}`);
        };
      }),
    );
    const answers = [fetch(`${url}/v3/a`), fetch(`${url}/v3/b`)];
    // both requests are waiting before the load ends
    while (loads === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 50));
    release();
    const texts = await Promise.all(answers.map(async (a) => (await a).text()));
    assert.deepEqual(texts.sort(), ["served /v3/a", "served /v3/b"]);
    assert.equal(await (await fetch(`${url}/v3/c`)).text(), "served /v3/c");
    assert.equal(loads, 1);
    assert.equal(seen.at(-1), "/v3/c");
  });

  test("a failed load answers 500 with its reason; the next request loads again", async () => {
    let loads = 0;
    const url = await serve(
      lazyGateway(async () => {
        loads++;
        if (loads === 1) throw new Error("cannot load the gateway");
        return (_req, res) => res.end("ok");
      }),
    );
    const failed = await fetch(`${url}/v3/kv/range`, { method: "POST" });
    assert.equal(failed.status, 500);
    assert.match(await failed.text(), /cannot load the gateway/);
    const next = await fetch(`${url}/v3/kv/range`, { method: "POST" });
    assert.equal(await next.text(), "ok");
    assert.equal(loads, 2);
  });
});
