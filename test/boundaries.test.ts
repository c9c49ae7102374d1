// The module boundaries of the design, checked on the sources: src/raft is pure and imports only
// itself and the generated raft protobufs; streams/ imports nothing of src/ but types.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const root = new URL("..", import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function imports(file: string): Array<{ spec: string; typeOnly: boolean }> {
  const text = readFileSync(file, "utf8");
  const out: Array<{ spec: string; typeOnly: boolean }> = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)"/gms)) {
    out.push({ spec: m[3], typeOnly: m[2] !== undefined });
  }
  for (const m of text.matchAll(/import\(\s*"([^"]+)"\s*\)/g)) out.push({ spec: m[1], typeOnly: false });
  return out;
}

test("src/raft imports nothing but itself and the generated raft protobufs, and uses no clock, randomness or I/O", () => {
  const raftDir = join(root, "src/raft");
  const allowed = [raftDir, join(root, "src/gen/raftpb")];
  const bad: string[] = [];
  for (const f of files(raftDir)) {
    for (const { spec } of imports(f)) {
      const target = spec.startsWith(".") ? resolve(dirname(f), spec) : spec;
      if (!allowed.some((a) => target.startsWith(a))) bad.push(`${relative(root, f)} imports ${spec}`);
    }
    const text = readFileSync(f, "utf8");
    for (const word of ["Date.now", "Math.random", "setTimeout", "setInterval", "process."]) {
      if (text.includes(word)) bad.push(`${relative(root, f)} uses ${word}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("streams/ imports nothing of src/ but types", () => {
  const bad: string[] = [];
  for (const f of files(join(root, "streams"))) {
    for (const { spec, typeOnly } of imports(f)) {
      const target = spec.startsWith(".") ? resolve(dirname(f), spec) : spec;
      if (target.startsWith(join(root, "src")) && !typeOnly) bad.push(`${relative(root, f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("the checker sees a forbidden import (it can fail)", () => {
  const found = imports(join(root, "test/boundaries.test.ts")).map((i) => i.spec);
  assert.ok(found.includes("node:fs"));
});

test("src/bbolt is a pure codec: it imports only itself and Node's built-ins", () => {
  const dir = join(root, "src/bbolt");
  const bad: string[] = [];
  for (const f of files(dir)) {
    for (const { spec } of imports(f)) {
      const target = spec.startsWith(".") ? resolve(dirname(f), spec) : spec;
      if (!target.startsWith(dir) && !spec.startsWith("node:"))
        bad.push(`${relative(root, f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});

test("src/etcddir reads etcd's files below the server: it imports no server, API, embed, CLI or feed code", () => {
  const upper = ["server", "api", "embed", "cli", "feed", "operators", "transport"].map((d) =>
    join(root, "src", d),
  );
  const bad: string[] = [];
  for (const f of files(join(root, "src/etcddir"))) {
    for (const { spec } of imports(f)) {
      const target = spec.startsWith(".") ? resolve(dirname(f), spec) : spec;
      if (upper.some((u) => target.startsWith(u))) bad.push(`${relative(root, f)} imports ${spec}`);
    }
  }
  assert.deepEqual(bad, []);
});
