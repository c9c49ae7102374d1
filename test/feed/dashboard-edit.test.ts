// The dashboard as a place to change things, in chromium: users and roles created, granted, revoked and
// deleted (etcd's errors shown), a value edited in place, a put with a lease, the key tree, and the load
// charts showing a put rate the test makes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { artifactPath, type Browser, launchChromium } from "./browser.js";
import { startMember, type TestMember } from "./harness.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString();

describe("changing things from the dashboard, in chromium", { timeout: 480_000 }, () => {
  let m: TestMember;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const post = async (path: string, body: object): Promise<Record<string, unknown>> => {
    const res = await fetch(`${m.url}${path}`, { method: "POST", body: JSON.stringify(body) });
    const json = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(json)}`);
    return json;
  };
  const kv = async (key: string) => {
    const r = (await post("/v3/kv/range", { key: b64(key) })) as {
      kvs?: Array<{ value?: string; lease?: string }>;
    };
    return r.kvs?.[0];
  };
  /** Waits until an element's text matches. */
  const textOf = async (selector: string, pattern: RegExp): Promise<string> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const text = (await page.textContent(selector)) ?? "";
      if (pattern.test(text)) return text;
      assert.ok(Date.now() < deadline, `${selector} shows "${text}", not ${pattern}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  before(async () => {
    browser = await launchChromium();
    m = await startMember();
    page = await browser.context.newPage();
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${m.url}/dashboard`);
    await page.waitForSelector('tr.leader[data-member="feed"]', { timeout: 15_000 });
  });
  after(async () => {
    await page?.screenshot({ path: artifactPath("dashboard-edit.png"), fullPage: true }).catch(() => {});
    await browser?.close();
    await m?.close();
    assert.deepEqual(errors, [], "no errors on the page");
  });

  test("users and roles: add, grant, revoke, delete, with etcd's errors shown", async () => {
    await page.fill("#user-name", "bob");
    await page.fill("#user-password", "bobpw");
    await page.click("#user-form button");
    await textOf("#auth-status", /^added user bob$/);
    await page.waitForSelector('tr[data-user="bob"]');

    // the same name again: etcd's refusal, as etcd words it
    await page.click("#user-form button");
    await textOf("#auth-status", /^etcdserver: user name already exists$/);
    assert.equal(await page.getAttribute("#auth-status", "class"), "error");

    await page.fill("#role-name", "ops");
    await page.click("#role-form button");
    await textOf("#auth-status", /^added role ops$/);

    await page.fill("#ur-user", "bob");
    await page.fill("#ur-role", "nosuchrole");
    await page.click('#user-role-form button[value="grant"]');
    await textOf("#auth-status", /^etcdserver: role name not found$/);
    await page.fill("#ur-role", "ops");
    await page.click('#user-role-form button[value="grant"]');
    await textOf("#auth-status", /^granted role ops to bob$/);
    await textOf('tr[data-user="bob"]', /ops/);

    await page.fill("#perm-role", "ops");
    await page.selectOption("#perm-type", "READWRITE");
    await page.fill("#perm-key", "svc/");
    await page.check("#perm-prefix");
    await page.click('#perm-form button[value="grant"]');
    await textOf("#auth-status", /^granted readwrite prefix svc\/ to ops$/);
    await textOf('tr[data-role="ops"]', /readwrite \[svc\/, svc0\)/);
    const role = (await post("/v3/auth/role/get", { role: "ops" })) as {
      perm?: Array<{ key?: string; range_end?: string }>;
    };
    assert.deepEqual(
      role.perm?.map((p) => [unb64(p.key), unb64(p.range_end)]),
      [["svc/", "svc0"]],
    );

    await page.click('#perm-form button[value="revoke"]');
    await textOf("#auth-status", /^revoked prefix svc\/ from ops$/);
    await textOf('tr[data-role="ops"]', /^ops\s*delete$/);
    await page.click('#perm-form button[value="revoke"]');
    await textOf("#auth-status", /^etcdserver: permission is not granted to the role$/);

    await page.click('#user-role-form button[value="revoke"]');
    await textOf("#auth-status", /^revoked role ops from bob$/);
    await page.click('[data-delete-user="bob"]');
    await textOf("#auth-status", /^deleted user bob$/);
    await page.click('[data-delete-role="ops"]');
    await textOf("#auth-status", /^deleted role ops$/);
    const users = (await post("/v3/auth/user/list", {})) as { users?: string[] };
    const roles = (await post("/v3/auth/role/list", {})) as { roles?: string[] };
    assert.deepEqual([users.users ?? [], roles.roles ?? []], [[], []]);
    assert.equal(await page.$('tr[data-user="bob"]'), null);
  });

  test("a value is edited in place: click it, change it, save puts it and keeps the key's lease", async () => {
    const lease = (await post("/v3/lease/grant", { TTL: 300 })) as { ID: string };
    await post("/v3/kv/put", { key: b64("edit/me"), value: b64("before"), lease: lease.ID });
    await page.waitForSelector('[data-key="edit/me"] .value');
    await page.click('[data-key="edit/me"] .value');
    await page.waitForSelector('[data-key="edit/me"] textarea');
    assert.equal(await page.inputValue('[data-key="edit/me"] textarea'), "before");
    // the list holds still while editing, even as other keys change
    await post("/v3/kv/put", { key: b64("edit/other"), value: b64("x") });
    await new Promise((r) => setTimeout(r, 1500));
    await page.fill('[data-key="edit/me"] textarea', "after");
    await page.click('[data-key="edit/me"] button.save');
    await page.waitForSelector('[data-key="edit/me"] .value', { timeout: 10_000 });
    await textOf('[data-key="edit/me"] .value', /^after$/);
    const stored = await kv("edit/me");
    assert.equal(unb64(stored?.value), "after");
    assert.equal(stored?.lease, lease.ID, "the key keeps its lease");
    assert.ok(await page.$('[data-key="edit/other"]'), "the list caught up after the edit");
  });

  test("a put takes a new lease with a TTL or an existing lease; a revoked lease leaves the choices; a refused TTL shows etcd's error", async () => {
    await page.fill("#put-key", "leased/new");
    await page.fill("#put-value", "v");
    await page.selectOption("#put-lease", "ttl");
    await page.fill("#put-ttl", "120");
    await page.click("#put-form button");
    const done = await textOf("#put-status", /^put leased\/new with lease [0-9a-f]+$/);
    const id = done.split(" ").pop() as string;
    const stored = await kv("leased/new");
    assert.equal(BigInt(stored?.lease ?? "0").toString(16), id);
    const ttl = (await post("/v3/lease/timetolive", { ID: BigInt(`0x${id}`).toString() })) as {
      grantedTTL?: string;
    };
    assert.equal(ttl.grantedTTL, "120");

    // the new lease is offered for the next put
    await page.waitForSelector(`#put-lease option[value="${id}"]`, { state: "attached", timeout: 10_000 });
    await page.fill("#put-key", "leased/second");
    await page.selectOption("#put-lease", id);
    await page.click("#put-form button");
    await textOf("#put-status", new RegExp(`^put leased/second with lease ${id}$`));
    assert.equal(BigInt((await kv("leased/second"))?.lease ?? "0").toString(16), id);

    // revoked: the lease leaves the choices (the page follows the live leases), the put form falls back to none
    await post("/v3/lease/revoke", { ID: BigInt(`0x${id}`).toString() });
    await page.waitForSelector(`#put-lease option[value="${id}"]`, { state: "detached", timeout: 10_000 });
    assert.equal(await page.inputValue("#put-lease"), "");
    // a TTL etcd refuses: its error shows
    await page.fill("#put-key", "leased/third");
    await page.selectOption("#put-lease", "ttl");
    await page.fill("#put-ttl", "9000000001");
    await page.click("#put-form button");
    await textOf("#put-status", /^etcdserver: too large lease TTL$/);
    assert.equal(await kv("leased/third"), undefined);
  });

  test("the tree view splits keys on '/' into folders that close and open", async () => {
    for (const k of ["tree/a/b/c", "tree/a/b/d", "tree/a/e"])
      await post("/v3/kv/put", { key: b64(k), value: b64(k) });
    await page.fill("#prefix", "tree/");
    await page.click("#watch-form button");
    await page.check("#tree");
    await page.waitForSelector('[data-dir="tree/a/b/"]', { timeout: 10_000 });
    const rows = await page.$$eval("#keys > div", (els) =>
      els.map((el) => [
        el.getAttribute("data-dir") ?? el.getAttribute("data-key"),
        Number(el.getAttribute("data-depth")),
        el.querySelector("a")?.textContent?.trim(),
      ]),
    );
    assert.deepEqual(rows, [
      ["tree/", 0, "▾ tree/"],
      ["tree/a/", 1, "▾ a/"],
      ["tree/a/b/", 2, "▾ b/"],
      ["tree/a/b/c", 3, "c"],
      ["tree/a/b/d", 3, "d"],
      ["tree/a/e", 2, "e"],
    ]);
    assert.match((await page.textContent('[data-dir="tree/a/"]')) ?? "", /3 keys/);
    await page.click('[data-toggle-dir="tree/a/b/"]');
    await page.waitForSelector('[data-key="tree/a/b/c"]', { state: "detached", timeout: 5_000 });
    assert.ok(await page.$('[data-key="tree/a/e"]'), "a closed folder hides only its own keys");
    await page.click('[data-toggle-dir="tree/a/b/"]');
    await page.waitForSelector('[data-key="tree/a/b/c"]', { timeout: 5_000 });
    await page.uncheck("#tree");
    await page.fill("#prefix", "");
    await page.click("#watch-form button");
  });

  test("the load chart shows the put rate the test makes, and its legend the newest values", async () => {
    const legend = async (): Promise<Record<string, string>> =>
      Object.fromEntries(
        await page.$$eval("#rates .u-legend tr.u-series", (trs) =>
          trs.map((tr) => [
            tr.querySelector(".u-label")?.textContent ?? "",
            tr.querySelector(".u-value")?.textContent ?? "",
          ]),
        ),
      );
    let done = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        await post("/v3/kv/put", { key: b64(`rate/${done % 10}`), value: b64("x") });
        done++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      // the puts made over a few seconds, against what the chart's newest samples say
      await new Promise((r) => setTimeout(r, 2500));
      const from = { at: Date.now(), done };
      const shown: number[] = [];
      const applied: number[] = [];
      let last = "";
      while (shown.length < 3) {
        const l = await legend();
        if (l.Time !== last && l.puts !== undefined && l.puts !== "--") {
          last = l.Time;
          shown.push(Number(l.puts));
          applied.push(Number(l.applies));
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      const rate = ((done - from.done) * 1000) / (Date.now() - from.at);
      const mean = shown.reduce((a, b) => a + b, 0) / shown.length;
      console.log(
        `puts/s made ${rate.toFixed(1)}, shown ${shown.join(", ")}, applies/s ${applied.join(", ")}`,
      );
      assert.ok(rate > 2, `the test made only ${rate.toFixed(1)} puts/s`);
      assert.ok(mean > rate / 3 && mean < rate * 3, `puts/s shown ${shown} for ${rate.toFixed(1)} made`);
      // every put is one applied entry: the two lines agree
      for (let i = 0; i < shown.length; i++)
        assert.ok(applied[i] >= shown[i] * 0.5, `applies ${applied[i]} against puts ${shown[i]}`);
      for (const v of Object.values(await legend())) assert.notEqual(v, "--");
      assert.deepEqual(Object.keys(await legend()), ["Time", "puts", "applies", "reads"]);
      // the event log gives each window's applies as one summary in words
      const lines = await page.$$eval("#log li", (lis) => lis.map((li) => li.textContent ?? ""));
      assert.ok(
        lines.some((l) =>
          / apply \d+ applied #\d+(–\d+)? \(put \d+.*\) in \d+ batches, max [\d.]+ ms/.test(l),
        ),
        `an apply summary in the log: ${lines.slice(0, 5).join(" | ")}`,
      );
    } finally {
      stop = true;
      await load;
    }
  });

  test("the WAL fsync legend keeps the last known p99 when the newest sample had no sync", async () => {
    const walLegend = () =>
      page.$$eval("#latency .u-legend tr.u-series", (trs) =>
        trs
          .filter((tr) => tr.querySelector(".u-label")?.textContent === "WAL fsync p99")
          .map((tr) => tr.querySelector(".u-value")?.textContent ?? ""),
      );
    const metrics = m.connect({ subscription: { topics: ["metrics"] } });
    let newest: number | null | undefined;
    metrics.events$.subscribe((e) => {
      if (e.type === "metrics") newest = e.walFsyncMsP99;
    });
    const until = async (what: string, ok: () => boolean, ms = 15_000) => {
      const deadline = Date.now() + ms;
      while (!ok()) {
        assert.ok(Date.now() < deadline, `not within ${ms} ms: ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // writes sync the WAL: a sample with a p99, then (no writes) samples without one
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i++) {
        await post("/v3/kv/put", { key: b64(`wal/${i % 5}`), value: b64("x") });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await until("a metrics sample with a WAL fsync p99", () => typeof newest === "number");
    } finally {
      writing = false;
      await writes;
    }
    await until("a metrics sample without WAL syncs", () => newest === null);
    // the page has the same sample within a flush or two
    await new Promise((r) => setTimeout(r, 800));
    assert.equal(newest, null, "still no syncs (nothing writes)");
    const [shown] = await walLegend();
    assert.match(
      shown ?? "",
      /^\d+(\.\d+)?$/,
      `WAL fsync p99 legend shows "${shown}", not the last known value`,
    );
    metrics.close();
  });

  test("a single member lists no follower progress for itself", async () => {
    await textOf("#peers", /^no followers$/);
    assert.equal(await page.$("#peers tr[data-peer]"), null);
  });
});
