// `import "rxetcd"` does not load socket.io's client: a program that embeds a member and never opens a feed does not
// pay for it. The first FeedClient loads it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

test("socket.io's client is loaded by the first FeedClient, not by importing the package", () => {
  const probe = fileURLToPath(new URL("./client-load-probe.ts", import.meta.url));
  const r = spawnSync(process.execPath, ["--import", "tsx", probe], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as {
    afterImport: string[];
    afterClient: string[];
  };
  assert.deepEqual(got.afterImport, [], "socket.io-client resolved by importing the package");
  assert.ok(got.afterClient.includes("socket.io-client"), `resolved after a FeedClient: ${got.afterClient}`);
});
