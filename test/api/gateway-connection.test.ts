// The client port's HTTP/1.1 connections as etcd 3.4 keeps them: no keep-alive headers, no idle timeout, and an
// open gateway stream ended with etcd's "transport is closing" line when the member shuts down; alike when the
// port is served from its thread (RXETCD_CLIENT_THREAD), which passes such connections to the main thread.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { http, startHarness } from "./harness.js";

/** Sends one request on `socket` and resolves with the head of the answer once its body (Content-Length) is in. */
function exchange(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? Number.NaN);
      if (text.length - end - 4 < length) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      resolve(text.slice(0, end));
    };
    const onClose = () =>
      reject(new Error(`connection closed before the answer to ${path}; got ${JSON.stringify(text)}`));
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  });
}

for (const clientThread of [false, true])
  describe(`client port HTTP/1.1 connections${clientThread ? ", served through the client port's thread" : ""}`, {
    timeout: 60_000,
  }, () => {
    it("sends no Connection or Keep-Alive header and keeps an idle connection open past Node's 5 s", async () => {
      const h = await startHarness({ clientThread });
      const socket = connect(Number(h.url.port), h.url.hostname);
      try {
        await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
        const first = await exchange(socket, "/version");
        assert.match(first, /^HTTP\/1\.1 200 OK\r\n/);
        assert.doesNotMatch(first, /^connection:/im);
        assert.doesNotMatch(first, /^keep-alive:/im);
        await new Promise((r) => setTimeout(r, 6_000));
        const second = await exchange(socket, "/health");
        assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
        assert.doesNotMatch(second, /^connection:/im);
      } finally {
        socket.destroy();
        await h.close();
      }
    });

    it("answers a request that asks to close with Connection: close, and closes", async () => {
      const h = await startHarness({ clientThread });
      try {
        const answer = await http(h.url, "/version", { headers: { connection: "close" } });
        assert.equal(answer.status, 200);
        assert.equal(answer.headers.connection, "close");
      } finally {
        await h.close();
      }
    });

    it("ends an open gateway watch on shutdown with etcd's Unavailable line and the last chunk", async () => {
      const h = await startHarness({ clientThread });
      let created: () => void = () => {};
      const isCreated = new Promise<void>((resolve) => {
        created = resolve;
      });
      const watching = http(h.url, "/v3/watch", {
        body: '{"create_request":{"key":"dw=="}}',
        onChunk: () => created(),
      });
      await isCreated;
      await h.close();
      const w = await watching;
      assert.equal(w.status, 200);
      assert.equal(w.chunks.length, 2, `chunks: ${JSON.stringify(w.chunks)}`);
      assert.match(w.chunks[0], /^\{"result":\{"header":.*"created":true\}\}\n$/);
      assert.equal(
        w.chunks[1],
        '{"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}}',
      );
    });
  });
