// The checks of a first start (etcd's VerifyBootstrap) side by side with Debian's etcd: the same flags
// are refused by both, with the same words, and neither serves.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort } from "../e2e/harness.js";

const bin = fileURLToPath(new URL("../../bin/rxetcd.js", import.meta.url));
const ETCD = "/usr/bin/etcd";
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The one-line reason a start was refused, and its exit status. */
function refusal(
  command: string[],
  dataDir: string,
  flags: string[],
): { code: number | null; reason: string } {
  const [exe, ...pre] = command;
  const r = spawnSync(exe, [...pre, "--data-dir", dataDir, ...flags], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "" },
    timeout: 30_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  // etcd: "... C | etcdmain: <reason>"; rxetcd: "rxetcd: <reason>"
  const line = out.split("\n").find((l) => / C \| etcdmain: /.test(l) || l.startsWith("rxetcd: ")) ?? out;
  return { code: r.status, reason: line.replace(/^.* C \| etcdmain: /, "").replace(/^rxetcd: /, "") };
}

describe("a first start with an incoherent --initial-cluster, beside etcd", { timeout: 120_000 }, () => {
  test("etcd is installed (the comparison needs it)", () => {
    assert.ok(existsSync(ETCD), `${ETCD} is missing: install Debian's etcd-server (.ci/run does)`);
  });

  /** What differs between the cases: --initial-cluster, from this member's peer URL. */
  const cases: Array<[string, (peer: string) => string]> = [
    ["the advertised peer URL is not this member's --initial-cluster entry", () => "n1=http://127.0.0.1:1"],
    ["this member's name is not in --initial-cluster", (peer) => `n2=${peer}`],
    ["two members share a peer URL", (peer) => `n1=${peer},n2=${peer}`],
  ];
  const flagsOf = (peer: string, client: string, cluster: (peer: string) => string) => [
    "--name=n1",
    `--listen-peer-urls=${peer}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${cluster(peer)}`,
  ];
  for (const [name, cluster] of cases) {
    test(name, async () => {
      const peer = `http://127.0.0.1:${await freePort()}`;
      const client = `http://127.0.0.1:${await freePort()}`;
      const flags = flagsOf(peer, client, cluster);
      const dir = mkdtempSync(join(tmpdir(), "rxetcd-first-start-"));
      dirs.push(dir);
      const etcd = refusal([ETCD], join(dir, "etcd"), flags);
      const ours = refusal([process.execPath, bin], join(dir, "rxetcd"), flags);
      assert.notEqual(etcd.code, 0, `etcd started: ${etcd.reason}`);
      assert.equal(ours.code, 1);
      assert.equal(ours.reason, etcd.reason);
    });
  }
});
