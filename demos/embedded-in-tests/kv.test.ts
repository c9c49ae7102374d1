// rxetcd embedded in a test file: each run starts a fresh member inside the test process (no etcd to
// install, no ports to agree on, no data left behind) and talks to it with the etcd3 client, as the
// code under test would talk to a real etcd cluster.
// Run: npm run demo:embedded-in-tests
// What to look at: node:test's report: a member started in `before`, four tests against it through
// etcd3 (put/get, a prefix watch, a lease, a transaction), the member closed in `after`.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3 } from "etcd3";
import { type DemoMember, startDemoMember } from "../member.js";

describe("a service's config store, against an embedded rxetcd", () => {
  let member: DemoMember;
  let client: Etcd3;
  before(async () => {
    member = await startDemoMember("in-tests");
    client = new Etcd3({ hosts: member.url });
    console.log(`embedded member ${member.etcd.server.memberId.toString(16)} on ${member.url}`);
  });
  after(async () => {
    client?.close();
    await member?.close();
  });

  test("put then get", async () => {
    await client.put("config/timeout").value("30s");
    assert.equal(await client.get("config/timeout").string(), "30s");
  });

  test("a prefix watch sees the next change", async () => {
    const watcher = await client.watch().prefix("jobs/").create();
    try {
      const seen = new Promise<string>((resolve) =>
        watcher.on("put", (kv) => resolve(`${kv.key.toString()}=${kv.value.toString()}`)),
      );
      await client.put("jobs/42").value("queued");
      assert.equal(await seen, "jobs/42=queued");
    } finally {
      await watcher.cancel();
    }
  });

  test("a key bound to a lease goes with it", async () => {
    const lease = client.lease(30);
    await lease.put("sessions/worker-1").value("alive");
    assert.equal(await client.get("sessions/worker-1").string(), "alive");
    await lease.revoke();
    assert.equal(await client.get("sessions/worker-1").string(), null);
  });

  test("a transaction creates a key only once", async () => {
    const create = () =>
      client.if("locks/leader", "Create", "==", 0).then(client.put("locks/leader").value("me")).commit();
    assert.equal((await create()).succeeded, true);
    assert.equal((await create()).succeeded, false);
  });
});
