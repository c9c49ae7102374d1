// --listen-feed-urls: the feed and the dashboard on a listener of their own, nothing else there.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { firstValueFrom, take, timeout } from "rxjs";
import { FeedClient } from "../../src/feed/client.js";
import { makeCerts, type TestCerts } from "../e2e/certs.js";
import { etcdctlPath, freePort } from "../e2e/harness.js";
import { artifactPath, type Browser, launchChromium } from "./browser.js";
import { enableAuthWithAppReader, is, nextEvent, put, startMember, type TestMember } from "./harness.js";

/** Whether something accepts TCP connections on the URL's port. */
function accepts(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

describe("the event feed on --listen-feed-urls", { timeout: 120_000 }, () => {
  let m: TestMember;
  let feedUrl: string;
  const clients: FeedClient[] = [];
  before(async () => {
    m = await startMember({}, undefined, { listenFeedUrls: `http://127.0.0.1:${await freePort()}` });
    assert.equal(m.etcd.feedUrls.length, 1);
    feedUrl = m.etcd.feedUrls[0].origin;
  });
  after(async () => {
    for (const c of clients) c.close();
    await m?.close();
  });

  for (const transport of ["websocket", "polling"] as const) {
    test(`a feed client over ${transport} gets the initial state and live changes there`, async () => {
      await put(m, `${transport}/seed`, "1");
      const c = new FeedClient(feedUrl, {
        subscription: { topics: ["raft"], keys: [{ key: `${transport}/`, prefix: true }] },
        transports: [transport],
      });
      clients.push(c);
      // both come in the first batch
      const [snapshot, raft] = await Promise.all([
        nextEvent(c.events$, is("kv.snapshot"), "the initial keys"),
        nextEvent(c.events$, is("raft.state"), "the raft state"),
      ]);
      assert.deepEqual(
        snapshot.kvs.map((kv) => [kv.key, kv.value]),
        [[`${transport}/seed`, "1"]],
      );
      assert.equal(raft.role, "leader");
      const change = nextEvent(c.events$, is("kv"), `a key change over ${transport}`);
      await put(m, `${transport}/live`, "live");
      const e = await change;
      assert.equal(e.key, `${transport}/live`);
      assert.equal(e.value, "live");
    });
  }

  test("clients of the feed port and of the client port share one feed with its bounds", async () => {
    const onClientPort = m.connect({ subscription: { topics: ["raft"] } });
    await nextEvent(onClientPort.events$, is("raft.state"), "the raft state on the client port");
    // the two from the tests above and this one, counted together against maxClients
    assert.equal(m.etcd.feed?.events.clientCount, 3);
  });

  test("the dashboard served there names the member's client URL for its requests", async () => {
    const there = await fetch(`${feedUrl}/dashboard`);
    assert.equal(there.status, 200);
    assert.match(there.headers.get("content-type") ?? "", /^text\/html/);
    const html = await there.text();
    assert.ok(html.includes(`<meta name="rxetcd-api" content="${new URL(m.url).origin}">`), html);
    const js = await fetch(`${feedUrl}/dashboard/dashboard.js`);
    assert.equal(js.status, 200);
    // on the client port the page's own origin is its API
    const home = await (await fetch(`${m.url}/dashboard`)).text();
    assert.ok(home.includes('<meta name="rxetcd-api" content="">'), home);
  });

  test("nothing else is served there: the KV API, metrics and health answer 404 saying what is", async () => {
    for (const [method, path] of [
      ["POST", "/v3/kv/range"],
      ["GET", "/metrics"],
      ["GET", "/health"],
      ["GET", "/version"],
    ] as const) {
      const res = await fetch(`${feedUrl}${path}`, {
        method,
        ...(method === "POST" ? { body: JSON.stringify({ key: "YQ==" }) } : {}),
      });
      assert.equal(res.status, 404, path);
      assert.match(await res.text(), /serves only the event feed \(\/socket\.io\/\) and the dashboard/, path);
    }
    // while the client port keeps them
    assert.equal((await fetch(`${m.url}/version`)).status, 200);
  });

  test("closing the member closes the feed port", async () => {
    const url = m.etcd.feedUrls[0];
    assert.equal(await accepts(url), true);
    for (const c of clients.splice(0)) c.close();
    await m.close();
    assert.equal(await accepts(url), false);
  });
});

describe("the dashboard from --listen-feed-urls, in chromium", { timeout: 180_000 }, () => {
  let m: TestMember;
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
    m = await startMember({}, undefined, { listenFeedUrls: `http://127.0.0.1:${await freePort()}` });
  });
  after(async () => {
    await browser?.close();
    await m?.close();
  });

  test("the page shows the member live and its put form writes through the client port", async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${m.etcd.feedUrls[0].origin}/dashboard`);
    await page.waitForSelector('tr.leader[data-member="feed"]', { timeout: 15_000 });
    await page.fill("#put-key", "from/feed-port");
    await page.fill("#put-value", "written");
    await page.click("#put-form button");
    await page.waitForSelector('[data-key="from/feed-port"]', { timeout: 10_000 });
    // the store has it (asked through the client port's gateway)
    const res = await fetch(`${m.url}/v3/kv/range`, {
      method: "POST",
      body: JSON.stringify({ key: Buffer.from("from/feed-port").toString("base64") }),
    });
    const body = (await res.json()) as { kvs?: Array<{ value: string }> };
    assert.equal(Buffer.from(body.kvs?.[0]?.value ?? "", "base64").toString(), "written");
    await page.screenshot({ path: artifactPath("dashboard-feed-port.png"), fullPage: true });
    assert.deepEqual(errors, []);
  });
});

describe("an https feed port with client certificates and auth on", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-feed-port-tls-"));
  let certs: TestCerts;
  let m: TestMember;
  const pem = (file: string) => readFileSync(file, "utf8");
  const ctl = async (...args: string[]) =>
    promisify(execFile)(
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
    );
  before(async () => {
    certs = makeCerts(dir, ["root", "alice"]);
    m = await startMember(
      {},
      { certFile: certs.server.cert, keyFile: certs.server.key, trustedCaFile: certs.ca },
      { listenFeedUrls: `https://127.0.0.1:${await freePort()}` },
    );
    await ctl("put", "app/a", "1");
    await ctl("put", "other/x", "hidden");
    await enableAuthWithAppReader(ctl);
  });
  after(async () => {
    await m?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the client certificate names the user there too; without one the handshake fails", async () => {
    const url = m.etcd.feedUrls[0];
    assert.equal(url.protocol, "https:");
    const c = new FeedClient(url.origin, {
      subscription: { topics: [], keys: [{ key: "", prefix: true }] },
      tls: { ca: pem(certs.ca), cert: pem(certs.clients.alice.cert), key: pem(certs.clients.alice.key) },
    });
    try {
      const initial = await firstValueFrom(c.batches$.pipe(take(1), timeout(10_000)));
      const snapshot = initial.events.find(is("kv.snapshot"));
      assert.deepEqual(
        snapshot?.kvs.map((kv) => String(kv.key)),
        ["app/a"],
      );
    } finally {
      c.close();
    }
    // the member's CA trusted but no client certificate: refused (--client-cert-auth)
    const anonymous = await new Promise<string>((resolve) => {
      const req = httpsGet(`${url.origin}/dashboard`, { ca: pem(certs.ca) }, (res) => {
        res.resume();
        resolve(`answered ${res.statusCode}`);
      });
      req.on("error", (err) => resolve(`refused: ${err.message}`));
    });
    assert.match(anonymous, /^refused: /);
    const withCert = await new Promise<string>((resolve) => {
      const req = httpsGet(
        `${url.origin}/dashboard`,
        { ca: pem(certs.ca), cert: pem(certs.clients.alice.cert), key: pem(certs.clients.alice.key) },
        (res) => {
          res.resume();
          resolve(`answered ${res.statusCode}`);
        },
      );
      req.on("error", (err) => resolve(`refused: ${err.message}`));
    });
    assert.equal(withCert, "answered 200");
  });
});
