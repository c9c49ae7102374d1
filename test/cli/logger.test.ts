import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createLogger, pinoLevel } from "../../src/cli/logger.js";
import { LOG_LEVELS } from "../../src/config/codec.js";

const root = mkdtempSync(join(tmpdir(), "rxetcd-logger-"));
after(() => rmSync(root, { recursive: true, force: true }));

function lines(path: string): Array<Record<string, unknown>> {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("server logger", () => {
  test("etcd's levels map onto pino's", () => {
    assert.deepEqual(
      LOG_LEVELS.map((l) => pinoLevel(l)),
      ["debug", "info", "warn", "error", "fatal", "fatal", "fatal"],
    );
  });
  test("a file output receives JSON lines at and above the level", () => {
    const path = join(root, "a.log");
    const { logger } = createLogger({ name: "n1", logLevel: "warn", logOutputs: [path], debug: false });
    logger.info("hidden");
    logger.warn({ key: "v" }, "shown");
    logger.error("also shown");
    const got = lines(path);
    assert.deepEqual(
      got.map((l) => l.msg),
      ["shown", "also shown"],
    );
    assert.equal(got[0].name, "n1");
    assert.equal(got[0].key, "v");
  });
  test("several outputs each receive every line; files are appended to", () => {
    const a = join(root, "m1.log");
    const b = join(root, "m2.log");
    for (let i = 0; i < 2; i++) {
      const { logger } = createLogger({ name: "n", logLevel: "info", logOutputs: [a, b], debug: false });
      logger.info(`line ${i}`);
    }
    assert.deepEqual(
      lines(a).map((l) => l.msg),
      ["line 0", "line 1"],
    );
    assert.deepEqual(
      lines(b).map((l) => l.msg),
      ["line 0", "line 1"],
    );
  });
  test("--debug lowers the level to debug", () => {
    const path = join(root, "d.log");
    const { logger } = createLogger({ name: "n", logLevel: "error", logOutputs: [path], debug: true });
    logger.debug("dbg");
    assert.deepEqual(
      lines(path).map((l) => l.msg),
      ["dbg"],
    );
  });
  test("journald output falls back to stderr with a warning", () => {
    const { warnings, logger } = createLogger({
      name: "n",
      logLevel: "fatal",
      logOutputs: ["systemd/journal"],
      debug: false,
    });
    assert.equal(logger.level, "fatal");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /systemd\/journal/);
  });
  test("an output in a missing directory fails when the logger is made", () => {
    assert.throws(() =>
      createLogger({
        name: "n",
        logLevel: "info",
        logOutputs: [join(root, "no", "such", "x.log")],
        debug: false,
      }),
    );
  });
});
