import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;

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
  const base = 30000 + 2 * Math.floor(Math.random() * 10000);
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
