import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { argVals, DataDrivenParseError, describeDirective, hasArg, parseFile, parseLine } from "./parser.js";
import { checkDataDriven, lineDiff, stripLogLines } from "./runner.js";

test("parseLine splits keys, single values and parenthesised lists", () => {
  assert.deepEqual(parseLine("committed cfg=(1,2,3) cfgj=zero idx=(100, 101,99)"), {
    cmd: "committed",
    args: [
      { key: "cfg", vals: ["1", "2", "3"] },
      { key: "cfgj", vals: ["zero"] },
      { key: "idx", vals: ["100", "101", "99"] },
    ],
  });
  assert.deepEqual(parseLine("propose 1 foo"), {
    cmd: "propose",
    args: [
      { key: "1", vals: [] },
      { key: "foo", vals: [] },
    ],
  });
  assert.deepEqual(parseLine("x a= b=(f(1, 2), g)"), {
    cmd: "x",
    args: [
      { key: "a", vals: [""] },
      { key: "b", vals: ["f(1, 2)", "g"] },
    ],
  });
  assert.deepEqual(parseLine("   "), { cmd: "", args: [] });
  assert.throws(() => parseLine("x a=(1, 2"), DataDrivenParseError);
  assert.throws(() => parseLine("x =1"), /column 3/);
});

test("parseFile reads comments, continuations, inputs, outputs and the double separator", () => {
  const text = [
    "# a comment",
    "",
    "add-nodes 2 \\",
    "  voters=(1, 2) index=3",
    "----",
    "line one",
    "  line two",
    "",
    "propose-conf-change 1 transition=auto",
    "v2 v3",
    "l4",
    "----",
    "ok",
    "",
    "multi",
    "----",
    "----",
    "a",
    "",
    "b",
    "----",
    "----",
    "",
    "last",
    "----",
    "x",
  ].join("\n");
  const cases = parseFile(text, "f.txt");
  assert.equal(cases.length, 4);
  assert.deepEqual(cases[0], {
    pos: "f.txt:3",
    cmd: "add-nodes",
    args: [
      { key: "2", vals: [] },
      { key: "voters", vals: ["1", "2"] },
      { key: "index", vals: ["3"] },
    ],
    directive: "add-nodes 2  voters=(1, 2) index=3",
    input: "",
    expected: "line one\n  line two\n",
  });
  assert.equal(cases[1].pos, "f.txt:9");
  assert.equal(cases[1].input, "v2 v3\nl4");
  assert.equal(cases[1].expected, "ok\n");
  assert.deepEqual(argVals(cases[1], "transition"), ["auto"]);
  assert.ok(hasArg(cases[1], "1"));
  assert.equal(argVals(cases[1], "v1"), undefined);
  assert.equal(cases[2].expected, "a\n\nb\n");
  assert.equal(cases[3].pos, "f.txt:24");
  assert.equal(cases[3].expected, "x\n");
  assert.equal(describeDirective(cases[0]), "add-nodes 2 voters=(1, 2) index=3");
});

test("every shipped etcd file parses into the expected number of blocks", () => {
  const dir = new URL("../raft/testdata/", import.meta.url).pathname;
  const counts: Record<string, number> = {};
  for (const sub of ["quorum", "confchange", "raft"]) {
    let blocks = 0;
    for (const f of readdirSync(join(dir, sub))) {
      const cases = parseFile(readFileSync(join(dir, sub, f), "utf8"), f);
      for (const c of cases) assert.ok(c.expected.length > 0, `${c.pos} has an expected output`);
      blocks += cases.length;
    }
    counts[sub] = blocks;
  }
  // The README of the test data counts 90 directive blocks in raft/.
  assert.equal(counts.raft, 90);
  assert.ok(counts.quorum > 0 && counts.confchange > 0);
});

test("checkDataDriven reports the first mismatch with position, directive and a diff", () => {
  const text = "echo a\n----\na\n\necho b\n----\nb\nc\n\necho z\n----\nz\n";
  const seen: string[] = [];
  const mismatch = checkDataDriven(text, "t.txt", (tc) => {
    seen.push(tc.args[0].key);
    return tc.args[0].key === "b" ? "b\nX" : tc.args[0].key;
  });
  assert.ok(mismatch);
  assert.equal(mismatch.pos, "t.txt:5");
  assert.equal(mismatch.directive, "echo b");
  assert.equal(mismatch.expected, "b\nc\n");
  assert.equal(mismatch.actual, "b\nX\n");
  assert.match(mismatch.message, /t\.txt:5: output mismatch for: echo b/);
  assert.match(mismatch.message, /- c\n\+ X/);
  assert.deepEqual(seen, ["a", "b"], "stops at the first mismatch");
  assert.equal(
    checkDataDriven(text, "t.txt", (tc) => (tc.args[0].key === "b" ? "b\nc" : tc.args[0].key)),
    undefined,
  );
  const thrown = checkDataDriven("boom\n----\nok\n", "t.txt", () => {
    throw new Error("kaput");
  });
  assert.match(thrown?.message ?? "", /handler threw: Error: kaput/);
});

test("stripLogLines drops log lines and reads an empty result as ok", () => {
  assert.equal(stripLogLines("INFO 1 became leader\n  DEBUG x\n"), "ok\n");
  assert.equal(stripLogLines("> 1 handling Ready\n  INFO y\n  Ready\n"), "> 1 handling Ready\n  Ready\n");
  assert.equal(lineDiff("a\nb", "a\nc"), "  a\n- b\n+ c");
});
