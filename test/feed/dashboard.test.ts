// The dashboard in a real browser: Debian's chromium driven by playwright-core.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { bundleDashboard } from "../../src/feed/dashboard/build.js";
import { etcdctlPath } from "../e2e/harness.js";
import { artifactPath, type Browser, launchChromium } from "./browser.js";
import { enableAuthWithAppReader, startMember, type TestMember } from "./harness.js";

const run = promisify(execFile);

test("the committed dashboard bundle is built from the current sources (npm run build:dashboard)", async () => {
  const committed = readFileSync(
    new URL("../../src/feed/dashboard/assets/dashboard.js", import.meta.url),
    "utf8",
  );
  assert.ok(
    (await bundleDashboard()) === committed,
    "src/feed/dashboard/assets/dashboard.js is stale: run npm run build:dashboard",
  );
});

describe("the dashboard in chromium", { timeout: 180_000 }, () => {
  let m: TestMember;
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
    m = await startMember();
  });
  after(async () => {
    await browser?.close();
    await m?.close();
  });

  test("the page loads, shows the member as leader and an etcdctl put within a second", async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${m.url}/dashboard`);
    await page.waitForSelector('tr.leader[data-member="feed"]', { timeout: 15_000 });
    assert.equal(await page.textContent("#status"), "live");
    await run(etcdctlPath(), [`--endpoints=${m.url}`, "put", "dash/key", '{"hello":"browser"}'], {
      env: { ...process.env, ETCDCTL_API: "3" },
    });
    const started = Date.now();
    await page.waitForSelector('[data-key="dash/key"]', { timeout: 5_000 });
    const tookMs = Date.now() - started;
    console.log(`put shown ${tookMs} ms after etcdctl returned`);
    assert.ok(tookMs < 1000, `the put took ${tookMs} ms to show`);
    assert.match((await page.textContent('[data-key="dash/key"]')) ?? "", /"hello": "browser"/);
    // the metrics charts fill in (one sample a second)
    await page.waitForFunction(
      '(document.getElementById("sizes")?.textContent ?? "").includes("revision")',
      undefined,
      {
        timeout: 10_000,
      },
    );
    await page.screenshot({ path: artifactPath("dashboard.png"), fullPage: true });
    if (process.env.DASHBOARD_SCREENSHOT)
      await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });
    assert.deepEqual(errors, []);
  });
});

describe("the dashboard with auth on, in chromium", { timeout: 180_000 }, () => {
  let m: TestMember;
  let browser: Browser;
  const ctl = (...args: string[]) =>
    run(etcdctlPath(), [`--endpoints=${m.url}`, ...args], { env: { ...process.env, ETCDCTL_API: "3" } });
  before(async () => {
    browser = await launchChromium();
    m = await startMember();
    await ctl("put", "app/visible", "to alice");
    await ctl("put", "other/hidden", "from alice");
    await enableAuthWithAppReader(ctl);
  });
  after(async () => {
    await browser?.close();
    await m?.close();
  });

  test("the page asks for a user; logged in as alice it shows only the keys alice may read", async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${m.url}/dashboard`);
    await page.waitForSelector("#login:not([hidden])", { timeout: 15_000 });
    assert.match((await page.textContent("#status")) ?? "", /user name is empty/);
    await page.fill("#login-user", "alice");
    await page.fill("#login-password", "alicepw");
    await page.click("#login button");
    await page.waitForSelector('[data-key="app/visible"]', { timeout: 15_000 });
    assert.equal(await page.textContent("#status"), "live");
    assert.equal(await page.$('[data-key="other/hidden"]'), null, "a key alice may not read");
    // the hidden key first: had it reached the page, it would be there by the time the visible one is
    await ctl("--user", "root:rootpw", "put", "other/later", "not for alice");
    await ctl("--user", "root:rootpw", "put", "app/later", "live");
    await page.waitForSelector('[data-key="app/later"]', { timeout: 5_000 });
    assert.equal(await page.$('[data-key="other/later"]'), null);
    await page.screenshot({ path: artifactPath("dashboard-auth.png"), fullPage: true });
    assert.deepEqual(errors, []);
  });
});
