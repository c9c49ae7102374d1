// The gateway over WebSocket, as etcd 3.4 wraps it (grpc-websocket-proxy): one request line per message, one
// answer line per text message, "Bearer" echoed as the protocol, the shutdown line before the connection goes;
// and an upgrade that is not a WebSocket (curl's h2c) is answered over HTTP/1.1.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { WebSocket } from "ws";
import { http, startHarness } from "./harness.js";

/** A WebSocket client that queues the text messages it receives. */
class Client {
  readonly ws: WebSocket;
  private readonly received: string[] = [];
  private waiting: ((m: string | undefined) => void) | undefined;
  readonly closed: Promise<number>;

  constructor(url: string, protocols?: string[]) {
    this.ws = new WebSocket(url, protocols);
    this.ws.on("message", (data: Buffer, isBinary: boolean) => {
      assert.equal(isBinary, false, "answers are text messages");
      this.received.push(data.toString("utf8"));
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code: number) => {
        resolve(code);
        this.wake();
      }),
    );
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.(this.received.shift());
  }

  opened(): Promise<void> {
    return new Promise((resolve, reject) => this.ws.once("open", () => resolve()).once("error", reject));
  }

  /** The next message, or undefined once the connection closed without one. */
  next(): Promise<string | undefined> {
    if (this.received.length > 0) return Promise.resolve(this.received.shift());
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** How many watchers the in-memory member has (each open gateway watch holds one). */
const watchers = (api: object) => (api as unknown as { watchers: Set<unknown> }).watchers.size;

for (const clientThread of [false, true])
  describe(`gateway over WebSocket${clientThread ? ", through the client port's thread" : ""}`, {
    timeout: 60_000,
  }, () => {
    it("watches: one request line per message, one answer line per text message", async () => {
      const h = await startHarness({ clientThread });
      const c = new Client(`ws://${h.hostPort}/v3/watch`);
      try {
        await c.opened();
        c.ws.send(JSON.stringify({ create_request: { key: b64("ws-key") } }));
        const created = JSON.parse((await c.next()) ?? "null");
        assert.equal(created?.result?.created, true, `created: ${JSON.stringify(created)}`);
        const put = await http(h.url, "/v3/kv/put", {
          body: JSON.stringify({ key: b64("ws-key"), value: b64("v1") }),
        });
        assert.equal(put.status, 200);
        const event = JSON.parse((await c.next()) ?? "null");
        const kv = event?.result?.events?.[0]?.kv;
        assert.equal(kv?.key, b64("ws-key"), `event: ${JSON.stringify(event)}`);
        assert.equal(kv?.value, b64("v1"));
        assert.equal(event.result.watch_id, created.result.watch_id);
      } finally {
        c.ws.close();
        await h.close();
      }
    });

    it("answers a unary call at its first message, then closes the connection, as etcd does", async () => {
      const h = await startHarness({ clientThread });
      const put = await http(h.url, "/v3/kv/put", {
        body: JSON.stringify({ key: b64("u"), value: b64("1") }),
      });
      assert.equal(put.status, 200);
      const c = new Client(`ws://${h.hostPort}/v3/kv/range`);
      try {
        await c.opened();
        // the client keeps its side open: the answer must not wait for it
        c.ws.send(JSON.stringify({ key: b64("u") }));
        const answer = JSON.parse((await c.next()) ?? "null");
        assert.equal(answer?.kvs?.[0]?.value, b64("1"), `answer: ${JSON.stringify(answer)}`);
        assert.equal(await c.closed, 1006, "closed without a close frame, as the proxy closes it");
      } finally {
        c.ws.close();
        await h.close();
      }
    });

    it('answers "Bearer, <token>" with the Bearer protocol, and no protocol otherwise', async () => {
      const h = await startHarness({ clientThread });
      const bearer = new Client(`ws://${h.hostPort}/v3/watch`, ["Bearer", "sometoken"]);
      const plain = new Client(`ws://${h.hostPort}/v3/watch`);
      try {
        await Promise.all([bearer.opened(), plain.opened()]);
        assert.equal(bearer.ws.protocol, "Bearer");
        assert.equal(plain.ws.protocol, "");
      } finally {
        bearer.ws.close();
        plain.ws.close();
        await h.close();
      }
    });

    it("ends an open watch on shutdown with etcd's Unavailable line, then closes the connection", async () => {
      const h = await startHarness({ clientThread });
      const c = new Client(`ws://${h.hostPort}/v3/watch`);
      await c.opened();
      c.ws.send(JSON.stringify({ create_request: { key: b64("w") } }));
      assert.match((await c.next()) ?? "", /"created":true/);
      await h.close();
      assert.equal(
        await c.next(),
        '{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}',
      );
      await c.closed;
      assert.equal(await c.next(), undefined, "nothing after the last line");
    });

    it("closes the gateway stream when the client goes away", async () => {
      const h = await startHarness({ clientThread });
      try {
        const c = new Client(`ws://${h.hostPort}/v3/watch`);
        await c.opened();
        c.ws.send(JSON.stringify({ create_request: { key: b64("gone") } }));
        assert.match((await c.next()) ?? "", /"created":true/);
        const before = watchers(h.api);
        assert.equal(before, 1);
        c.ws.terminate();
        const deadline = Date.now() + 10_000;
        while (watchers(h.api) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(watchers(h.api), 0, "the watch ended with the connection");
      } finally {
        await h.close();
      }
    });

    it("answers an h2c upgrade request (curl --http2 on http://) over HTTP/1.1", async () => {
      const h = await startHarness({ clientThread });
      const socket = connect(Number(h.url.port), h.url.hostname);
      try {
        const answer = await new Promise<string>((resolve, reject) => {
          let text = "";
          socket.on("data", (d: Buffer) => {
            text += d.toString("latin1");
          });
          socket.once("close", () => resolve(text));
          socket.once("error", reject);
          socket.write(
            "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
          );
        });
        assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(answer, /"health":"true"/);
      } finally {
        socket.destroy();
        await h.close();
      }
    });
  });
