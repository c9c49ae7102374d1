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
