import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

/** True when nothing listens on 127.0.0.1:`port` (a listen there succeeds). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

/**
 * A base port whose `count` consecutive ports are free, below the kernel's ephemeral range (32768 and up on
 * Linux): ports from that range are handed out to other tests' listeners and outgoing connections at any moment.
 */
async function freeBasePort(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + 2 * Math.floor(Math.random() * 6000);
    let free = true;
    for (let p = base; p < base + count && free; p++) free = await portIsFree(p);
    if (free) return base;
  }
  throw new Error("no six consecutive free ports found between 20000 and 32000");
}

test("demos/embed.ts runs an embedded member end to end", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "demos/embed.ts"], {
    cwd: root,
    timeout: 60_000,
  });
  assert.match(stdout, /get greeting -> hello from an embedded rxetcd/);
  assert.match(stdout, /watch saw -> jobs\/1 = queued/);
  assert.match(stdout, /leased key -> alive/);
  assert.match(stdout, /after revoke -> null/);
});

test("demos/three-member-cluster.ts starts three members that elect a leader and serve a write", async () => {
  // six consecutive ports from a random base: clients on base, base+2, base+4; peers one above each
  const base = await freeBasePort(6);
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "demos/three-member-cluster.ts", "--once", "--base-port", String(base)],
    { cwd: root, timeout: 120_000 },
  );
  assert.match(stdout, /get greeting -> hello from three members/);
  for (const i of [1, 2, 3]) {
    const port = base + 2 * (i - 1);
    assert.match(stdout, new RegExp(`infra${i}\\s+http://127\\.0\\.0\\.1:${port}/dashboard`));
    assert.match(stdout, new RegExp(`dashboard of infra${i}: HTTP 200 text/html`));
  }
  assert.equal(stdout.match(/, started, infra\d,/g)?.length, 3, stdout);
  assert.equal(
    stdout.match(/\|\s+true\s+\|\s+false\s+\|/g)?.length,
    1,
    "one member reports itself as leader",
  );
});

test("demos/dashboard runs a member with live load and its page, which chromium renders live", async () => {
  const { freePort } = await import("./e2e/harness.js");
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-dashboard-demo-test-"));
  const shot = join(dir, "dashboard.png");
  const [client, peer] = [await freePort(), await freePort()];
  try {
    const { stdout } = await run(
      process.execPath,
      ["--import", "tsx", "demos/dashboard/main.ts", "--screenshot", shot],
      {
        cwd: root,
        timeout: 120_000,
        env: {
          ...process.env,
          CLIENT_URL: `http://127.0.0.1:${client}`,
          PEER_URL: `http://127.0.0.1:${peer}`,
        },
      },
    );
    assert.match(stdout, new RegExp(`dashboard: http://127\\.0\\.0\\.1:${client}/dashboard\n`));
    assert.match(stdout, /screenshot: .*dashboard\.png/);
    const png = readFileSync(shot);
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG file");
    assert.ok(png.length > 20_000, `a page with content, not a blank one (${png.length} bytes)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
