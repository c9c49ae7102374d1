// The `etcd3` npm client, unchanged, against one rxetcd member process.
import assert from "node:assert/strict";
import { after, describe } from "node:test";
import {
  Etcd3,
  EtcdLeaseInvalidError,
  EtcdLockFailedError,
  GRPCInvalidArgumentError,
  GRPCOutOfRangeError,
  type IKeyValue,
  type IWatchResponse,
  type Watcher,
} from "etcd3";
import {
  cappedWatchBackoff,
  destroyAllMembers,
  e2eTest,
  eventually,
  Member,
  sleep,
  startMembersOnce,
  streamLines,
} from "./harness.js";

/** Collects a watcher's events as "PUT key=value" / "DELETE key" strings (with prev value when present). */
function record(w: Watcher): string[] {
  const seen: string[] = [];
  w.on("put", (kv: IKeyValue, prev?: IKeyValue) =>
    seen.push(`PUT ${kv.key}=${kv.value}${prev ? ` prev=${prev.value}` : ""}`),
  );
  w.on("delete", (kv: IKeyValue, prev?: IKeyValue) =>
    seen.push(`DELETE ${kv.key}${prev ? ` prev=${prev.value}` : ""}`),
  );
  return seen;
}

async function waitFor(what: string, seen: string[], n: number, timeoutMs = 10_000): Promise<void> {
  await eventually(
    `${what} (${n} events, have ${JSON.stringify(seen)})`,
    async () => (seen.length >= n ? true : undefined),
    timeoutMs,
  );
}

