// The operator demos and the embedded-in-tests demo, run as a newcomer runs them (with --once), their output checked.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const root = new URL("..", import.meta.url).pathname;
const demo = (file: string, ...args: string[]) =>
  run(process.execPath, ["--import", "tsx", file, ...args], { cwd: root, timeout: 120_000 });

test("demos/audit-operator writes every applied change to its audit log, in log order", async () => {
  const { stdout } = await demo("demos/audit-operator/main.ts", "--once");
  const lines = stdout
    .slice(stdout.indexOf("audit log:\n"))
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { index: number; kind: string; key?: string; value?: string });
  assert.deepEqual(
    lines.map((l) => [l.kind, l.key ?? "", l.value ?? ""]),
    [
      ["put", "config/color", "blue"],
      ["put", "config/color", "green"],
      ["deleteRange", "config/color", ""],
      ["txn", "", ""],
      ["leaseGrant", "", ""],
      ["put", "sessions/a", "alive"],
      ["leaseRevoke", "", ""],
    ],
    stdout,
  );
  const indexes = lines.map((l) => l.index);
  assert.deepEqual(
    indexes,
    [...indexes].sort((a, b) => a - b),
    "in log order",
  );
  assert.equal(new Set(indexes).size, indexes.length, "each entry once");
});

test("demos/rate-limit-operator refuses the writes above its rate with etcd's too many requests", async () => {
  const { stdout } = await demo("demos/rate-limit-operator/main.ts", "--once", "--rate", "10");
  const m = stdout.match(/burst of 100 puts: (\d+) accepted, (\d+) refused/);
  assert.ok(m, stdout);
  const [accepted, refused] = [Number(m[1]), Number(m[2])];
  assert.equal(accepted + refused, 100);
  assert.ok(accepted >= 10 && refused > 0, stdout);
  assert.match(stdout, /refused with: gRPC code 8: etcdserver: too many requests\n/);
  assert.match(
    stdout,
    new RegExp(`keys under burst/ in the store: ${accepted}\\n`),
    "refused writes never reached the store",
  );
  assert.match(stdout, /a second later: put after-a-second -> accepted/);
  assert.match(stdout, /10 etcdctl puts at once/);
});

test("demos/redact-feed-operator hides secret/ values from the feed, not from the store", async () => {
  const { stdout } = await demo("demos/redact-feed-operator/main.ts", "--once");
  assert.match(stdout, /secret\/api-token = \[redacted\]/);
  assert.match(stdout, /public\/motd = welcome/);
  assert.match(stdout, /put secret\/db-password = \[redacted\] rev \d+ version 1\n/);
  assert.match(
    stdout,
    /put secret\/db-password = \[redacted\] rev \d+ version 2 \(previous value \[redacted\]\)/,
  );
  assert.match(stdout, /put public\/greeting = hello/);
  assert.doesNotMatch(stdout.slice(0, stdout.indexOf("etcdctl get")), /hunter2|correct horse|tok-3f9a27/);
  assert.match(stdout, /etcdctl get secret\/db-password -> correct horse battery staple/);
});

test("demos/embedded-in-tests: its node:test file passes against an embedded member", async () => {
  const { stdout } = await run(
    process.execPath,
    ["--import", "tsx", "--test", "--test-reporter=tap", "demos/embedded-in-tests/kv.test.ts"],
    // without the runner's own marker, which would make the child report to this runner instead of stdout
    { cwd: root, timeout: 120_000, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
  );
  assert.match(stdout, /# pass 4\n/, stdout);
  assert.match(stdout, /# fail 0\n/);
  assert.match(stdout, /embedded member [0-9a-f]+ on http:\/\/127\.0\.0\.1:\d+/);
});
