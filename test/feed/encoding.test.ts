import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { inflateSync } from "node:zlib";
import { firstValueFrom, take, timeout, toArray } from "rxjs";
import { io, type Socket } from "socket.io-client";
import { FEED_PATH, FeedBatch, FeedMessages, type Subscription } from "../../src/feed/protocol.js";
import { events, is, put, startMember, type TestMember } from "./harness.js";

/** A bare socket.io client: what arrives as each batch's argument, before any decoding. */
function rawClient(url: string, subscription: Subscription): { socket: Socket; args: unknown[] } {
  const socket = io(url, { path: FEED_PATH, transports: ["websocket"], forceNew: true, reconnection: false });
  const args: unknown[] = [];
  socket.on("connect", () => socket.emit(FeedMessages.subscribe, subscription));
  socket.on(FeedMessages.batch, (arg: unknown) => args.push(arg));
  return { socket, args };
}

/** The batches in a raw client's arguments, decoded as the protocol says for the encoding. */
function batchesOf(args: unknown[], encoding: "json" | "deflate"): FeedBatch[] {
  return args.map((arg) => {
    const json = encoding === "deflate" ? JSON.parse(inflateSync(arg as Buffer).toString("utf8")) : arg;
    const decoded = FeedBatch.decode(json);
    assert.equal(decoded._tag, "Right", `a ${encoding} batch decodes`);
    return (decoded as { right: FeedBatch }).right;
  });
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const kvKeys = (batches: FeedBatch[]) =>
  batches.flatMap((b) => b.events.filter(is("kv")).map((e) => `${e.key}=${e.value}@${e.revision}`));

describe("batch encodings: deflate (protocol 2) and JSON (protocol 1)", { timeout: 120_000 }, () => {
  let m: TestMember;
  const sockets: Socket[] = [];
  before(async () => {
    m = await startMember();
    await put(m, "enc/seed", "0");
  });
  after(async () => {
    for (const s of sockets) s.disconnect();
    await m?.close();
  });

  test("deflate clients get binary batches, JSON clients (and protocol-1 clients) get JSON, with the same events", async () => {
    const sub: Subscription = { topics: ["raft"], keys: [{ key: "enc/", prefix: true }] };
    const deflate = rawClient(m.url, { ...sub, encoding: "deflate" });
    const json = rawClient(m.url, { ...sub, encoding: "json" });
    const v1 = rawClient(m.url, sub);
    sockets.push(deflate.socket, json.socket, v1.socket);
    await until("every client has its initial state", () =>
      [deflate, json, v1].every((c) => c.args.length >= 1),
    );
    const n = 60;
    for (let i = 0; i < n; i++) await put(m, `enc/k${i % 7}`, `value ${i} ${"x".repeat(i)}`);
    const puts = (args: unknown[], encoding: "json" | "deflate") => kvKeys(batchesOf(args, encoding)).length;
    await until("every client has every change", () =>
      [
        [deflate, "deflate"],
        [json, "json"],
        [v1, "json"],
      ].every(([c, e]) => puts((c as typeof deflate).args, e as "json" | "deflate") >= n),
    );

    for (const arg of deflate.args) assert.ok(Buffer.isBuffer(arg), "a deflate client's batch is binary");
    for (const arg of [...json.args, ...v1.args])
      assert.ok(!Buffer.isBuffer(arg) && typeof arg === "object", "a JSON client's batch is a JSON object");

    const fromDeflate = batchesOf(deflate.args, "deflate");
    assert.equal(fromDeflate[0].initial, true, "the initial state comes deflated too");
    const snapshot = fromDeflate[0].events.find(is("kv.snapshot"));
    assert.deepEqual(
      snapshot?.kvs.map((kv) => kv.key),
      ["enc/seed"],
    );
    const expected = kvKeys(fromDeflate);
    assert.equal(expected.length, n);
    assert.deepEqual(kvKeys(batchesOf(json.args, "json")), expected);
    assert.deepEqual(kvKeys(batchesOf(v1.args, "json")), expected);
    const revisions = expected.map((k) => Number(k.split("@")[1]));
    assert.deepEqual(
      revisions,
      [...revisions].sort((a, b) => a - b),
      "changes arrive in revision order",
    );
  });

  test("FeedClient inflates deflated batches in order and acknowledges them", async () => {
    const c = m.connect({ subscription: { topics: [], keys: [{ key: "ord/", prefix: true }] } });
    const socket = await c.opened;
    const raw: unknown[] = [];
    socket.on(FeedMessages.batch, (arg: unknown) => raw.push(arg));
    const acks: number[] = [];
    socket.onAnyOutgoing((name: string, n: unknown) => {
      if (name === FeedMessages.ack) acks.push(n as number);
    });
    await firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
    const n = 200;
    const seen = events(c.events$, is("kv"), n, "kv events");
    // several flushes' worth, some batches large and some small: inflating takes different times
    for (let i = 0; i < n; i++) {
      await put(m, `ord/${i}`, i % 50 === 0 ? "y".repeat(20_000) : String(i));
      if (i % 40 === 0) await new Promise((r) => setTimeout(r, 300));
    }
    const got = await seen;
    assert.deepEqual(
      got.map((e) => e.key),
      Array.from({ length: n }, (_, i) => `ord/${i}`),
    );
    assert.ok(raw.length >= 2, `several batches arrived (${raw.length})`);
    assert.ok(
      raw.every((a) => Buffer.isBuffer(a)),
      "FeedClient asks for deflate by default",
    );
    await until("every batch is acknowledged", () => acks.at(-1) === raw.length, 5_000);
  });

  test("FeedClient with encoding json gets JSON batches", async () => {
    const c = m.connect({ subscription: { topics: ["raft"] }, encoding: "json" });
    const raw: unknown[] = [];
    (await c.opened).on(FeedMessages.batch, (arg: unknown) => raw.push(arg));
    const first = await firstValueFrom(c.batches$.pipe(take(1), toArray(), timeout(10_000)));
    assert.equal(first[0].initial, true);
    assert.ok(raw.length >= 1 && raw.every((a) => !Buffer.isBuffer(a)), "JSON batches");
  });

  test("an unknown encoding is refused as a bad subscription", async () => {
    const c = m.connect({ subscription: { topics: ["raft"] } });
    await firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
    const err = firstValueFrom(c.errors$.pipe(take(1), timeout(10_000)));
    c.subscribe({ topics: ["raft"], encoding: "gzip" } as unknown as Subscription);
    const e = await err;
    assert.equal(e.code, "bad-subscription");
    assert.match(e.message, /encoding/);
  });
});
