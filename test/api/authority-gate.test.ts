// The client port's HTTP/2 gate: Node's HTTP/2 gets the socket itself when a connection's first
// request carries a valid :authority, the repairing wrapper otherwise, and clients of every
// temperament (request at once, request only after the server's SETTINGS, PING first) are served.
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  connect,
  createServer as createH2Server,
  type Http2Server,
} from "node:http2";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { type GateVerdict, gateHttp2Connection } from "../../src/api/grpc/authority-gate.js";

describe("HTTP/2 connection gate", { timeout: 60_000 }, () => {
  let h2: Http2Server;
  let server: Server;
  let port: number;
  const verdicts: { verdict: GateVerdict; same: boolean }[] = [];

  before(async () => {
    h2 = createH2Server();
    h2.on("stream", (stream, headers) => {
      stream.respond({ ":status": 200 });
      stream.end(String(headers[":authority"]));
    });
    server = createServer((socket: Socket) => {
      gateHttp2Connection(socket, (connection, verdict) => {
        verdicts.push({ verdict, same: connection === socket });
        h2.emit("connection", connection);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    h2.close();
  });

  /** One GET on a fresh connection; `first` runs on the session before the request is made. */
  async function get(authority: string, first?: (s: ClientHttp2Session) => Promise<void>) {
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      session.on("error", () => {});
      if (first) await first(session);
      return await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ":path": "/", ":authority": authority });
        let status = 0;
        let body = "";
        req.on("response", (headers) => (status = Number(headers[":status"])));
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => resolve({ status, body }));
        req.on("error", reject);
        req.end();
      });
    } finally {
      session.close();
    }
  }
  const lastVerdict = () => verdicts[verdicts.length - 1];

  it("hands Node the socket itself for a client that sends its request at once", async () => {
    assert.deepEqual(await get(`127.0.0.1:${port}`), { status: 200, body: `127.0.0.1:${port}` });
    assert.deepEqual(lastVerdict(), { verdict: "direct", same: true });
  });

  it("serves a client that waits for the server's SETTINGS before its first request", async () => {
    const waitSettings = (s: ClientHttp2Session) =>
      new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()));
    assert.deepEqual(await get(`127.0.0.1:${port}`, waitSettings), {
      status: 200,
      body: `127.0.0.1:${port}`,
    });
    assert.deepEqual(lastVerdict(), { verdict: "direct", same: true });
    // and several requests later on the same connection still work (Node owns it alone)
    const session = connect(`http://127.0.0.1:${port}`);
    await waitSettings(session);
    for (let i = 0; i < 5; i++) {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ":path": `/${i}` });
        let b = "";
        req.on("data", (d: Buffer) => (b += d.toString()));
        req.on("end", () => resolve(b));
        req.on("error", reject);
        req.end();
      });
      assert.equal(body, `127.0.0.1:${port}`);
    }
    session.close();
  });

  it("repairs a URL authority through the wrapper", async () => {
    assert.deepEqual(await get(`http://127.0.0.1:${port}`), { status: 200, body: `127.0.0.1:${port}` });
    assert.deepEqual(lastVerdict(), { verdict: "repair", same: false });
  });

  it("gives a connection that pings before its first request to the wrapper, which answers the ping", async () => {
    const ping = (s: ClientHttp2Session) =>
      new Promise<void>((resolve, reject) => {
        s.once("remoteSettings", () => {
          s.ping((err) => (err ? reject(err) : resolve()));
        });
      });
    assert.deepEqual(await get(`127.0.0.1:${port}`, ping), { status: 200, body: `127.0.0.1:${port}` });
    assert.deepEqual(lastVerdict(), { verdict: "repair", same: false });
  });
});
