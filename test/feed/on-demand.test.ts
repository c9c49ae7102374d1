// The feed costs an idle member nothing: socket.io is loaded on the first feed request, and the
// member samples metrics and sends batches only while someone is subscribed.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { firstValueFrom, type Observable, take, timeout } from "rxjs";
import type { FeedBatch } from "../../src/feed/index.js";
import { is, nextEvent, startMember, type TestMember } from "./harness.js";

const firstBatch = (c: { batches$: Observable<FeedBatch> }): Promise<FeedBatch> =>
  firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));

const loaded = (pkg: string) =>
  Object.keys(createRequire(import.meta.url).cache).some((p) => p.includes(`/node_modules/${pkg}/`));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the feed on demand", { timeout: 120_000 }, () => {
  let m: TestMember;
  before(async () => {
    m = await startMember({ feed: { limits: { sampleIntervalMs: 50, flushIntervalMs: 50 } } });
  });
  after(async () => m?.close());

  test("socket.io is loaded by the first feed request, not by the start", async () => {
    assert.equal(loaded("socket.io"), false, "socket.io loaded before any feed request");
    assert.equal(loaded("engine.io"), false, "engine.io loaded before any feed request");
    const res = await fetch(`${m.url}/socket.io/?EIO=4&transport=polling`);
    const body = await res.text();
    assert.equal(res.status, 200, body);
    // an engine.io open packet: "0" and the handshake's JSON
    assert.match(body, /^0\{"sid":"[^"]+"/);
    assert.equal(loaded("socket.io"), true);
    assert.equal(loaded("engine.io"), true);
  });

  test("nothing is sampled while nobody subscribes; a subscriber gets a fresh sample at once; it stops after", async () => {
    const observer = m.etcd.feed!.events.observer;
    await sleep(300);
    assert.equal(observer.metrics(), undefined, "metrics were sampled with nobody subscribed");

    const c = m.connect({ subscription: { topics: ["metrics"] } });
    const batch = await firstBatch(c);
    const initial = batch.events.find(is("metrics"));
    assert.ok(
      initial,
      `the initial state holds a metrics sample: ${batch.events.map((e) => e.type).join(",")}`,
    );
    assert.equal(initial.revision, m.etcd.server.store.currentRev());
    assert.equal(initial.feedClients, 1);
    // while subscribed, samples keep coming
    const later = await nextEvent(c.events$, is("metrics"), "a later metrics sample");
    assert.ok(later.at >= initial.at);

    c.close();
    for (let i = 0; i < 200 && m.etcd.feed!.events.clientCount > 0; i++) await sleep(20);
    assert.equal(m.etcd.feed!.events.clientCount, 0);
    await sleep(100);
    const last = observer.metrics()?.at;
    await sleep(300);
    assert.equal(observer.metrics()?.at, last, "metrics are still sampled after the last subscriber left");
  });

  test("a subscription without metrics or peers does not start the sampler", async () => {
    const observer = m.etcd.feed!.events.observer;
    const last = observer.metrics()?.at;
    const c = m.connect({ subscription: { topics: ["raft"] } });
    const batch = await firstBatch(c);
    assert.ok(batch.events.some(is("raft.state")));
    await sleep(300);
    assert.equal(observer.metrics()?.at, last, "metrics sampled for a subscription that does not want them");
    c.close();
  });
});
