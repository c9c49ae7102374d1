// The dashboard's tools beside the live views, in chromium: member health, YAML values, a lease's keys,
// users and roles, export and import of a prefix.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { artifactPath, type Browser, launchChromium } from "./browser.js";
import { startMember, type TestMember } from "./harness.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("the dashboard's tools, in chromium", { timeout: 180_000 }, () => {
  let m: TestMember;
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  /** A JSON gateway call on the member; fails the test on an error answer. */
  const post = async (path: string, body: object): Promise<Record<string, unknown>> => {
    const res = await fetch(`${m.url}${path}`, { method: "POST", body: JSON.stringify(body) });
    const json = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(json)}`);
    return json;
  };
  const value = async (key: string): Promise<string | undefined> => {
    const r = (await post("/v3/kv/range", { key: b64(key) })) as { kvs?: Array<{ value?: string }> };
    return r.kvs?.[0] ? Buffer.from(r.kvs[0].value ?? "", "base64").toString() : undefined;
  };

  before(async () => {
    browser = await launchChromium();
    m = await startMember();
    await post("/v3/kv/put", { key: b64("cfg/app.yaml"), value: b64("name: web\nreplicas: 3\n") });
    await post("/v3/kv/put", { key: b64("cfg/flags"), value: b64('{"dark":true}') });
    const lease = (await post("/v3/lease/grant", { TTL: 300 })) as { ID: string };
    await post("/v3/kv/put", { key: b64("sessions/w1"), value: b64("alive"), lease: lease.ID });
    await post("/v3/auth/role/add", { name: "reader" });
    await post("/v3/auth/role/grant", {
      name: "reader",
      perm: { permType: "READ", key: b64("app/"), range_end: b64("app0") },
    });
    await post("/v3/auth/user/add", { name: "alice", password: "pw" });
    await post("/v3/auth/user/grant", { user: "alice", role: "reader" });
    page = await browser.context.newPage();
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${m.url}/dashboard`);
    await page.waitForSelector('tr.leader[data-member="feed"]', { timeout: 15_000 });
  });
  after(async () => {
    await page?.screenshot({ path: artifactPath("dashboard-tools.png"), fullPage: true }).catch(() => {});
    await browser?.close();
    await m?.close();
    assert.deepEqual(errors, [], "no errors on the page");
  });

  test("each member's health shows", async () => {
    await page.waitForSelector('tr[data-member="feed"] td[data-health="healthy"]', { timeout: 10_000 });
  });

  test("YAML and JSON values are shown readably, marked with their format", async () => {
    await page.waitForSelector('[data-key="cfg/app.yaml"] .fmt', { timeout: 10_000 });
    assert.equal(await page.textContent('[data-key="cfg/app.yaml"] .fmt'), "yaml");
    assert.equal(await page.textContent('[data-key="cfg/app.yaml"] .value'), "\nname: web\nreplicas: 3");
    assert.equal(await page.textContent('[data-key="cfg/flags"] .fmt'), "json");
  });

  test("a lease shows the keys attached to it", async () => {
    await page.click("[data-lease-keys]", { timeout: 10_000 });
    await page.waitForFunction(
      '(document.getElementById("lease-keys")?.textContent ?? "").includes("sessions/w1")',
      undefined,
      { timeout: 10_000 },
    );
  });

  test("users with their roles and roles with their permissions", async () => {
    await page.click("#auth-refresh");
    await page.waitForSelector('tr[data-user="alice"]', { timeout: 10_000 });
    assert.match((await page.textContent('tr[data-user="alice"]')) ?? "", /reader/);
    assert.match((await page.textContent('tr[data-role="reader"]')) ?? "", /read \[app\/, app0\)/);
  });

  test("a key's history shows every revision with the differences between versions", async () => {
    await post("/v3/kv/put", { key: b64("hist/k"), value: b64("line one\nline two") });
    await post("/v3/kv/put", { key: b64("hist/k"), value: b64("line one\nline 2") });
    await page.waitForSelector('[data-key="hist/k"] [data-history]', { timeout: 10_000 });
    // wait for the second version before asking for the history
    await page.waitForFunction(
      '(document.querySelector(\'[data-key="hist/k"]\')?.textContent ?? "").includes("v2")',
      undefined,
      { timeout: 10_000 },
    );
    await page.click('[data-key="hist/k"] [data-history]');
    await page.waitForFunction(
      '(document.getElementById("history")?.textContent ?? "").includes("+ line 2")',
      undefined,
      { timeout: 10_000 },
    );
    const history = (await page.textContent("#history")) ?? "";
    assert.match(history, /^hist\/k\nrev \d+: line one\nline two\nrev \d+: \n- line two\n\+ line 2$/);
  });

  test("lease TTLs count down, and the live event log shows writes as they happen", async () => {
    const ttl = async () =>
      Number(((await page.textContent("#leases tr td:nth-child(2)")) ?? "").replace("s", ""));
    const first = await ttl();
    await new Promise((r) => setTimeout(r, 2500));
    const later = await ttl();
    assert.ok(later < first && later > first - 5, `TTL left went from ${first} to ${later}`);

    await post("/v3/kv/put", { key: b64("logged/key"), value: b64("seen") });
    await page.waitForFunction(
      '[...document.querySelectorAll("#log li")].some((li) => li.textContent.includes("logged/key"))',
      undefined,
      { timeout: 10_000 },
    );
  });

  test("an alarm raised on the member shows, and goes when it is disarmed", async () => {
    const memberID = (await post("/v3/maintenance/status", {})) as { header: { member_id: string } };
    const alarm = (action: string) =>
      post("/v3/maintenance/alarm", { action, memberID: memberID.header.member_id, alarm: "NOSPACE" });
    await alarm("ACTIVATE");
    await page.waitForSelector("#alarms .alarm", { timeout: 10_000 });
    assert.match((await page.textContent("#alarms")) ?? "", /alarm NOSPACE on [0-9a-f]+/);
    await alarm("DEACTIVATE");
    await page.waitForFunction('document.querySelectorAll("#alarms .alarm").length === 0', undefined, {
      timeout: 10_000,
    });
  });

  test("on a phone's screen the panels stack and nothing runs off the side", async () => {
    const phone = await browser.context.newPage();
    try {
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(`${m.url}/dashboard`);
      await phone.waitForSelector('tr.leader[data-member="feed"]', { timeout: 15_000 });
      const layout = (await phone.evaluate(`(() => {
        const boxes = [...document.querySelectorAll("main > section")].map((s) => s.getBoundingClientRect());
        return {
          pageWidth: document.documentElement.scrollWidth,
          lefts: [...new Set(boxes.map((b) => Math.round(b.left)))],
          widest: Math.max(...boxes.map((b) => b.right)),
        };
      })()`)) as { pageWidth: number; lefts: number[]; widest: number };
      assert.ok(layout.pageWidth <= 390, `the page is ${layout.pageWidth} px wide on a 390 px screen`);
      assert.equal(layout.lefts.length, 1, `one column of panels: ${JSON.stringify(layout)}`);
      assert.ok(layout.widest <= 390, JSON.stringify(layout));
      await phone.screenshot({ path: artifactPath("dashboard-phone.png"), fullPage: true });
    } finally {
      await phone.close();
    }
  });

  test("export downloads the keys under the prefix; import puts a file's keys", async () => {
    await page.fill("#prefix", "cfg/");
    await page.click("#watch-form button");
    const download = page.waitForEvent("download", { timeout: 10_000 });
    await page.click("#export");
    const file = await (await download).path();
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), [
      { key: "cfg/app.yaml", value: "name: web\nreplicas: 3\n" },
      { key: "cfg/flags", value: '{"dark":true}' },
    ]);

    const keys = Array.from({ length: 200 }, (_, i) => ({ key: `imported/${i}`, value: `v${i}` }));
    await page.setInputFiles("#import", {
      name: "keys.json",
      mimeType: "application/json",
      buffer: Buffer.from(JSON.stringify(keys)),
    });
    await page.waitForFunction(
      'document.getElementById("transfer-status")?.textContent === "imported 200 keys"',
      undefined,
      { timeout: 15_000 },
    );
    assert.equal(await value("imported/0"), "v0");
    assert.equal(await value("imported/199"), "v199");

    await page.setInputFiles("#import", {
      name: "bad.json",
      mimeType: "application/json",
      buffer: Buffer.from('{"not":"a list"}'),
    });
    await page.waitForFunction(
      '(document.getElementById("transfer-status")?.textContent ?? "").startsWith("import: expected a list")',
      undefined,
      { timeout: 10_000 },
    );
  });
});
