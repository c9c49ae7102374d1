// Damaged files end in one BboltError that names the file and, where there is one, the page.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BboltError, BboltReader, writeBboltFile } from "../../src/bbolt/index.js";

const PAGE = 4096;

describe("damaged bbolt files", () => {
  const dir = mkdtempSync(join(tmpdir(), "rxetcd-bbolt-bad-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A file with an inline bucket and a paged one (two leaves under a branch, one overflow run). */
  function goodFile(name: string): { file: string; bytes: Buffer } {
    const file = join(dir, name);
    const entries: Array<[Buffer, Buffer]> = [];
    for (let i = 0; i < 200; i++)
      entries.push([Buffer.from(`k${String(i).padStart(4, "0")}`), Buffer.alloc(i === 7 ? 9000 : 30, i)]);
    writeBboltFile(file, [
      { name: "paged", entries: () => entries },
      { name: "small", entries: () => [[Buffer.from("a"), Buffer.from("b")]] },
    ]);
    return { file, bytes: readFileSync(file) };
  }

  function readEverything(file: string): number {
    const r = BboltReader.open(file);
    try {
      let n = 0;
      for (const name of r.bucketNames()) for (const _ of r.entries([name])) n++;
      return n;
    } finally {
      r.close();
    }
  }

  function rejects(file: string, message: RegExp, page?: number): void {
    assert.throws(
      () => readEverything(file),
      (err: unknown) => {
        assert.ok(err instanceof BboltError, String(err));
        assert.match(err.message, message);
        assert.ok(err.message.startsWith(`bbolt file ${file}: `), err.message);
        assert.equal(err.file, file);
        if (page !== undefined) assert.equal(err.page, page);
        return true;
      },
    );
  }

  /** The first page after the metas whose header has the given flags. */
  function findPage(bytes: Buffer, flags: number): number {
    for (let p = 2; p * PAGE < bytes.length; p++) {
      if (bytes.readBigUInt64LE(p * PAGE) === BigInt(p) && bytes.readUInt16LE(p * PAGE + 8) === flags)
        return p;
    }
    throw new Error(`no page with flags ${flags}`);
  }

  test("the intact file reads", () => {
    assert.equal(readEverything(goodFile("good.db").file), 201);
  });

  test("truncated", () => {
    const { file, bytes } = goodFile("truncated.db");
    truncateSync(file, bytes.length - PAGE);
    rejects(file, /truncated: \d+ bytes, but the meta page says \d+ pages of 4096 bytes/);
  });

  test("too small to hold the meta pages", () => {
    const file = join(dir, "tiny.db");
    writeFileSync(file, Buffer.alloc(100));
    rejects(file, /file size too small \(100 bytes\)/);
  });

  test("not a bbolt file", () => {
    const file = join(dir, "noise.db");
    writeFileSync(file, Buffer.alloc(4 * PAGE, 0x5a));
    rejects(file, /no valid meta page \(page 0: bad magic 0x5a5a5a5a; page 1: bad magic 0x5a5a5a5a\)/);
  });

  test("bad checksums on both metas", () => {
    const { file, bytes } = goodFile("checksums.db");
    bytes[64] ^= 0xff; // txid of meta 0
    bytes[PAGE + 64] ^= 0xff;
    writeFileSync(file, bytes);
    rejects(file, /no valid meta page \(page 0: checksum mismatch; page 1: checksum mismatch\)/);
  });

  test("a bad checksum on the newer meta falls back to the older one", () => {
    const { file, bytes } = goodFile("fallback.db");
    bytes[PAGE + 70] ^= 0xff; // meta 1 holds txid 1, the newer
    writeFileSync(file, bytes);
    const r = BboltReader.open(file);
    assert.equal(r.metaPage, 0);
    r.close();
    assert.equal(readEverything(file), 201);
  });

  test("a zero checksum is accepted unchecked, as bbolt does", () => {
    const { file, bytes } = goodFile("zero-checksum.db");
    bytes.writeBigUInt64LE(0n, PAGE + 72);
    writeFileSync(file, bytes);
    assert.equal(readEverything(file), 201);
  });

  test("bad page type", () => {
    const { file, bytes } = goodFile("page-type.db");
    const leaf = findPage(bytes, 0x02);
    bytes.writeUInt16LE(0x10, leaf * PAGE + 8);
    writeFileSync(file, bytes);
    rejects(file, new RegExp(`page ${leaf}: invalid page type freelist, expected branch or leaf`), leaf);
  });

  test("a page header with the wrong id", () => {
    const { file, bytes } = goodFile("page-id.db");
    const branch = findPage(bytes, 0x01);
    bytes.writeBigUInt64LE(999n, branch * PAGE);
    writeFileSync(file, bytes);
    rejects(file, new RegExp(`page ${branch}: page header says page 999`), branch);
  });

  test("an element pointing past its page", () => {
    const { file, bytes } = goodFile("element.db");
    const leaf = findPage(bytes, 0x02);
    bytes.writeUInt32LE(1_000_000, leaf * PAGE + 16 + 8); // ksize of element 0
    writeFileSync(file, bytes);
    rejects(
      file,
      new RegExp(`page ${leaf}: leaf element 0 \\(key 1000000 bytes, value \\d+ bytes\\) is out of bounds`),
      leaf,
    );
  });

  test("a branch pointing past the pages in use", () => {
    const { file, bytes } = goodFile("branch.db");
    const branch = findPage(bytes, 0x01);
    bytes.writeBigUInt64LE(1_000_000n, branch * PAGE + 16 + 8);
    writeFileSync(file, bytes);
    rejects(
      file,
      new RegExp(`page ${branch}: branch element 0 points to page 1000000, outside the pages in use`),
      branch,
    );
  });

  test("a reference cycle", () => {
    const { file, bytes } = goodFile("cycle.db");
    const branch = findPage(bytes, 0x01);
    bytes.writeBigUInt64LE(BigInt(branch), branch * PAGE + 16 + 8); // the branch's first child is itself
    writeFileSync(file, bytes);
    rejects(file, new RegExp(`page ${branch}: page is referenced twice`), branch);
  });

  test("keys out of order", () => {
    const { file, bytes } = goodFile("order.db");
    const leaf = findPage(bytes, 0x02);
    // the first key's bytes: make it sort after the second
    const at = leaf * PAGE + 16;
    const keyAt = at + bytes.readUInt32LE(at + 4);
    bytes[keyAt + 1] = 0x7a;
    writeFileSync(file, bytes);
    rejects(file, new RegExp(`page ${leaf}: keys out of order`), leaf);
  });

  test("a missing bucket", () => {
    const { file } = goodFile("missing.db");
    const r = BboltReader.open(file);
    try {
      assert.throws(() => [...r.entries(["nope"])], /bbolt file .*: no bucket nope/);
      assert.equal(r.hasBucket(["small"]), true);
      assert.equal(r.hasBucket(["nope"]), false);
    } finally {
      r.close();
    }
  });
});
