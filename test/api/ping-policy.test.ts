// The keepalive enforcement of the client port, on a bare HTTP/2 server with a clock the test moves:
// early pings are strikes, the fourth strike-worthy ping ends the connection with GOAWAY
// ENHANCE_YOUR_CALM "too_many_pings", pings at the minimum interval with a stream open are fine, and
// a response sent between pings forgives them (grpc-go's rules, which etcd serves with).
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  createServer,
  type Http2Server,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { after, test } from "node:test";
import { enforcePingPolicy } from "../../src/api/grpc/ping-policy.js";

const MIN_TIME_MS = 5_000;

interface Setup {
  client: ClientHttp2Session;
  /** The test's clock, read by the policy. */
  clock: { ms: number };
  /** The GOAWAY the client received, once it did. */
  goaway: Promise<{ code: number; last: number; data: string }>;
  /** Resolves each stream the server opened with a function that answers it. */
  answers: Array<() => void>;
}

const servers: Http2Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function setup(unary = false): Promise<Setup> {
  const clock = { ms: 1_000_000 };
  const answers: Array<() => void> = [];
  const server = createServer();
  servers.push(server);
  server.on("session", (s) =>
    enforcePingPolicy(s, {
      minTimeMs: MIN_TIME_MS,
      now: () => clock.ms,
      ...(unary ? { isUnary: (path: string) => path === "/" } : {}),
    }),
  );
  server.on("stream", (stream) => {
    answers.push(() => {
      stream.respond({ ":status": 200 });
      stream.write("x");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on("error", () => {});
  const goaway = new Promise<{ code: number; last: number; data: string }>((resolve) =>
    client.on("goaway", (code, last, data) => resolve({ code, last, data: data?.toString() ?? "" })),
  );
  await new Promise<void>((r) => client.once("connect", () => r()));
  return { client, clock, goaway, answers };
}

/** One ping, answered (the server saw it once the acknowledgement is back). */
function ping(client: ClientHttp2Session): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      client.ping((err) => resolve(err === null));
    } catch {
      resolve(false);
    }
  });
}

function openStream(s: Setup): ClientHttp2Stream {
  const stream = s.client.request({ ":path": "/", ":method": "POST" }, { endStream: false });
  stream.on("error", () => {});
  return stream;
}

async function waitForStreams(s: Setup, n: number): Promise<void> {
  while (s.answers.length < n) await new Promise((r) => setTimeout(r, 5));
}

/** The GOAWAY, or a failure after a few seconds (a test never waits forever). */
function arrived<T>(p: Promise<T>): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error("no GOAWAY within 5 s")), 5000).unref()),
  ]);
}

const notYet = (p: Promise<unknown>) => Promise.race([p.then(() => "settled"), Promise.resolve("pending")]);

test("without a stream, the fourth ping within two hours ends the connection: GOAWAY too_many_pings", async () => {
  const s = await setup();
  for (let i = 0; i < 3; i++) {
    assert.equal(await ping(s.client), true, `ping ${i + 1} answered`);
    s.clock.ms += 60 * 60 * 1000 - 1; // under the two hours allowed without a stream
  }
  assert.equal(await notYet(s.goaway), "pending", "three pings are tolerated");
  await ping(s.client);
  // the GOAWAY names the last stream taken, as grpc-go's does (Node puts it in for the 0 given)
  assert.deepEqual(await arrived(s.goaway), {
    code: constants.NGHTTP2_ENHANCE_YOUR_CALM,
    last: 0,
    data: "too_many_pings",
  });
  await new Promise<void>((r) => (s.client.closed ? r() : s.client.once("close", () => r())));
});

test("with a stream open, pings at the minimum interval are fine and faster ones are not", async () => {
  const s = await setup();
  openStream(s);
  await waitForStreams(s, 1);
  for (let i = 0; i < 10; i++) {
    if (i > 0) s.clock.ms += MIN_TIME_MS;
    assert.equal(await ping(s.client), true);
  }
  assert.equal(await notYet(s.goaway), "pending", "ten pings five seconds apart");
  for (let i = 0; i < 2; i++) {
    s.clock.ms += MIN_TIME_MS - 1;
    await ping(s.client);
  }
  assert.equal(await notYet(s.goaway), "pending", "two strikes are tolerated");
  s.clock.ms += MIN_TIME_MS - 1;
  await ping(s.client);
  // the GOAWAY names the last stream taken, as grpc-go's does (Node puts it in for the 0 given)
  assert.deepEqual(await arrived(s.goaway), {
    code: constants.NGHTTP2_ENHANCE_YOUR_CALM,
    last: 1,
    data: "too_many_pings",
  });
});

test("a unary call's answer forgives the early pings before it; an unanswered one does not", async () => {
  const s = await setup(true);
  for (let i = 0; i < 6; i++) {
    openStream(s);
    await waitForStreams(s, i + 1);
    s.answers[i]();
    await ping(s.client);
  }
  assert.equal(await notYet(s.goaway), "pending", "six early pings, each after an answer");
  openStream(s);
  await waitForStreams(s, 7);
  for (let i = 0; i < 4; i++) {
    s.clock.ms += MIN_TIME_MS - 1;
    await ping(s.client);
  }
  // the GOAWAY names the last stream taken, as grpc-go's does (Node puts it in for the 0 given)
  assert.deepEqual(await arrived(s.goaway), {
    code: constants.NGHTTP2_ENHANCE_YOUR_CALM,
    last: 13,
    data: "too_many_pings",
  });
});

test("the server sending headers or data between pings forgives the early ones", async () => {
  const s = await setup();
  for (let i = 0; i < 12; i++) {
    openStream(s);
    await waitForStreams(s, i + 1);
    s.answers[i]();
    await ping(s.client);
  }
  assert.equal(await notYet(s.goaway), "pending", "twelve early pings, each after a response");
  assert.equal(s.client.closed, false);
});

test("pings while a large answer sent with one end() is still going out are not strikes", async () => {
  const clock = { ms: 1_000_000 };
  const server = createServer();
  servers.push(server);
  server.on("session", (sess) => enforcePingPolicy(sess, { minTimeMs: MIN_TIME_MS, now: () => clock.ms }));
  // the unary gRPC path answers with respond() and a single end(message)
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200 });
    stream.end(Buffer.alloc(2 * 1024 * 1024, 1));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on("error", () => {});
  const goaway = new Promise<string>((resolve) => client.on("goaway", () => resolve("goaway")));
  await new Promise<void>((r) => client.once("connect", () => r()));
  const stream = client.request({ ":path": "/", ":method": "POST" });
  stream.on("error", () => {});
  // not reading: the client's flow-control window holds most of the answer back on the server
  stream.pause();
  await new Promise<void>((r) => stream.once("response", () => r()));
  for (let i = 0; i < 6; i++) {
    clock.ms += 1; // far sooner than the minimum interval, like the BDP pings grpc-go sends with data
    assert.equal(await ping(client), true, `ping ${i + 1} answered`);
  }
  assert.equal(await notYet(goaway), "pending", "the server was still sending");
  let received = 0;
  stream.on("data", (chunk: Buffer) => {
    received += chunk.length;
  });
  stream.resume();
  await new Promise<void>((r) => stream.once("end", () => r()));
  assert.equal(received, 2 * 1024 * 1024);
  client.close();
});
