import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { notifySystemdReady } from "../../src/cli/systemd.js";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-systemd-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function recorder() {
  const lines: string[] = [];
  return {
    lines,
    logger: {
      warn: (_o: object, m: string) => lines.push(`warn ${m}`),
      info: (_o: object, m: string) => lines.push(`info ${m}`),
    },
  };
}

describe("systemd readiness", () => {
  test("without NOTIFY_SOCKET nothing is run", { timeout: 20_000 }, async () => {
    const r = recorder();
    assert.equal(await notifySystemdReady({ env: {}, logger: r.logger, command: "/nonexistent" }), "skipped");
    assert.equal(await notifySystemdReady({ env: { NOTIFY_SOCKET: "" }, logger: r.logger }), "skipped");
    assert.deepEqual(r.lines, []);
  });
  test("with NOTIFY_SOCKET, systemd-notify --ready is run with the socket in its environment", {
    timeout: 20_000,
  }, async () => {
    const out = join(dir, "called.txt");
    const fake = join(dir, "fake-notify.sh");
    writeFileSync(fake, `#!/bin/sh\necho "$@ socket=$NOTIFY_SOCKET" > ${JSON.stringify(out)}\n`);
    chmodSync(fake, 0o755);
    const r = recorder();
    const outcome = await notifySystemdReady({
      env: { NOTIFY_SOCKET: "/run/test.sock", PATH: process.env.PATH },
      logger: r.logger,
      command: fake,
    });
    assert.equal(outcome, "notified");
    assert.equal(readFileSync(out, "utf8").trim(), `--ready --pid=${process.pid} socket=/run/test.sock`);
  });
  test("a missing or failing notifier is a warning, not an error", { timeout: 20_000 }, async () => {
    const r = recorder();
    const missing = await notifySystemdReady({
      env: { NOTIFY_SOCKET: "/run/x.sock" },
      logger: r.logger,
      command: join(dir, "no-such-program"),
    });
    assert.equal(missing, "failed");
    const failing = join(dir, "failing.sh");
    writeFileSync(failing, "#!/bin/sh\nexit 3\n");
    chmodSync(failing, 0o755);
    assert.equal(
      await notifySystemdReady({ env: { NOTIFY_SOCKET: "/x" }, logger: r.logger, command: failing }),
      "failed",
    );
    assert.equal(r.lines.filter((l) => l.startsWith("warn failed to notify systemd")).length, 2);
  });
});
