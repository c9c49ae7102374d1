import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { filter, firstValueFrom, take, timeout, toArray } from "rxjs";
import { ALL_TOPICS, type EventOf, type FeedBatch, type FeedEvent } from "../../src/feed/index.js";
import { AlarmRequest_AlarmAction, AlarmType } from "../../src/gen/etcdserverpb/rpc.js";
import { events, is, nextEvent, startMember, type TestMember } from "./harness.js";

const put = (m: TestMember, key: string, value: string, lease = 0n) =>
  m.etcd.server.api.put({
    key: Buffer.from(key),
    value: Buffer.from(value),
    lease,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });

function firstBatch(c: { batches$: import("rxjs").Observable<FeedBatch> }): Promise<FeedBatch> {
  return firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
}

describe("the event feed on one member", { timeout: 120_000 }, () => {
  let m: TestMember;
  before(async () => {
    m = await startMember();
    await put(m, "app/a", "1");
    await put(m, "app/b", "2");
    await put(m, "other/x", "3");
  });
  after(async () => m?.close());

  test("a new subscriber gets the current state of everything it subscribed to at once", async () => {
    const c = m.connect({ subscription: { topics: [...ALL_TOPICS], keys: [{ key: "app/", prefix: true }] } });
    const batch = await firstBatch(c);
    assert.equal(batch.initial, true);
    const types = batch.events.map((e) => e.type);
    for (const t of ["raft.state", "members", "peers", "lease.list", "alarm.list", "kv.snapshot"]) {
      assert.ok(types.includes(t as FeedEvent["type"]), `initial state has ${t}: ${types.join(",")}`);
    }
    const raft = batch.events.find(is("raft.state"))!;
    assert.equal(raft.role, "leader");
    assert.equal(raft.leader, m.etcd.server.memberId.toString(16));
    assert.ok(raft.appliedIndex > 0 && raft.commitIndex >= raft.appliedIndex);
    const members = batch.events.find(is("members"))!;
    assert.deepEqual(
      members.members.map((x) => x.name),
      ["feed"],
    );
    const peers = batch.events.find(is("peers"))!;
    assert.equal(peers.leader, m.etcd.server.memberId.toString(16));
    assert.deepEqual(peers.peers, [], "one member: a leader has no follower progress for itself");
    const snap = batch.events.find(is("kv.snapshot"))!;
    assert.deepEqual(
      snap.kvs.map((kv) => [kv.key, kv.value]),
      [
        ["app/a", "1"],
        ["app/b", "2"],
      ],
    );
    assert.equal(snap.more, false);
  });

  test("key-range subscriptions get only their keys, with previous values when asked", async () => {
    const c = m.connect({
      subscription: { topics: [], keys: [{ key: "app/", prefix: true, prevKv: true }] },
    });
    await firstBatch(c);
    const seen = events(c.events$, is("kv"), 2, "kv events");
    await put(m, "other/y", "not mine");
    await put(m, "app/a", "1b");
    await put(m, "app/c", "new");
    const [a, cc] = await seen;
    assert.equal(a.key, "app/a");
    assert.equal(a.value, "1b");
    assert.equal(a.kind, "put");
    assert.equal(a.prev?.value, "1");
    assert.equal(cc.key, "app/c");
    assert.equal(cc.prev, undefined, "a new key has no previous version");
    assert.ok(cc.revision > a.revision);
  });

  test("topic subscriptions: a raft-only subscriber sees no key changes", async () => {
    const raftOnly = m.connect({ subscription: { topics: ["raft"] } });
    const all = m.connect({ subscription: { topics: ["kv"], keys: [{ key: "", prefix: true }] } });
    const received: FeedEvent[] = [];
    raftOnly.events$.subscribe((e) => received.push(e));
    await Promise.all([firstBatch(raftOnly), firstBatch(all)]);
    const moved = nextEvent(raftOnly.events$, is("raft.state"), "a raft state update");
    const seen = nextEvent(
      all.events$,
      (e): e is Extract<FeedEvent, { type: "kv" }> => e.type === "kv" && e.key === "t/1",
      "kv t/1",
    );
    await put(m, "t/1", "v");
    await seen;
    // the raft-only subscriber's next batch (raft state moved with the put) has no kv event either
    await moved;
    assert.ok(received.length > 0);
    assert.ok(
      received.every((e) => e.type.startsWith("raft.")),
      received.map((e) => e.type).join(","),
    );
  });

  test("a start revision replays the range's past changes before the live ones", async () => {
    const rev = (await put(m, "hist/k", "v1")).header!.revision;
    await put(m, "hist/k", "v2");
    await m.etcd.server.api.deleteRange({
      key: Buffer.from("hist/k"),
      rangeEnd: Buffer.alloc(0),
      prevKv: false,
    });
    const c = m.connect({
      subscription: { topics: [], keys: [{ key: "hist/", prefix: true, startRevision: rev }] },
    });
    const batch = await firstBatch(c);
    const kv = batch.events.filter(is("kv"));
    assert.deepEqual(
      kv.map((e) => [e.kind, e.value, e.revision]),
      [
        ["put", "v1", rev],
        ["put", "v2", rev + 1],
        ["delete", "", rev + 2],
      ],
    );
  });

  test("bad subscription input gets an error event and the connection stays usable", async () => {
    const c = m.connect({ subscription: { topics: ["raft"] } });
    await firstBatch(c);
    const errors = firstValueFrom(c.errors$.pipe(take(4), toArray(), timeout(10_000)));
    const socket = await c.opened;
    socket.emit("subscribe", { topics: ["nope"] });
    socket.emit("subscribe", "not an object");
    socket.emit("subscribe", { topics: [], keys: [{ key: "b", rangeEnd: "a" }] });
    socket.emit("subscribe", {
      topics: [],
      keys: Array.from({ length: 17 }, (_, i) => ({ key: `k${i}` })),
    });
    const got = await errors;
    assert.deepEqual(
      got.map((e) => e.code),
      ["bad-subscription", "bad-subscription", "bad-range", "too-many-ranges"],
    );
    assert.match(got[0].message, /bad subscription/);
    assert.match(got[2].message, /rangeEnd must sort after key/);
    // a batch of the old subscription may still be on its way (or being inflated): the new one starts at its initial state
    const next = firstValueFrom(
      c.batches$.pipe(
        filter((b) => b.initial === true),
        take(1),
        timeout(10_000),
      ),
    );
    c.subscribe({ topics: ["members"] });
    const batch = await next;
    assert.deepEqual(
      batch.events.map((e) => e.type),
      ["members"],
    );
  });

  test("leases: grant, keep-alive and revoke arrive as lease events", async () => {
    const c = m.connect({ subscription: { topics: ["leases"] } });
    await firstBatch(c);
    const seen = events(c.events$, is("lease"), 3, "lease events");
    const { ID } = await m.etcd.server.api.leaseGrant({ ID: 0n, TTL: 30 });
    await m.etcd.server.api.leaseKeepAlive(ID);
    await m.etcd.server.api.leaseRevoke({ ID });
    const got = await seen;
    assert.deepEqual(
      got.map((e) => [e.action, e.id, e.ttl]),
      [
        ["grant", ID.toString(16), 30],
        ["keepalive", ID.toString(16), 30],
        ["revoke", ID.toString(16), 30],
      ],
    );
  });

  test("compactions and alarms arrive on their topics; the alarm list is the initial state", async () => {
    const c = m.connect({ subscription: { topics: ["snapshots", "alarms"] } });
    const initial = await firstBatch(c);
    assert.deepEqual(initial.events.find(is("alarm.list"))?.alarms, []);
    const compaction = nextEvent(c.events$, is("compaction"), "a compaction event");
    const alarm = events(c.events$, is("alarm"), 2, "alarm events");
    const rev = m.etcd.server.store.currentRev();
    await m.etcd.server.api.compact({ revision: rev, physical: false });
    const memberID = m.etcd.server.memberId;
    await m.etcd.server.api.alarm({
      action: AlarmRequest_AlarmAction.ACTIVATE,
      memberID,
      alarm: AlarmType.NOSPACE,
    });
    await m.etcd.server.api.alarm({
      action: AlarmRequest_AlarmAction.DEACTIVATE,
      memberID,
      alarm: AlarmType.NOSPACE,
    });
    assert.equal((await compaction).revision, rev);
    assert.deepEqual(
      (await alarm).map((a) => [a.action, a.alarm]),
      [
        ["activate", "NOSPACE"],
        ["deactivate", "NOSPACE"],
      ],
    );
  });

  test("membership changes arrive as member.change events, then the new members list", async () => {
    const c = m.connect({ subscription: { topics: ["members"] } });
    await firstBatch(c);
    const added = nextEvent(c.events$, is("member.change"), "the learner's member.change");
    const listed = firstValueFrom(
      c.events$.pipe(
        filter(is("members")),
        filter((e) => e.members.length === 2),
        take(1),
        timeout(10_000),
      ),
    );
    // a learner does not count for the quorum: one member can add it without the learner running
    const res = await m.etcd.server.api.memberAdd({ peerURLs: ["http://127.0.0.1:1"], isLearner: true });
    const id = res.member!.ID.toString(16);
    const change = await added;
    assert.deepEqual(
      [change.action, change.id, change.name, change.peerUrls, change.isLearner],
      ["add-learner", id, "", ["http://127.0.0.1:1"], true],
    );
    assert.ok(change.index > 0 && change.index <= m.etcd.server.store.consistentIndex());
    const members = await listed;
    assert.ok(members.members.some((x) => x.id === id && x.isLearner));
    const removed = nextEvent(c.events$, is("member.change"), "the removal's member.change");
    await m.etcd.server.api.memberRemove({ ID: res.member!.ID });
    const gone = await removed;
    assert.deepEqual([gone.action, gone.id], ["remove", id]);
    assert.ok(gone.index > change.index);
  });

  test("metrics samples, Ready summaries and apply samples arrive with the write load", async () => {
    const c = m.connect({ subscription: { topics: ["metrics", "ready", "apply"] } });
    await firstBatch(c);
    const metrics = firstValueFrom(
      c.events$.pipe(
        filter(is("metrics")),
        filter((e) => e.putsPerSec > 0),
        take(1),
        timeout(15_000),
      ),
    );
    const ready = nextEvent(c.events$, is("raft.ready"), "a Ready summary");
    const apply = nextEvent(
      c.events$,
      (e): e is Extract<FeedEvent, { type: "apply" }> => e.type === "apply" && e.kind === "put",
      "a put apply sample",
    );
    const writes = (async () => {
      for (let i = 0; i < 400; i++) await put(m, `load/${i % 10}`, String(i));
    })();
    const [mx, r, a] = await Promise.all([metrics, ready, apply]);
    await writes;
    assert.ok(mx.revision > 0 && mx.keys > 0 && mx.dbSize > 0);
    assert.ok(mx.feedClients >= 1);
    assert.ok(r.batches >= 1 && r.committedEntries >= 1);
    assert.ok(a.index > 0 && a.revision > 0 && a.durationMs >= 0);
  });

  test("apply events summarize every entry applied in their window: contiguous index ranges, counts by kind", async () => {
    const c = m.connect({ subscription: { topics: ["apply"] } });
    await firstBatch(c);
    const applies: Array<EventOf<"apply">> = [];
    c.events$.pipe(filter(is("apply"))).subscribe((e) => applies.push(e));
    const n = 300;
    for (let i = 0; i < n; i++) {
      await put(m, `summary/${i % 10}`, String(i));
      if (i % 100 === 99) await new Promise((r) => setTimeout(r, 300));
    }
    const last = m.etcd.server.store.consistentIndex();
    const deadline = Date.now() + 10_000;
    while ((applies.at(-1)?.index ?? 0) < last) {
      assert.ok(Date.now() < deadline, `no apply event reached index ${last}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(applies.length >= 2, `several windows (${applies.length} apply events)`);
    let puts = 0;
    for (const [i, a] of applies.entries()) {
      assert.equal(typeof a.firstIndex, "number", "a summary names its first entry");
      const entries = a.entries ?? 0;
      assert.equal(entries, a.index - (a.firstIndex ?? 0) + 1, "entries cover firstIndex..index");
      assert.equal(entries, a.skipped + 1);
      assert.equal(
        Object.values(a.kinds ?? {}).reduce((x, y) => x + y, 0),
        entries,
        "every entry is counted by its kind",
      );
      assert.ok((a.batches ?? 0) >= 1 && (a.durationMsMax ?? -1) >= (a.durationMsMean ?? 0));
      if (i > 0) assert.equal(a.firstIndex, applies[i - 1].index + 1, "windows follow each other");
      puts += a.kinds?.put ?? 0;
    }
    assert.ok(puts >= n, `${puts} puts summarized, ${n} made`);
  });
});

describe("feed bounds", { timeout: 120_000 }, () => {
  let m: TestMember;
  before(async () => {
    m = await startMember({ feed: { limits: { maxUnackedBatches: 16, flushIntervalMs: 10 } } });
  });
  after(async () => m?.close());

  test("a client that stops acknowledging is told and dropped; a fast one keeps every event; puts go on", async () => {
    const slow = m.connect({
      subscription: { topics: ["kv"], keys: [{ key: "", prefix: true }] },
      autoAck: false,
    });
    const fast = m.connect({ subscription: { topics: ["kv"], keys: [{ key: "", prefix: true }] } });
    await Promise.all([firstBatch(slow), firstBatch(fast)]);
    let dropped: import("../../src/feed/index.js").FeedDropped | undefined;
    slow.dropped$.subscribe((d) => (dropped = d));
    const serverDrop = firstValueFrom(m.etcd.feed!.events.drops$.pipe(take(1), timeout(60_000)));
    const fastKeys: string[] = [];
    fast.events$.pipe(filter(is("kv"))).subscribe((e) => fastKeys.push(String(e.key)));
    // write until the slow client is dropped (bounded): pauses let several batches go out meanwhile
    let n = 0;
    const deadline = Date.now() + 60_000;
    while (!dropped && Date.now() < deadline && n < 20_000) {
      await put(m, `slow/${n++}`, "x");
      if (n % 5 === 0) await new Promise((r) => setTimeout(r, 15));
    }
    assert.ok(dropped, `the slow client was not dropped after ${n} puts`);
    assert.equal(dropped.limit, "maxUnackedBatches");
    assert.ok((await serverDrop).dropped.value >= 16);
    for (let waited = 0; fastKeys.length < n && waited < 10_000; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      fastKeys,
      Array.from({ length: n }, (_, i) => `slow/${i}`),
    );
    // the member still takes writes at once after the drop
    const r = await put(m, "after-drop", "ok");
    assert.ok(r.header!.revision > 0);
    assert.equal(m.etcd.feed!.events.clientCount >= 1, true);
  });
});

describe("initial states shared by a group's newcomers", { timeout: 120_000 }, () => {
  let m: TestMember;
  before(async () => {
    // a long flush window: every newcomer below joins while the first one's initial state still holds
    m = await startMember({ feed: { limits: { flushIntervalMs: 3000 } } });
    await put(m, "join/base", "0");
  });
  after(async () => m?.close());

  test("clients joining while keys change each get their state and then every later change exactly once", async () => {
    const subscription = { topics: ["kv" as const], keys: [{ key: "join/", prefix: true }] };
    const seen: Array<{ snapshot?: EventOf<"kv.snapshot">; changes: EventOf<"kv">[] }> = [];
    const puts: Array<{ key: string; revision: number }> = [];
    const before = { ...m.etcd.feed!.events.initialStates };
    for (let i = 0; i < 8; i++) {
      const view: (typeof seen)[number] = { changes: [] };
      seen.push(view);
      const c = m.connect({ subscription });
      c.events$.subscribe((e) => {
        if (e.type === "kv.snapshot") view.snapshot = e;
        else if (e.type === "kv") view.changes.push(e);
      });
      if (i % 2 === 1) await firstBatch(c);
      const r = await put(m, `join/${i}`, `v${i}`);
      puts.push({ key: `join/${i}`, revision: r.header!.revision });
    }
    const last = puts[puts.length - 1].revision;
    for (let waited = 0; waited < 20_000; waited += 50) {
      if (
        seen.every((v) => v.snapshot && (v.snapshot.revision >= last || v.changes.at(-1)?.revision === last))
      )
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = m.etcd.feed!.events.initialStates;
    assert.ok(
      after.shared > before.shared,
      `no newcomer got a shared initial state (${JSON.stringify(after)})`,
    );
    seen.forEach((v, i) => {
      assert.ok(v.snapshot, `client ${i} got no initial state`);
      const at = v.snapshot.revision;
      // the state as of its revision, then each later change once, in order
      assert.deepEqual(
        v.snapshot.kvs.map((kv) => kv.key).sort(),
        ["join/base", ...puts.filter((p) => p.revision <= at).map((p) => p.key)].sort(),
        `client ${i}: initial keys at revision ${at}`,
      );
      assert.deepEqual(
        v.changes.map((e) => [e.key, e.revision]),
        puts.filter((p) => p.revision > at).map((p) => [p.key, p.revision]),
        `client ${i}: changes after revision ${at}`,
      );
    });
  });
});
