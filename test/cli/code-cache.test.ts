// The command's server loads through V8's code cache: a cache is written beside the file, used by the
// next load, never used for another file's text (even of the same length), and a cache V8 refuses is
// written again. Each load runs in a process of its own, as a start does (within one process V8 would
// answer a second compile of the same text from its own memory).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

const dir = mkdtempSync(join(tmpdir(), "rxetcd-code-cache-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const loader = fileURLToPath(new URL("../../src/cli/code-cache.ts", import.meta.url));

/** A module body in Node's module function, as the build writes it; `compute()` returns `answer`. */
function moduleText(answer: string): string {
  return [
    '(function (exports, require, module, __filename, __dirname) {"use strict";',
    'const { basename } = require("node:path");',
    `function compute() { return ${JSON.stringify(answer)}; }`,
    "module.exports = { compute, file: basename(__filename), strict: (function () { return this; })() === undefined };",
    "})",
  ].join("\n");
}

interface Loaded {
  cache: string;
  answer: string;
  file: string;
  strict: boolean;
}

/** Loads `file` in a new process (and saves its cache when `save`). */
function load(file: string, save = true): Loaded {
  const script = [
    `import { loadWithCodeCache } from ${JSON.stringify(loader)};`,
    `const l = loadWithCodeCache(${JSON.stringify(file)});`,
    save ? "l.save();" : "",
    "console.log(JSON.stringify({ cache: l.cache, answer: l.exports.compute(), file: l.exports.file, strict: l.exports.strict }));",
  ].join("\n");
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { ...process.env, XDG_CACHE_HOME: join(dir, "user-cache") },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Loaded;
}

const caches = () => readdirSync(dir).filter((f) => f.endsWith(".v8cache"));

describe("loadWithCodeCache", { timeout: 120_000 }, () => {
  const file = join(dir, "server.vm.js");

  test("a first load has no cache; save() writes one that the next load uses", () => {
    writeFileSync(file, moduleText("one"));
    const first = load(file);
    assert.deepEqual(first, { cache: "missing", answer: "one", file: "server.vm.js", strict: true });
    assert.equal(caches().length, 1, "the cache is written beside the file");
    assert.deepEqual(load(file), { cache: "used", answer: "one", file: "server.vm.js", strict: true });
  });

  test("another text of the same length never runs with the first one's cache", () => {
    writeFileSync(file, moduleText("two"));
    const second = load(file);
    assert.equal(second.cache, "missing");
    assert.equal(second.answer, "two");
  });

  test("a cache V8 refuses is reported and written again", () => {
    writeFileSync(file, moduleText("six"));
    load(file);
    // keep the header (the file's hash), spoil what V8 reads
    for (const f of caches()) {
      const data = readFileSync(join(dir, f));
      data.fill(7, 32);
      writeFileSync(join(dir, f), data);
    }
    const refused = load(file);
    assert.equal(refused.cache, "refused");
    assert.equal(refused.answer, "six");
    assert.equal(load(file).cache, "used");
  });

  test("a cache whose header names another hash is not used", () => {
    writeFileSync(file, moduleText("ten"));
    load(file);
    for (const f of caches()) {
      const data = readFileSync(join(dir, f));
      data[0] ^= 0xff;
      writeFileSync(join(dir, f), data);
    }
    const loaded = load(file, false);
    assert.equal(loaded.cache, "missing");
    assert.equal(loaded.answer, "ten");
  });

  test("a text larger than the pieces it is read in, with characters split between pieces, loads intact", () => {
    // the file is read 64 KiB at a time: put multi-byte characters across every boundary
    const answer = "λ€😀".repeat(60_000);
    writeFileSync(file, moduleText(answer));
    assert.ok(readFileSync(file).length > 3 * 65536);
    const first = load(file);
    assert.equal(first.cache, "missing");
    assert.equal(first.answer, answer);
    const second = load(file);
    assert.equal(second.cache, "used", "the hash of the bytes read in pieces names the same cache");
    assert.equal(second.answer, answer);
  });
});
