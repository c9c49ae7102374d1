import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { handleShutdownSignals, type ShutdownLogger, signalExitCode } from "../../src/cli/signals.js";

const silent: ShutdownLogger = { info() {}, warn() {}, error() {} };

function fakeProcess() {
  const emitter = new EventEmitter();
  return {
    emitter,
    target: emitter as unknown as Pick<NodeJS.Process, "on" | "off">,
  };
}

describe("shutdown on signals", () => {
  test("the first signal closes the server, then exits 0", { timeout: 20_000 }, async () => {
    const { emitter, target } = fakeProcess();
    const events: string[] = [];
    const exited = new Promise<number>((resolve) => {
      handleShutdownSignals({
        close: async () => {
          events.push("close");
        },
        logger: silent,
        exit: resolve,
        target,
      });
    });
    emitter.emit("SIGTERM", "SIGTERM");
    assert.equal(await exited, 0);
    assert.deepEqual(events, ["close"]);
  });
  test("a second signal while closing exits at once with 128+signal", { timeout: 20_000 }, async () => {
    const { emitter, target } = fakeProcess();
    const codes: number[] = [];
    let closes = 0;
    handleShutdownSignals({
      close: () => {
        closes++;
        return new Promise<void>(() => {}); // never finishes
      },
      logger: silent,
      exit: (c) => codes.push(c),
      target,
    });
    emitter.emit("SIGINT", "SIGINT");
    await new Promise((r) => setImmediate(r));
    emitter.emit("SIGINT", "SIGINT");
    assert.deepEqual(codes, [130]);
    assert.equal(closes, 1);
  });
  test("a failing close exits 1", { timeout: 20_000 }, async () => {
    const { emitter, target } = fakeProcess();
    const exited = new Promise<number>((resolve) => {
      handleShutdownSignals({
        close: () => {
          throw new Error("boom");
        },
        logger: silent,
        exit: resolve,
        target,
      });
    });
    emitter.emit("SIGINT", "SIGINT");
    assert.equal(await exited, 1);
  });
  test("the returned function removes the handlers", { timeout: 20_000 }, () => {
    const { emitter, target } = fakeProcess();
    const remove = handleShutdownSignals({ close: () => {}, logger: silent, exit: () => {}, target });
    assert.equal(emitter.listenerCount("SIGTERM"), 1);
    remove();
    assert.equal(emitter.listenerCount("SIGTERM"), 0);
    assert.equal(emitter.listenerCount("SIGINT"), 0);
  });
  test("signal exit codes", { timeout: 20_000 }, () => {
    assert.equal(signalExitCode("SIGINT"), 130);
    assert.equal(signalExitCode("SIGTERM"), 143);
  });
});

describe("shutdown in a real process", () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-signals-"));
  const children: Array<ReturnType<typeof spawn>> = [];
  after(() => {
    // A child left running by a failed test must not keep this file's process alive.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  const signalsModule = fileURLToPath(new URL("../../src/cli/signals.ts", import.meta.url));

  function start(closeMs: number) {
    const script = join(dir, `child-${closeMs}.ts`);
    writeFileSync(
      script,
      `import { handleShutdownSignals } from ${JSON.stringify(signalsModule)};
const log = { info() {}, warn() {}, error() {} };
setInterval(() => {}, 1000);
handleShutdownSignals({
  close: () => new Promise((r) => setTimeout(() => { console.log("closed"); r(undefined); }, ${closeMs})),
  logger: log,
});
console.log("ready");
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const ready = new Promise<void>((resolve) => {
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("ready")) resolve();
      });
    });
    const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, ready, exit, output: () => out };
  }

  test("SIGTERM closes gracefully and exits 0", { timeout: 20_000 }, async () => {
    const p = start(50);
    await p.ready;
    p.child.kill("SIGTERM");
    assert.equal(await p.exit, 0);
    assert.match(p.output(), /closed/);
  });
  test("a second SIGINT forces exit with 130", { timeout: 20_000 }, async () => {
    const p = start(60_000);
    await p.ready;
    p.child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 100));
    p.child.kill("SIGINT");
    assert.equal(await p.exit, 130);
    assert.doesNotMatch(p.output(), /closed/);
  });
});
