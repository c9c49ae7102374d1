// The v2 proxy through the command: a one-member rxetcd, rxetcd proxies in front of it (on, readonly,
// restarted from the data dir alone), and Debian's etcd proxy answering the same requests beside it.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { destroyAllMembers, freePort, Member, needsDebianEtcd, sleep } from "../e2e/harness.js";
import { type Answer, call, ProxyProcess } from "./proxy-process.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const ZERO_ENDPOINTS = '{"message":"httpproxy: zero endpoints currently available"}';
const NO_RESPONSE = '{"message":"httpproxy: unable to get response from 1 endpoint(s)"}';

/** Waits until `url` answers a GET with `status` (the proxy's view of a member catches up). */
async function answers(url: string, ok: (a: Answer) => boolean, timeoutMs = 20_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  let last: Answer | undefined;
  while (Date.now() < deadline) {
    last = await call(url);
    if (ok(last)) return last;
    await sleep(200);
  }
  assert.fail(`no expected answer from ${url}; last: ${last?.status} ${last?.body}`);
}

describe("v2 proxy in front of a one-member cluster", { timeout: 240_000 }, () => {
  let member: Member;
  const proxies: ProxyProcess[] = [];
  const proxy = async (binary: "rxetcd" | "etcd" = "rxetcd") => {
    const p = await ProxyProcess.create(binary);
    proxies.push(p);
    return p;
  };
  const clusterFlag = () => ["--initial-cluster", `${member.name}=${member.peerUrl}`];

  before(async () => {
    member = await Member.start({ binary: "rxetcd" });
  });
  after(async () => {
    for (const p of proxies) await p.destroy();
    await destroyAllMembers();
  });

  test("requests on the JSON gateway go through; the cluster file is written", async () => {
    const p = await proxy();
    await p.start(["--proxy", "on", ...clusterFlag()]);

    const put = await call(`${p.url}/v3/kv/put`, {
      body: JSON.stringify({ key: b64("pk"), value: b64("pv") }),
    });
    assert.equal(put.status, 200, put.body);
    const viaProxy = await call(`${p.url}/v3/kv/range`, { body: JSON.stringify({ key: b64("pk") }) });
    const direct = await call(`${member.clientUrl}/v3/kv/range`, {
      body: JSON.stringify({ key: b64("pk") }),
    });
    assert.equal(viaProxy.status, 200);
    assert.equal(viaProxy.body, direct.body);
    const kvs = (JSON.parse(viaProxy.body) as { kvs: Array<{ value: string }> }).kvs;
    assert.equal(kvs[0].value, b64("pv"));

    const version = await call(`${p.url}/version`);
    assert.equal(version.status, 200);
    assert.equal(version.body, (await call(`${member.clientUrl}/version`)).body);
    const health = await call(`${p.url}/health`);
    assert.deepEqual([health.status, health.body], [200, '{"health":"true"}']);

    const local = await call(`${p.url}/v2/config/local/proxy`);
    assert.equal(local.body, `${JSON.stringify({ endpoints: [member.clientUrl] })}\n`);
    assert.equal(readFileSync(p.clusterFile, "utf8"), JSON.stringify({ PeerURLs: [member.peerUrl] }));

    const metrics = await call(`${p.url}/metrics`);
    assert.match(metrics.body, /etcd_proxy_handled_total\{method="POST",code="200"\} [1-9]/);

    // restarted from its data dir alone: a proxy dir, and the cluster file names the peers (the
    // --initial-cluster given points nowhere)
    await p.stop();
    const dead = `http://127.0.0.1:${await freePort()}`;
    // (without --proxy, etcd wants --advertise-client-urls beside --listen-client-urls, as for a member)
    await p.start(["--advertise-client-urls", p.url, "--initial-cluster", `nowhere=${dead}`]);
    const log = p.log();
    assert.match(log, /"dir-type":"proxy"/);
    assert.match(log, /proxy using peer URLS from cluster file/);
    const again = await call(`${p.url}/v3/kv/range`, { body: JSON.stringify({ key: b64("pk") }) });
    assert.equal(again.body, direct.body);
    // without --proxy the restarted proxy is not read-only
    assert.equal(
      (await call(`${p.url}/v3/kv/put`, { body: JSON.stringify({ key: b64("k2") }) })).status,
      200,
    );
  });

  test("--proxy readonly answers 501 to all but GET", async () => {
    const p = await proxy();
    // a peer that never answers is skipped, and dropped from the cluster file the members' list replaces
    const dead = `http://127.0.0.1:${await freePort()}`;
    await p.start([
      "--proxy",
      "readonly",
      "--initial-cluster",
      `${member.name}=${member.peerUrl},gone=${dead}`,
    ]);
    assert.equal(readFileSync(p.clusterFile, "utf8"), JSON.stringify({ PeerURLs: [member.peerUrl] }));
    assert.match(p.log(), /proxy updated peer URLs/);
    const put = await call(`${p.url}/v3/kv/put`, {
      body: JSON.stringify({ key: b64("ro"), value: b64("x") }),
    });
    assert.deepEqual([put.status, put.body], [501, ""]);
    const range = await call(`${p.url}/v3/kv/range`, { body: JSON.stringify({ key: b64("ro") }) });
    assert.equal(range.status, 501);
    const version = await call(`${p.url}/version`);
    assert.equal(version.status, 200);
    const direct = await call(`${member.clientUrl}/v3/kv/range`, {
      body: JSON.stringify({ key: b64("ro") }),
    });
    assert.equal(
      (JSON.parse(direct.body) as { kvs?: unknown[] }).kvs,
      undefined,
      "the refused put was not made",
    );
    if (!needsDebianEtcd) {
      const theirs = await proxy("etcd");
      await theirs.start(["--proxy", "readonly", ...clusterFlag()]);
      const same: Array<[string, { method?: string; body?: string }]> = [
        ["/v3/kv/put", { body: "{}" }],
        ["/version", { method: "DELETE" }],
        ["/v3/kv/range", { method: "OPTIONS" }],
        ["/version", {}],
      ];
      for (const [path, init] of same) {
        const a = await call(`${p.url}${path}`, init);
        const b = await call(`${theirs.url}${path}`, init);
        assert.deepEqual(
          [a.status, a.body],
          [b.status, b.body],
          `etcd's readonly proxy: ${JSON.stringify(init)} ${path}`,
        );
      }
    }
  });

  test("an https listener with --auto-tls", async () => {
    const p = await proxy();
    p.scheme = "https";
    await p.start(["--proxy", "on", "--auto-tls", ...clusterFlag()]);
    const range = await call(`${p.url}/v3/kv/range`, { body: JSON.stringify({ key: b64("pk") }) });
    assert.equal(range.status, 200);
    assert.equal(
      range.body,
      (await call(`${member.clientUrl}/v3/kv/range`, { body: JSON.stringify({ key: b64("pk") }) })).body,
    );
    assert.ok(
      existsSync(join(p.dataDir, "proxy", "clientCerts", "cert.pem")),
      "etcd's place for the proxy's certificate",
    );
  });

  test("Debian's etcd proxy answers the same requests the same way", { skip: needsDebianEtcd }, async () => {
    const ours = await proxy();
    const theirs = await proxy("etcd");
    await ours.start(["--proxy", "on", ...clusterFlag()]);
    await theirs.start(["--proxy", "on", ...clusterFlag()]);
    await call(`${member.clientUrl}/v3/kv/put`, {
      body: JSON.stringify({ key: b64("same"), value: b64("v") }),
    });
    const requests: Array<[string, { method?: string; body?: string }]> = [
      ["/version", {}],
      ["/health", {}],
      ["/v3/kv/range", { body: JSON.stringify({ key: b64("same") }) }],
      ["/v3/kv/range", { body: "not json" }],
      ["/no/such/path", {}],
      ["/v3//kv/range", { body: "{}" }],
      ["/v3//kv/range", {}],
      ["/v3/kv/range", { method: "OPTIONS" }],
      ["/v2/config/local/proxy", {}],
      ["/v2/config/local/proxy", { method: "PUT", body: "{}" }],
    ];
    for (const [path, init] of requests) {
      const a = await call(`${ours.url}${path}`, init);
      const b = await call(`${theirs.url}${path}`, init);
      const what = `${init.method ?? (init.body ? "POST" : "GET")} ${path}`;
      assert.deepEqual([a.status, a.body, a.headers.location], [b.status, b.body, b.headers.location], what);
      assert.equal(a.headers["content-type"], b.headers["content-type"], what);
    }
  });

  test("with the member down, etcd's error answers", async () => {
    const p = await proxy();
    await p.start(["--proxy", "on", ...clusterFlag()]);
    const others = proxies.filter((o) => o !== p && o.running);
    await member.kill();
    try {
      // the endpoint known up fails (502) unless a refresh already dropped it (503)
      const first = await call(`${p.url}/v3/kv/put`, { body: JSON.stringify({ key: b64("down") }) });
      assert.ok(
        (first.status === 502 && first.body === NO_RESPONSE) ||
          (first.status === 503 && first.body === ZERO_ENDPOINTS),
        `${first.status} ${first.body}`,
      );
      assert.equal(first.headers["content-type"], "application/json");
      const next = await answers(`${p.url}/version`, (a) => a.status === 503);
      assert.equal(next.body, ZERO_ENDPOINTS);
      for (const o of others) {
        const a = await answers(`${o.url}/version`, (x) => x.status === 503);
        assert.equal(a.body, ZERO_ENDPOINTS, `${o.binary} proxy`);
      }
      const metrics = await call(`${p.url}/metrics`);
      assert.match(
        metrics.body,
        /etcd_proxy_dropped_total\{method="GET",proxying_error="zero_endpoints"\} [1-9]/,
      );

      // the member back: the proxy finds it again (every second while it has none)
      await member.restart();
      const back = await answers(`${p.url}/version`, (a) => a.status === 200);
      assert.match(back.body, /"etcdserver":"3\.4\.23"/);
    } finally {
      if (!member.running) await member.restart().catch(() => {});
    }
  });
});
