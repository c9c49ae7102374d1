// A member with some live load, and its dashboard.
// Run: npx tsx demos/dashboard/main.ts   then open the printed URL (what to look at: the puts/s chart,
// the keys under jobs/ changing, the lease TTLs counting down, the live event log).
// With --screenshot FILE it takes a picture of the page with Debian's chromium after a few seconds and exits.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { buildConfig, parseUrlList } from "../../src/config/index.js";
import { startEtcd } from "../../src/embed/index.js";

const screenshot =
  process.argv.indexOf("--screenshot") > 0
    ? process.argv[process.argv.indexOf("--screenshot") + 1]
    : undefined;
const dataDir = mkdtempSync(join(tmpdir(), "rxetcd-dashboard-demo-"));
const client = process.env.CLIENT_URL ?? "http://127.0.0.1:2379";
const peer = process.env.PEER_URL ?? "http://127.0.0.1:2380";
const config = buildConfig({
  name: "demo",
  dataDir,
  listenClientUrls: parseUrlList(client),
  advertiseClientUrls: parseUrlList(client),
  listenPeerUrls: parseUrlList(peer),
  initialAdvertisePeerUrls: parseUrlList(peer),
  initialCluster: `demo=${peer}`,
});
const etcd = await startEtcd(config, { logger: pino({ level: "warn" }) });
const api = etcd.server.api;
const url = `${etcd.clientUrls[0].origin}/dashboard`;
console.log(`dashboard: ${url}`);

const put = (key: string, value: string, lease = 0n) =>
  api.put({
    key: Buffer.from(key),
    value: Buffer.from(value),
    lease,
    prevKv: false,
    ignoreValue: false,
    ignoreLease: false,
  });
const { ID: session } = await api.leaseGrant({ ID: 0n, TTL: 30 });
await put("services/web/1", JSON.stringify({ host: "10.0.0.1", port: 8080 }), session);
await put("config/feature-flags", JSON.stringify({ darkMode: true, beta: ["search"] }));
await api.leaseGrant({ ID: 0n, TTL: 120 });

// live load: a few hundred puts a second over a handful of job keys, a keep-alive now and then
let n = 0;
let stopped = false;
const load = (async () => {
  while (!stopped) {
    await put(`jobs/${n % 8}`, JSON.stringify({ state: ["queued", "running", "done"][n % 3], attempt: n }));
    n++;
    if (n % 50 === 0) await new Promise((r) => setTimeout(r, 20));
    if (n % 2000 === 0) await api.leaseKeepAlive(session).catch(() => {});
  }
})();

const shutdown = async () => {
  stopped = true;
  await load;
  await etcd.close();
  rmSync(dataDir, { recursive: true, force: true });
};
process.on("SIGINT", () => void shutdown().then(() => process.exit(0)));

if (screenshot) {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "rxetcd-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1400, height: 1000 },
  });
  const page = await browser.newPage();
  await page.goto(url);
  await new Promise((r) => setTimeout(r, 8000));
  await page.screenshot({ path: screenshot, fullPage: true });
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  await shutdown();
  console.log(`screenshot: ${screenshot}`);
}
