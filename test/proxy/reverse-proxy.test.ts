// The reverse proxy in one process: fake members on loopback, a director with fixed client URLs.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import pino from "pino";
import { Director } from "../../src/proxy/director.js";
import { ProxyMetrics } from "../../src/proxy/metrics.js";
import { proxyHandler } from "../../src/proxy/proxy-handler.js";
import { reverseProxy } from "../../src/proxy/reverse-proxy.js";
import { Agents } from "../../src/transport/http-util.js";

const log = pino({ level: "silent" });
const servers: Server[] = [];
const agents = new Agents(undefined, true);
after(() => {
  for (const s of servers) s.closeAllConnections();
  for (const s of servers) s.close();
  agents.destroy();
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const s = createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

/** A URL nothing listens on (a port bound, then released). */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A member that records what it got and answers 200 "ok" with an extra and a hop-by-hop header. */
async function recordingMember(seen: Seen[]): Promise<string> {
  return listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200, { "X-Answer": "yes", Upgrade: "nothing", "Content-Type": "text/plain" });
      res.end("ok");
    });
  });
}

async function startProxy(
  urls: string[],
  opts: { readonly?: boolean; readMs?: number; failureWaitMs?: number } = {},
) {
  const director = new Director({
    clientUrls: async () => urls,
    failureWaitMs: opts.failureWaitMs ?? 60_000,
    refreshIntervalMs: 60_000,
    log,
    // the identity shuffle: endpoints are tried in the given order
    random: () => 0.999999,
  });
  await director.start();
  const metrics = new ProxyMetrics();
  const handler = proxyHandler({
    readonly: opts.readonly ?? false,
    cors: ["*"],
    director,
    metrics,
    forward: reverseProxy({
      director,
      agentFor: (u) => agents.for(u),
      timeouts: { dialMs: 1000, writeMs: 5000, readMs: opts.readMs ?? 0 },
      metrics,
      log,
    }),
  });
  const url = await listen(handler);
  after(() => director.stop());
  return { url, director, metrics };
}

function call(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }> {
  return new Promise((done, fail) => {
    // a body always with its length (Node's client sends a DELETE or OPTIONS body without one)
    const length = opts.body === undefined ? {} : { "Content-Length": String(Buffer.byteLength(opts.body)) };
    const headers = { ...length, ...opts.headers };
    const req = request(url, { method: opts.method ?? "GET", headers, signal: opts.signal });
    req.on("error", fail);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.end(opts.body);
  });
}

describe("the proxy's reverse proxy", () => {
  test("sends the request on without hop-by-hop headers, adding X-Forwarded-For", async () => {
    const seen: Seen[] = [];
    const member = await recordingMember(seen);
    const p = await startProxy([member]);
    const a = await call(`${p.url}/v3/kv/put?x=1`, {
      method: "POST",
      headers: {
        "X-Forwarded-For": "10.0.0.1",
        "Proxy-Authorization": "secret",
        Te: "trailers",
        "X-Thing": "kept",
        "Content-Type": "application/json",
      },
      body: '{"key":"YQ=="}',
    });
    assert.equal(a.status, 200);
    assert.equal(a.body, "ok");
    assert.equal(a.headers["x-answer"], "yes");
    assert.equal(a.headers.upgrade, undefined);
    assert.equal(a.headers["access-control-allow-origin"], "*");
    assert.equal(seen.length, 1);
    const got = seen[0];
    assert.equal(got.method, "POST");
    assert.equal(got.url, "/v3/kv/put?x=1");
    assert.equal(got.body, '{"key":"YQ=="}');
    assert.equal(got.headers["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    assert.equal(got.headers["x-thing"], "kept");
    assert.equal(got.headers["proxy-authorization"], undefined);
    assert.equal(got.headers.te, undefined);
    assert.equal(got.headers.host, new URL(p.url).host, "the client's Host is kept");
  });

  test("a failing endpoint is skipped, the buffered body sent again to the next, and retried after the wait", async () => {
    const seen: Seen[] = [];
    const dead = await deadUrl();
    const member = await recordingMember(seen);
    const p = await startProxy([dead, member], { failureWaitMs: 300 });
    const body = "x".repeat(100_000);
    const a = await call(`${p.url}/v3/kv/put`, { method: "POST", body });
    assert.equal(a.status, 200);
    assert.equal(seen[0].body, body);
    assert.deepEqual(
      p.director.endpoints().map((e) => e.url.origin),
      [member],
    );
    // available again once the failure wait is over (bounded generously)
    const deadline = Date.now() + 20_000;
    while (p.director.endpoints().length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(p.director.endpoints().length, 2);
    assert.match(
      await p.metrics.registry.metrics(),
      /etcd_proxy_dropped_total\{method="POST",proxying_error="failed_sending_request"\} 1/,
    );
  });

  test("etcd's answers when every endpoint fails, then when none is left", async () => {
    const p = await startProxy([await deadUrl(), await deadUrl()]);
    const a = await call(`${p.url}/version`);
    assert.deepEqual(
      [a.status, a.body],
      [502, '{"message":"httpproxy: unable to get response from 2 endpoint(s)"}'],
    );
    assert.equal(a.headers["content-type"], "application/json");
    const b = await call(`${p.url}/version`);
    assert.deepEqual(
      [b.status, b.body],
      [503, '{"message":"httpproxy: zero endpoints currently available"}'],
    );
  });

  test("a member silent past the read timeout counts as failed", async () => {
    const silent = await listen(() => {});
    const p = await startProxy([silent], { readMs: 200 });
    const a = await call(`${p.url}/version`);
    assert.equal(a.status, 502);
  });

  test("a client that goes away cancels its request to the member", async () => {
    let closed!: () => void;
    const memberSawClose = new Promise<void>((r) => {
      closed = r;
    });
    const member = await listen((req) => req.socket.once("close", () => closed()));
    const p = await startProxy([member]);
    const ctl = new AbortController();
    const pending = call(`${p.url}/v3/watch`, { method: "POST", body: "{}", signal: ctl.signal }).catch(
      () => "aborted",
    );
    await new Promise((r) => setTimeout(r, 200));
    ctl.abort();
    assert.equal(await pending, "aborted");
    await memberSawClose;
  });

  test("readonly: 501 and no body for all but GET; the proxy's own endpoint lists the members", async () => {
    const seen: Seen[] = [];
    const member = await recordingMember(seen);
    const p = await startProxy([member], { readonly: true });
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const a = await call(`${p.url}/v3/kv/range`, { method, body: "{}" });
      assert.deepEqual([a.status, a.body], [501, ""], method);
    }
    assert.equal(seen.length, 0);
    assert.equal((await call(`${p.url}/v3/kv/range`)).status, 200);
    const local = await call(`${p.url}/v2/config/local/proxy`);
    assert.equal(local.body, `{"endpoints":["${member}"]}\n`);
  });
});
