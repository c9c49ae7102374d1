import assert from "node:assert/strict";
import { test } from "node:test";
import { readable } from "../../src/feed/dashboard/readable.js";

test("JSON values are indented and marked json; broken JSON is shown as it is", () => {
  assert.deepEqual(readable('{"a":1,"b":[true]}'), {
    text: '{\n "a": 1,\n "b": [\n  true\n ]\n}',
    format: "json",
  });
  assert.deepEqual(readable("[1,2"), { text: "[1,2", format: undefined });
});

test("YAML documents are shown on their own lines and marked yaml", () => {
  assert.deepEqual(readable("name: web\nreplicas: 3\nports:\n  - 80\n  - 443\n"), {
    text: "\nname: web\nreplicas: 3\nports:\n  - 80\n  - 443",
    format: "yaml",
  });
  assert.deepEqual(readable("---\nkey: value"), { text: "\nkey: value", format: "yaml" });
  assert.equal(readable("# a comment\nretries: 5\ntimeout: 30s").format, "yaml");
});

test("plain text stays as it is: one line, or lines that are not YAML", () => {
  assert.deepEqual(readable("hello"), { text: "hello", format: undefined });
  assert.deepEqual(readable("a: b"), { text: "a: b", format: undefined });
  assert.equal(readable("first line\nsecond line").format, undefined);
  assert.equal(readable("http://x:1\nplain").format, undefined);
});
