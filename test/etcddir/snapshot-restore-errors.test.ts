// `rxetcd snapshot restore` refuses what `etcdctl snapshot restore` refuses, with the same message and
// exit code, and leaves no data dir behind (etcdctl sometimes does; rxetcd checks before writing).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { writeBboltFile } from "../../src/bbolt/index.js";
import { etcdctl, etcdctlPath } from "../e2e/harness.js";

const rxetcdBin = fileURLToPath(new URL("../../bin/rxetcd.js", import.meta.url));

function rxetcd(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [rxetcdBin, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/** A small etcd backend: one put at revision 2 and the meta bucket. */
function writeDb(file: string): void {
  const rev = Buffer.alloc(17);
  rev.writeBigUInt64BE(2n, 0);
  rev[8] = 0x5f;
  // mvccpb.KeyValue{key "k", create 2, mod 2, version 1, value "v"}
  const kv = Buffer.from("0a016b1002180220012a0176", "hex");
  const ci = Buffer.alloc(8);
  ci.writeBigUInt64BE(5n, 0);
  writeBboltFile(file, [
    { name: "key", entries: () => [[rev, kv]] },
    { name: "meta", entries: () => [[Buffer.from("consistent_index"), ci]] },
  ]);
}

describe("rxetcd snapshot restore: bad inputs", { timeout: 180_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), "rxetcd-restore-errors-"));
  const etcdDb = join(work, "data-dir.db");
  const etcdSnapshot = join(work, "saved.snapshot");
  writeDb(etcdDb);
  cpSync(etcdDb, etcdSnapshot);
  appendFileSync(etcdSnapshot, createHash("sha256").update(readFileSync(etcdDb)).digest());
  after(() => rmSync(work, { recursive: true, force: true }));

  test("bad inputs: etcdctl's messages and exit codes, and no data dir left behind", async () => {
    const noTrailer = join(work, "no-trailer.db");
    cpSync(etcdDb, noTrailer);
    const badTrailer = join(work, "bad-trailer.db");
    const bytes = readFileSync(etcdSnapshot);
    bytes[bytes.length - 1] ^= 0xff;
    writeFileSync(badTrailer, bytes);
    const existing = join(work, "existing");
    mkdirSync(existing);
    const cases: Array<{ name: string; args: (dir: string) => string[] }> = [
      { name: "no file", args: () => [] },
      { name: "two files", args: () => [etcdSnapshot, etcdSnapshot] },
      { name: "missing file", args: (d) => [join(work, "nothing.db"), "--data-dir", d] },
      { name: "no hash without --skip-hash-check", args: (d) => [noTrailer, "--data-dir", d] },
      { name: "a hash that does not match", args: (d) => [badTrailer, "--data-dir", d] },
      { name: "an existing data dir", args: () => [etcdSnapshot, "--data-dir", existing] },
      { name: "an existing wal dir", args: (d) => [etcdSnapshot, "--data-dir", d, "--wal-dir", existing] },
      { name: "a name not in the cluster", args: (d) => [etcdSnapshot, "--data-dir", d, "--name", "x"] },
      {
        name: "advertised URLs not the member's",
        args: (d) => [etcdSnapshot, "--data-dir", d, "--initial-cluster", "default=http://127.0.0.1:1"],
      },
      {
        name: "a duplicate URL",
        args: (d) => [
          etcdSnapshot,
          "--data-dir",
          d,
          "--initial-cluster",
          "default=http://127.0.0.1:1,b=http://127.0.0.1:1",
          "--initial-advertise-peer-urls",
          "http://127.0.0.1:1",
        ],
      },
      {
        name: "a bad URL",
        args: (d) => [etcdSnapshot, "--data-dir", d, "--initial-advertise-peer-urls", "foo"],
      },
      { name: "a bad boolean", args: (d) => [etcdSnapshot, "--data-dir", d, "--skip-hash-check=maybe"] },
      { name: "an unknown flag", args: (d) => [etcdSnapshot, "--data-dir", d, "--bogus"] },
    ];
    etcdctlPath();
    const check = async (c: (typeof cases)[number]) => {
      const ourDir = join(work, `ours-${c.name.replaceAll(" ", "-")}`);
      const theirDir = join(work, `theirs-${c.name.replaceAll(" ", "-")}`);
      const [mine, theirs] = await Promise.all([
        rxetcd(["snapshot", "restore", ...c.args(ourDir)]),
        etcdctl(["snapshot", "restore", ...c.args(theirDir)]),
      ]);
      const errorLine = (s: string) => s.split("\n").find((l) => l.startsWith("Error: ")) ?? `(none in ${s})`;
      assert.equal(errorLine(mine.stderr), errorLine(theirs.stderr).replaceAll(theirDir, ourDir), c.name);
      assert.equal(mine.code, theirs.code, `${c.name}: exit code`);
      assert.equal(existsSync(ourDir), false, `${c.name}: nothing written`);
    };
    // a few at a time: each case starts two processes
    for (let i = 0; i < cases.length; i += 3) await Promise.all(cases.slice(i, i + 3).map(check));
    // and the file itself restores (the checks above failed for the reasons given, not for the file)
    const good = join(work, "good");
    const restored = await rxetcd(["snapshot", "restore", etcdSnapshot, "--data-dir", good]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(existsSync(join(good, "member", "wal")), true);
  });
});
