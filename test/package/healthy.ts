// Both package tests start the built `rxetcd` with the same flags and wait for it the same way.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";

/** Polls `<clientUrl>/health` until it answers OK; fails when the process exits or after 60 s. */
export async function waitHealthy(
  member: ChildProcess,
  clientUrl: string,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    assert.equal(member.exitCode, null, `the member exited:\n${stderr()}`);
    const ok = await fetch(`${clientUrl}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    assert.ok(Date.now() < deadline, `no healthy member within 60 s:\n${stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The flags of a one-member cluster on the given URLs, logging errors only. */
export function memberFlags(dataDir: string, clientUrl: string, peerUrl: string): string[] {
  return [
    ["--data-dir", dataDir],
    ["--listen-client-urls", clientUrl],
    ["--advertise-client-urls", clientUrl],
    ["--listen-peer-urls", peerUrl],
    ["--initial-advertise-peer-urls", peerUrl],
    ["--initial-cluster", `default=${peerUrl}`],
    ["--log-level", "error"],
  ].flat();
}
