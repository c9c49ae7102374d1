import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DataDirError, identifyDataDir } from "../../src/cli/data-dir.js";

const root = mkdtempSync(join(tmpdir(), "rxetcd-datadir-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function dir(...entries: string[]): string {
  const d = join(root, `d${n++}`);
  mkdirSync(d);
  for (const e of entries) {
    if (e.endsWith("/")) mkdirSync(join(d, e));
    else writeFileSync(join(d, e), "x");
  }
  return d;
}

describe("data dir identification", () => {
  test("a missing directory is empty", () => {
    assert.deepEqual(identifyDataDir(join(root, "does-not-exist")), { type: "empty", warnings: [] });
  });
  test("an existing empty directory is empty", () => {
    assert.deepEqual(identifyDataDir(dir()), { type: "empty", warnings: [] });
  });
  test("a member directory makes a member", () => {
    assert.equal(identifyDataDir(dir("member/")).type, "member");
  });
  test("a proxy directory makes a proxy", () => {
    assert.equal(identifyDataDir(dir("proxy/")).type, "proxy");
  });
  test("other entries are warned about, one line each, and do not change the type", () => {
    const d = dir("member/", "lost+found/", "notes.txt");
    const id = identifyDataDir(d);
    assert.equal(id.type, "member");
    assert.deepEqual(id.warnings, [
      `found invalid file/dir lost+found under data dir ${d} (Ignore this if you are upgrading etcd)`,
      `found invalid file/dir notes.txt under data dir ${d} (Ignore this if you are upgrading etcd)`,
    ]);
    assert.equal(identifyDataDir(dir("junk")).type, "empty");
  });
  test("member and proxy together are refused", () => {
    assert.throws(
      () => identifyDataDir(dir("member/", "proxy/")),
      (err: unknown) =>
        err instanceof DataDirError &&
        err.message === "invalid datadir. Both member and proxy directories exist.",
    );
  });
  test("a data dir that is a file cannot be listed", () => {
    const f = join(root, "plain-file");
    writeFileSync(f, "x");
    assert.throws(
      () => identifyDataDir(f),
      (err: unknown) => err instanceof DataDirError && err.message.startsWith(`error listing data dir: ${f}`),
    );
  });
});
