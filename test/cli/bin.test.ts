import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/rxetcd.js", import.meta.url));

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("bin/rxetcd.js as a child process", () => {
  test("--version", { timeout: 20_000 }, () => {
    const r = run(["--version"]);
    assert.equal(r.code, 0);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^rxetcd Version: \d+\.\d+\.\d+/);
    assert.equal(lines[1], "etcd Version: 3.4.23");
    assert.equal(lines[2], "API Version: 3.4");
    assert.equal(lines[3], `Node Version: ${process.version}`);
    assert.equal(lines[4], `Node OS/Arch: ${process.platform}/${process.arch}`);
    assert.equal(r.stderr, "");
  });
  test("--help and -h", { timeout: 20_000 }, () => {
    for (const flag of ["--help", "-h"]) {
      const r = run([flag]);
      assert.equal(r.code, 0);
      for (const group of [
        "Member:",
        "Clustering:",
        "Security:",
        "Auth:",
        "Logging:",
        "Experimental feature:",
      ]) {
        assert.ok(r.stdout.includes(`\n${group}\n`), `${flag} ${group}`);
      }
    }
  });
  test("an unknown flag: exit 2, one line", { timeout: 20_000 }, () => {
    const r = run(["--listen-client-url=http://127.0.0.1:2379"]);
    assert.equal(r.code, 2);
    assert.equal(
      r.stderr,
      "rxetcd: flag provided but not defined: -listen-client-url. See 'rxetcd --help'.\n",
    );
    assert.equal(r.stdout, "");
  });
  test("an invalid value: exit 1, one line naming the flag", { timeout: 20_000 }, () => {
    const r = run(["--election-timeout=60000"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "rxetcd: error verifying flags, --election-timeout[60000ms] is too long, and should be set less than 50000ms. See 'rxetcd --help'.\n",
    );
  });
  test("an environment variable shadowed by a flag: exit 1", { timeout: 20_000 }, () => {
    const r = run(["--name=a"], { ETCD_NAME: "b" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /conflicting environment variable "ETCD_NAME"/);
  });
});
