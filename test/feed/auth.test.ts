// The feed with auth on: a connection presents a token (or a client certificate) and sees only the
// keys its user may read; without a token, or with a forged one, it is refused with etcd's error.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { filter, firstValueFrom, take, timeout, toArray } from "rxjs";
import type { FeedBatch, FeedEvent } from "../../src/feed/index.js";
import { makeCerts, type TestCerts } from "../e2e/certs.js";
import { etcdctlPath } from "../e2e/harness.js";
import { enableAuthWithAppReader, is, startMember, type TestMember } from "./harness.js";

const run = promisify(execFile);

describe("the event feed with auth on", { timeout: 120_000 }, () => {
  let m: TestMember;
  // asynchronously: the member answers from this very process
  const ctl = async (...args: string[]) =>
    (
      await run(etcdctlPath(), [`--endpoints=${m.url}`, ...args], {
        env: { ...process.env, ETCDCTL_API: "3" },
      })
    ).stdout;
  const asRoot = (...args: string[]) => ctl("--user", "root:rootpw", ...args);

  async function token(name: string, password: string): Promise<string> {
    const res = await fetch(`${m.url}/v3/auth/authenticate`, {
      method: "POST",
      body: JSON.stringify({ name, password }),
    });
    const body = (await res.json()) as { token?: string };
    assert.ok(body.token, `no token for ${name}: ${JSON.stringify(body)}`);
    return body.token;
  }

  before(async () => {
    m = await startMember();
    await ctl("put", "app/a", "1");
    await ctl("put", "other/x", "hidden");
    await enableAuthWithAppReader(ctl);
  });
  after(async () => m?.close());

  test("a user limited to a prefix sees only those keys: initial state, live changes, replays", async () => {
    const c = m.connect({
      subscription: { topics: ["raft"], keys: [{ key: "", prefix: true }] },
      token: await token("alice", "alicepw"),
    });
    const initial = await firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
    const snap = initial.events.find(is("kv.snapshot"));
    assert.deepEqual(
      snap?.kvs.map((kv) => kv.key),
      ["app/a"],
    );
    assert.ok(initial.events.some(is("raft.state")), "other topics are not filtered");
    const seen = firstValueFrom(
      c.events$.pipe(
        filter((e): e is Extract<FeedEvent, { type: "kv" }> => e.type === "kv"),
        take(2),
        toArray(),
        timeout(10_000),
      ),
    );
    await asRoot("put", "other/y", "not for alice");
    await asRoot("put", "app/b", "2");
    await asRoot("put", "other/z", "not for alice either");
    await asRoot("put", "app/c", "3");
    assert.deepEqual(
      (await seen).map((e) => [e.key, e.value]),
      [
        ["app/b", "2"],
        ["app/c", "3"],
      ],
    );
    // a replay from a start revision is filtered the same way
    const replay = m.connect({
      subscription: { topics: [], keys: [{ key: "", prefix: true, startRevision: 1 }] },
      token: await token("alice", "alicepw"),
    });
    const replayed: FeedBatch = await firstValueFrom(replay.batches$.pipe(take(1), timeout(10_000)));
    const keys = replayed.events.filter(is("kv")).map((e) => String(e.key));
    assert.ok(keys.length >= 3, keys.join(","));
    assert.ok(
      keys.every((k) => k.startsWith("app/")),
      keys.join(","),
    );
  });

  test("root sees every key", async () => {
    const c = m.connect({
      subscription: { topics: [], keys: [{ key: "", prefix: true }] },
      token: await token("root", "rootpw"),
    });
    const initial = await firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
    const keys = initial.events.find(is("kv.snapshot"))?.kvs.map((kv) => String(kv.key)) ?? [];
    assert.ok(keys.includes("other/x") && keys.includes("app/a"), keys.join(","));
  });

  test("no token, or a forged one: the connection is refused with etcd's error", async () => {
    for (const [token, message] of [
      [undefined, "etcdserver: user name is empty"],
      ["forged.1", "etcdserver: invalid auth token"],
    ] as const) {
      const c = m.connect({
        subscription: { topics: ["raft"], keys: [{ key: "", prefix: true }] },
        reconnection: false,
        ...(token ? { token } : {}),
      });
      const error = await firstValueFrom(c.errors$.pipe(take(1), timeout(10_000)));
      assert.deepEqual([error.code, error.message], ["connect", message]);
      assert.equal((await c.opened).connected, false);
      assert.equal(c.connected$.value, false);
    }
  });
});

describe("the event feed with auth on and client certificates (--client-cert-auth)", {
  timeout: 120_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-feed-tls-"));
  let certs: TestCerts;
  let m: TestMember;
  const pem = (file: string) => readFileSync(file, "utf8");
  const as = (who: string) => ({
    ca: pem(certs.ca),
    cert: pem(certs.clients[who].cert),
    key: pem(certs.clients[who].key),
  });
  const ctl = async (...args: string[]) =>
    (
      await run(
        etcdctlPath(),
        [
          `--endpoints=${m.url}`,
          "--cacert",
          certs.ca,
          "--cert",
          certs.clients.root.cert,
          "--key",
          certs.clients.root.key,
          ...args,
        ],
        { env: { ...process.env, ETCDCTL_API: "3" } },
      )
    ).stdout;

  before(async () => {
    certs = makeCerts(dir, ["root", "alice", "nobody"]);
    m = await startMember(
      {},
      { certFile: certs.server.cert, keyFile: certs.server.key, trustedCaFile: certs.ca },
    );
    await ctl("put", "app/a", "1");
    await ctl("put", "other/x", "hidden");
    await enableAuthWithAppReader(ctl);
  });
  after(async () => {
    await m?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the certificate's Common Name is the user: alice sees only app/, a user that does not exist sees no key", async () => {
    const snapshotKeys = async (who: string) => {
      const c = m.connect({
        subscription: { topics: [], keys: [{ key: "", prefix: true }] },
        tls: as(who),
      });
      const initial = await firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
      return initial.events.find(is("kv.snapshot"))?.kvs.map((kv) => String(kv.key));
    };
    assert.deepEqual(await snapshotKeys("alice"), ["app/a"]);
    assert.deepEqual(await snapshotKeys("root"), ["app/a", "other/x"]);
    assert.deepEqual(await snapshotKeys("nobody"), []);
  });
});