describe("etcd3 npm client against rxetcd", () => {
  let m: Member;
  let client: Etcd3;

  startMembersOnce(async () => {
    // a short election timeout makes the minimum lease TTL 1 s, so expiry is observable quickly
    m = await Member.start({ extraArgs: ["--election-timeout", "500", "--heartbeat-interval", "50"] });
    client = new Etcd3({ hosts: m.clientUrl, faultHandling: { watchBackoff: cappedWatchBackoff() } });
  });
  after(async () => {
    client?.close();
    await destroyAllMembers();
  });

  const revisionNow = async () => Number((await client.get("__none").exec()).header.revision);

  e2eTest("put, get, getAll with prefix, count, delete", {}, async () => {
    await client.put("kv/a").value("1");
    await client.put("kv/b").value("2");
    await client.put("kv/c").value("3");
    assert.equal(await client.get("kv/a").string(), "1");
    assert.equal(await client.get("kv/zzz").string(), null);
    assert.deepEqual(await client.getAll().prefix("kv/").strings(), {
      "kv/a": "1",
      "kv/b": "2",
      "kv/c": "3",
    });
    assert.deepEqual(await client.getAll().prefix("kv/").sort("Key", "Descend").limit(2).keys(), [
      "kv/c",
      "kv/b",
    ]);
    assert.equal(await client.getAll().prefix("kv/").count(), 3);
    const res = await client.getAll().prefix("kv/").limit(1).exec();
    assert.equal(res.more, true);
    assert.equal(res.count, "3");
    const del = await client.delete().key("kv/a").exec();
    assert.equal(del.deleted, "1");
    const prev = await client.delete().prefix("kv/").getPrevious();
    assert.deepEqual(
      prev.map((kv) => `${kv.key}=${kv.value}`),
      ["kv/b=2", "kv/c=3"],
    );
    assert.equal(await client.getAll().prefix("kv/").count(), 0);
  });

  e2eTest("revisions: each put bumps the revision by one; versions count modifications", {}, async () => {
    const r1 = Number((await client.put("rv/k").value("a").exec()).header.revision);
    const r2 = Number((await client.put("rv/k").value("b").exec()).header.revision);
    assert.equal(r2, r1 + 1);
    const got = await client.get("rv/k").exec();
    assert.equal(got.kvs[0].version, "2");
    assert.equal(got.kvs[0].create_revision, String(r1));
    assert.equal(got.kvs[0].mod_revision, String(r2));
    assert.equal(await client.get("rv/k").revision(r1).string(), "a");
    const prev = await client.put("rv/k").value("c").getPrevious();
    assert.equal(prev.value.toString(), "b");
  });

  e2eTest("txn: if/then/else takes the right branch and is one revision", {}, async () => {
    await client.put("tx/k").value("v1");
    const yes = await client
      .if("tx/k", "Value", "==", "v1")
      .then(client.put("tx/a").value("x"), client.get("tx/k"))
      .else(client.put("tx/b").value("y"))
      .commit();
    assert.equal(yes.succeeded, true);
    assert.equal(yes.responses.length, 2);
    assert.equal(yes.responses[1].response_range?.kvs[0].value.toString(), "v1");
    assert.equal(await client.get("tx/a").string(), "x");
    assert.equal(await client.get("tx/b").string(), null);
    const no = await client
      .if("tx/k", "Version", ">", 5)
      .then(client.put("tx/a").value("z"))
      .else(client.put("tx/b").value("y"), client.delete().key("tx/k"))
      .commit();
    assert.equal(no.succeeded, false);
    assert.equal(await client.get("tx/b").string(), "y");
    assert.equal(await client.get("tx/k").string(), null);
    const b = await client.get("tx/b").exec();
    assert.equal(b.kvs[0].mod_revision, no.header.revision, "all writes of a txn share its revision");
    assert.equal(await revisionNow(), Number(no.header.revision));
    // a value compare on a missing key is false; version of a missing key compares as 0
    const missing = await client
      .if("tx/nokey", "Value", "==", "")
      .then(client.put("tx/c").value("1"))
      .commit();
    assert.equal(missing.succeeded, false);
    const zero = await client.if("tx/nokey", "Version", "==", 0).then(client.put("tx/c").value("2")).commit();
    assert.equal(zero.succeeded, true);
  });

  e2eTest("range: revision filters and serializable reads", {}, async () => {
    const r1 = (await client.put("rf/1").value("a").exec()).header.revision;
    const r2 = (await client.put("rf/2").value("b").exec()).header.revision;
    await client.put("rf/3").value("c");
    assert.deepEqual(await client.getAll().prefix("rf/").maxModRevision(r2).keys(), ["rf/1", "rf/2"]);
    assert.deepEqual(await client.getAll().prefix("rf/").minModRevision(r2).keys(), ["rf/2", "rf/3"]);
    assert.deepEqual(await client.getAll().prefix("rf/").minCreateRevision(r1).maxCreateRevision(r1).keys(), [
      "rf/1",
    ]);
    const count = await client.getAll().prefix("rf/").minModRevision(r2).exec();
    assert.equal(count.count, "3", "count ignores the filters");
    assert.deepEqual(await client.getAll().prefix("rf/").serializable(true).keys(), ["rf/1", "rf/2", "rf/3"]);
  });

  e2eTest("STM: concurrent read-modify-write transactions lose no increment", {}, async () => {
    await client.put("stm/counter").value("0");
    const workers = 4;
    const each = 5;
    const increment = () =>
      client.stm({ retries: 50 }).transact(async (tx) => {
        const v = Number(await tx.get("stm/counter").string());
        await tx.put("stm/counter").value(String(v + 1));
      });
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let i = 0; i < each; i++) await increment();
      }),
    );
    assert.equal(await client.get("stm/counter").string(), String(workers * each));
  });

  e2eTest("namespace: keys are prefixed and isolated", {}, async () => {
    const ns = client.namespace("tenant-a/");
    await ns.put("k").value("1");
    assert.equal(await client.get("tenant-a/k").string(), "1");
    assert.deepEqual(await ns.getAll().keys(), ["k"]);
    await ns.delete().all();
    assert.equal(await client.get("tenant-a/k").string(), null);
  });

  e2eTest("watch: live puts and deletes with prev_kv", {}, async () => {
    const w = await client.watch().prefix("wl/").withPreviousKV().create();
    try {
      const seen = record(w);
      await client.put("wl/k").value("1");
      await client.put("wl/k").value("2");
      await client.delete().key("wl/k");
      await waitFor("live events", seen, 3);
      assert.deepEqual(seen, ["PUT wl/k=1", "PUT wl/k=2 prev=1", "DELETE wl/k prev=2"]);
    } finally {
      await w.cancel();
    }
  });

  e2eTest("watch: history from a past revision, in order, then live", {}, async () => {
    const from = Number((await client.put("wh/k").value("h1").exec()).header.revision);
    await client.put("wh/k").value("h2");
    await client.put("wh/other").value("o");
    const w = await client.watch().key("wh/k").startRevision(String(from)).create();
    try {
      const seen = record(w);
      await waitFor("history", seen, 2);
      await client.put("wh/k").value("h3");
      await waitFor("history then live", seen, 3);
      assert.deepEqual(seen, ["PUT wh/k=h1", "PUT wh/k=h2", "PUT wh/k=h3"]);
    } finally {
      await w.cancel();
    }
  });

  e2eTest("watch: events of one txn arrive in one response with one revision", {}, async () => {
    const w = await client.watch().prefix("wt/").create();
    try {
      const responses: IWatchResponse[] = [];
      w.on("data", (res) => responses.push(res));
      await client
        .if("wt/a", "Version", "==", 0)
        .then(client.put("wt/a").value("1"), client.put("wt/b").value("2"))
        .commit();
      await eventually("txn events", async () => (responses.length > 0 ? true : undefined));
      assert.equal(responses[0].events.length, 2);
      assert.equal(responses[0].events[0].kv.mod_revision, responses[0].events[1].kv.mod_revision);
    } finally {
      await w.cancel();
    }
  });

  e2eTest("watch under concurrent writes: every write once, in revision order, no gaps", {}, async () => {
    const start = (await revisionNow()) + 1;
    const w = await client.watch().prefix("ws/").startRevision(String(start)).create();
    try {
      const revs: number[] = [];
      w.on("data", (res: IWatchResponse) => {
        for (const ev of res.events) revs.push(Number(ev.kv.mod_revision));
      });
      const acked: number[] = [];
      await Promise.all(
        Array.from({ length: 4 }, async (_, writer) => {
          for (let i = 0; i < 25; i++) {
            const res = await client.put(`ws/${writer}/${i}`).value(String(i)).exec();
            acked.push(Number(res.header.revision));
          }
        }),
      );
      await eventually("all events", async () => (revs.length >= acked.length ? true : undefined));
      await sleep(200);
      acked.sort((x, y) => x - y);
      assert.deepEqual(revs, acked, "the watch delivers exactly the acknowledged revisions, ascending");
      // only ws/ keys were written meanwhile, so the revisions are contiguous
      assert.equal(acked[acked.length - 1] - acked[0] + 1, acked.length);
    } finally {
      await w.cancel();
    }
  });

  e2eTest("watch: filters (only put / only delete)", {}, async () => {
    const puts = await client.watch().prefix("wf/").only("put").create();
    const dels = await client.watch().prefix("wf/").only("delete").create();
    try {
      const seenPuts = record(puts);
      const seenDels = record(dels);
      await client.put("wf/k").value("v");
      await client.delete().key("wf/k");
      await client.put("wf/end").value("e");
      await waitFor("puts", seenPuts, 2);
      await waitFor("deletes", seenDels, 1);
      await sleep(200);
      assert.deepEqual(seenPuts, ["PUT wf/k=v", "PUT wf/end=e"]);
      assert.deepEqual(seenDels, ["DELETE wf/k"]);
    } finally {
      await puts.cancel();
      await dels.cancel();
    }
  });

  e2eTest("watch: cancel stops events and ends the watcher", {}, async () => {
    const w = await client.watch().key("wc/k").create();
    const seen = record(w);
    const ended = new Promise<void>((r) => w.on("end", () => r()));
    await client.put("wc/k").value("1");
    await waitFor("first event", seen, 1);
    await w.cancel();
    await ended;
    await client.put("wc/k").value("2");
    await sleep(300);
    assert.deepEqual(seen, ["PUT wc/k=1"]);
  });

  e2eTest("lease: grant, attach keys, time to live, keepalive, revoke deletes keys", {}, async () => {
    const lease = client.lease(30, { autoKeepAlive: false });
    try {
      const id = await lease.grant();
      await lease.put("ls/a").value("1");
      await client.put("ls/b").value("2").lease(id);
      const ka = await lease.keepaliveOnce();
      assert.equal(ka.TTL, "30");
      const w = await client.watch().prefix("ls/").create();
      const seen = record(w);
      await lease.revoke();
      await waitFor("revoke deletes", seen, 2);
      assert.deepEqual([...seen].sort(), ["DELETE ls/a", "DELETE ls/b"]);
      await w.cancel();
      assert.equal(await client.getAll().prefix("ls/").count(), 0);
    } finally {
      lease.release();
    }
  });

  e2eTest("lease: an expired lease deletes its keys (TTL 1 s)", {}, async () => {
    const lease = client.lease(1, { autoKeepAlive: false });
    try {
      const id = await lease.grant();
      await client.put("le/k").value("v").lease(id);
      assert.equal(await client.get("le/k").string(), "v");
      const started = Date.now();
      await eventually(
        "lease expiry",
        async () => ((await client.get("le/k").string()) === null ? true : undefined),
        8000,
      );
      const took = Date.now() - started;
      assert.ok(took < 6000, `expired after ${took} ms`);
      await assert.rejects(client.put("le/k2").value("v").lease(id).exec(), EtcdLeaseInvalidError);
    } finally {
      lease.release();
    }
  });

  e2eTest("lease: automatic keepalive keeps a 1 s lease alive", {}, async () => {
    const lease = client.lease(1);
    try {
      await lease.put("lk/k").value("v");
      await sleep(2500);
      assert.equal(await client.get("lk/k").string(), "v");
      assert.equal(lease.revoked(), false);
    } finally {
      await lease.revoke();
    }
    assert.equal(await client.get("lk/k").string(), null);
  });

  e2eTest("lock: held by one owner at a time, free again after release", {}, async () => {
    // etcd3's lock is a try-lock: a second acquire fails while the first holds it
    const first = await client.lock("lk-x").ttl(5).acquire();
    const leaseId = await first.leaseId();
    assert.ok(leaseId && leaseId !== "0");
    await assert.rejects(client.lock("lk-x").ttl(5).acquire(), EtcdLockFailedError);
    assert.equal(await client.getAll().prefix("lk-x").count(), 1, "the failed attempt leaves no key behind");
    await first.release();
    assert.equal(await client.getAll().prefix("lk-x").count(), 0);
    const second = await client.lock("lk-x").ttl(5).acquire();
    await second.release();
  });

  e2eTest("election: campaign, leader, observe, resign hands over", {}, async () => {
    const election = client.election("el-x", 5);
    const a = election.campaign("alice");
    await a.wait();
    assert.equal(await election.leader(), "alice");
    const observer = await election.observe();
    const changes: Array<string | undefined> = [];
    observer.on("change", (v) => changes.push(v));
    const b = election.campaign("bob");
    await sleep(300);
    assert.equal(await election.leader(), "alice", "bob waits while alice leads");
    await a.proclaim("alice-2");
    await a.resign();
    await b.wait();
    assert.equal(await election.leader(), "bob");
    await eventually("observer sees bob", async () => (changes.includes("bob") ? true : undefined));
    await observer.cancel();
    await b.resign();
  });

  // error tests use their own client: the client's circuit breaker must not carry one test's errors into the next
  const withClient = async (fn: (c: Etcd3) => Promise<void>) => {
    const c = new Etcd3({ hosts: m.clientUrl });
    try {
      await fn(c);
    } finally {
      c.close();
    }
  };

  e2eTest("errors: empty key is InvalidArgument 'key is not provided'", {}, () =>
    withClient(async (c) => {
      await assert.rejects(c.put("").value("x").exec(), (err: Error) => {
        assert.ok(err instanceof GRPCInvalidArgumentError, String(err));
        assert.match(err.message, /etcdserver: key is not provided/);
        return true;
      });
    }),
  );

  e2eTest("errors: a future revision is OutOfRange 'required revision is a future revision'", {}, () =>
    withClient(async (c) => {
      const now = await revisionNow();
      await assert.rejects(
        c
          .get("x")
          .revision(now + 100)
          .exec(),
        (err: Error) => {
          assert.ok(err instanceof GRPCOutOfRangeError, String(err));
          assert.match(err.message, /etcdserver: mvcc: required revision is a future revision/);
          return true;
        },
      );
    }),
  );

  e2eTest("errors: a put with an unknown lease is EtcdLeaseInvalidError; nothing is written", {}, () =>
    withClient(async (c) => {
      const now = await revisionNow();
      await assert.rejects(c.put("x").value("y").lease("123456").exec(), EtcdLeaseInvalidError);
      assert.equal(Number((await c.put("er/ok").value("1").exec()).header.revision), now + 1);
    }),
  );

  // compaction last: it discards the history that the watches above read
  let beforeCompaction = 0;
  let compactedAt = 0;
  e2eTest("compaction: the latest values stay readable", {}, async () => {
    beforeCompaction = Number((await client.put("cp/k").value("a").exec()).header.revision);
    compactedAt = Number((await client.put("cp/k").value("b").exec()).header.revision);
    await client.kv.compact({ revision: compactedAt, physical: true });
    assert.equal(await client.get("cp/k").string(), "b");
  });

  e2eTest(
    "compaction: a read at a compacted revision is OutOfRange 'required revision has been compacted'",
    {},
    () =>
      withClient(async (c) => {
        await assert.rejects(c.get("cp/k").revision(beforeCompaction).exec(), (err: Error) => {
          assert.ok(err instanceof GRPCOutOfRangeError, String(err));
          assert.match(err.message, /etcdserver: mvcc: required revision has been compacted/);
          return true;
        });
      }),
  );

  e2eTest(
    "compaction: a watch from a compacted revision is cancelled with the compact revision",
    {},
    async () => {
      const old = beforeCompaction;
      const now = compactedAt;
      const w = client.watch().key("cp/k").startRevision(String(old)).watcher();
      const failure = await new Promise<Error | string>((resolve) => {
        w.on("error", (err) => resolve(err));
        w.on("put", (kv) => resolve(`unexpected event ${kv.value}`));
        setTimeout(() => resolve("no cancel within 5 s"), 5000).unref();
      });
      assert.ok(failure instanceof Error, String(failure));
      // etcd 3.4 cancels with an empty cancel_reason and the compact revision (the client only shows the reason)
      assert.match(failure.message, /^Watcher canceled: /);
      const [created, canceled] = (await streamLines(
        `${m.clientUrl}/v3/watch`,
        { create_request: { key: Buffer.from("cp/k").toString("base64"), start_revision: String(old) } },
        2,
      )) as Array<{ result: Record<string, unknown> }>;
      assert.equal(created.result.created, true);
      assert.equal(canceled.result.canceled, true);
      assert.equal(canceled.result.compact_revision, String(now));
      assert.equal(await client.get("cp/k").string(), "b");
    },
  );
});
