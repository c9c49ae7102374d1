// Lock and Election on the client port, through the gateway (answers recorded from etcd 3.4.23)
// and through gRPC for the waiting side of a lock.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { credentials } from "@grpc/grpc-js";
import { LockClient, type LockResponse } from "../../src/gen/v3lockpb/v3lock.js";
import { type Harness, http, startHarness } from "./harness.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("Lock and Election", { timeout: 60_000 }, () => {
  let h: Harness;
  const post = (path: string, body: string) => http(h.url, path, { body });
  before(async () => {
    h = await startHarness();
    await post("/v3/lease/grant", '{"TTL":60,"ID":"4096"}');
    await post("/v3/lease/grant", '{"TTL":60,"ID":"8192"}');
  });
  after(() => h.close());

  it("campaigns, reports the leader, refuses a stale proclaim and resigns", async () => {
    const none = await post("/v3/election/leader", `{"name":"${b64("el")}"}`);
    assert.equal(none.status, 500);
    assert.equal(JSON.parse(none.body).message, "election: no leader");

    const won = JSON.parse(
      (await post("/v3/election/campaign", `{"name":"${b64("el")}","lease":"4096","value":"${b64("v1")}"}`))
        .body,
    );
    assert.deepEqual(won.leader, {
      name: b64("el"),
      key: b64("el/1000"),
      rev: won.header.revision,
      lease: "4096",
    });

    const leader = JSON.parse((await post("/v3/election/leader", `{"name":"${b64("el")}"}`)).body);
    assert.equal(leader.kv.value, b64("v1"));
    assert.equal(leader.kv.lease, "4096");

    const stale = await post(
      "/v3/election/proclaim",
      `{"leader":{"name":"${b64("el")}","key":"${b64("el/1000")}","rev":"99","lease":"4096"},"value":"${b64("v2")}"}`,
    );
    assert.equal(stale.status, 500);
    assert.deepEqual(JSON.parse(stale.body), {
      error: "election: not leader",
      message: "election: not leader",
      code: 2,
    });
    const missing = await post("/v3/election/proclaim", `{"value":"${b64("v2")}"}`);
    assert.equal(JSON.parse(missing.body).message, '"leader" field must be provided');

    const ok = await post(
      "/v3/election/proclaim",
      `{"leader":${JSON.stringify(won.leader)},"value":"${b64("v2")}"}`,
    );
    assert.equal(ok.status, 200);
    assert.equal(
      JSON.parse((await post("/v3/election/leader", `{"name":"${b64("el")}"}`)).body).kv.value,
      b64("v2"),
    );

    assert.equal((await post("/v3/election/resign", `{"leader":${JSON.stringify(won.leader)}}`)).status, 200);
    assert.equal((await post("/v3/election/leader", `{"name":"${b64("el")}"}`)).status, 500);
  });

  it("observes the leader: first leader, its new value, then the next leader after a resign", async () => {
    const won = JSON.parse(
      (await post("/v3/election/campaign", `{"name":"${b64("ob")}","lease":"4096","value":"${b64("a")}"}`))
        .body,
    );
    // Observe once the first leader exists, so its first answer is certain.
    let first!: () => void;
    const sawLeader = new Promise<void>((r) => {
      first = r;
    });
    const watching = http(h.url, "/v3/election/observe", {
      body: `{"name":"${b64("ob")}"}`,
      stopAfterChunks: 3,
      onChunk: () => first(),
    });
    await sawLeader;
    await post("/v3/election/proclaim", `{"leader":${JSON.stringify(won.leader)},"value":"${b64("b")}"}`);
    await post("/v3/election/resign", `{"leader":${JSON.stringify(won.leader)}}`);
    await post("/v3/election/campaign", `{"name":"${b64("ob")}","lease":"8192","value":"${b64("c")}"}`);
    const seen = (await watching).chunks.map((c) => {
      const kv = JSON.parse(c).result.kv;
      return `${Buffer.from(kv.key, "base64")}=${Buffer.from(kv.value, "base64")}`;
    });
    assert.deepEqual(seen, ["ob/1000=a", "ob/1000=b", "ob/2000=c"]);
  });

  it("hands a lock to the next waiter when its owner unlocks", async () => {
    const first = JSON.parse((await post("/v3/lock/lock", `{"name":"${b64("lk")}","lease":"4096"}`)).body);
    assert.equal(first.key, b64("lk/1000"));

    const client = new LockClient(h.hostPort, credentials.createInsecure());
    try {
      let acquired = false;
      const second = new Promise<LockResponse>((resolve, reject) =>
        client.lock({ name: Buffer.from("lk"), lease: 8192n }, (err, resp) => {
          acquired = true;
          if (err) reject(err);
          else resolve(resp);
        }),
      );
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(acquired, false, "the second locker must wait");
      await post("/v3/lock/unlock", `{"key":"${first.key}"}`);
      const resp = await second;
      assert.equal(resp.key.toString(), "lk/2000");
    } finally {
      client.close();
    }
  });

  it("answers a lock on an unknown lease as etcd does (Unknown, inner text)", async () => {
    const r = await post("/v3/lock/lock", `{"name":"${b64("lk2")}","lease":"12345"}`);
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), {
      error: "etcdserver: requested lease not found",
      message: "etcdserver: requested lease not found",
      code: 2,
    });
  });
});
