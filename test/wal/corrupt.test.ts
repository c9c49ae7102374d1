import assert from "node:assert/strict";
import { readdirSync, renameSync, rmSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Entry } from "../../src/gen/raftpb/raft.js";
import { FrameKind } from "../../src/wal/frame.js";
import { WAL, WalCorruptError, WalSchemaError } from "../../src/wal/index.js";
import { decodeHeader, encodeHeader } from "../../src/wal/segment-header.js";
import { entries, entry, hardState, payloadFor, snapshot, tempDir } from "./helpers.js";
import { editBytes, entryIndex, readRecords, rewriteRecords, segmentPaths } from "./segment-edit.js";

const METADATA = Buffer.from("member=1 cluster=7");

/** A closed WAL holding snapshot 10 (term 1), entries 1..30 (terms 1 then 2) and commit 25. */
async function writtenWal(): Promise<string> {
  const dir = join(tempDir(), "member", "wal");
  const wal = await WAL.create(dir, METADATA);
  await wal.save(hardState(2, 25), [...entries(1, 15, 1), ...entries(16, 30, 2)]);
  await wal.saveSnapshot(snapshot(10, 1));
  await wal.close();
  return dir;
}

function onlySegment(dir: string): string {
  const [path, ...more] = segmentPaths(dir);
  assert.equal(more.length, 0);
  return path;
}

async function assertCorrupt(dir: string, problem: RegExp): Promise<void> {
  await assert.rejects(WAL.open(dir), (error: Error) => {
    assert.ok(error instanceof WalCorruptError, `expected WalCorruptError, got ${error}`);
    assert.ok(!error.message.includes("\n"), "the message is one line");
    assert.ok(error.message.startsWith(`wal: ${dir} is corrupt: `), error.message);
    assert.match(error.message, problem);
    return true;
  });
}

const withoutEntries = (drop: (index: number) => boolean) => (records: ReturnType<typeof readRecords>) =>
  records.filter((r) => {
    const index = entryIndex(r);
    return index === undefined || !drop(index);
  });

/** Offset and end of the record of entry `index` in the segment. */
function recordOf(path: string, index: number) {
  const record = readRecords(path).find((r) => entryIndex(r) === index);
  assert.ok(record, `entry ${index} is in the segment`);
  return record;
}

describe("WAL recovery detects damage instead of using it", () => {
  test("the untouched fixture opens (the checks below start from a valid log)", async () => {
    const opened = await WAL.open(await writtenWal());
    assert.equal(opened.snapshot?.metadata?.index, 10);
    assert.deepEqual(
      opened.entries.map((e) => e.index),
      entries(11, 30, 1).map((e) => e.index),
    );
    await opened.wal.close();
  });

  const cases: [string, (dir: string) => void, RegExp][] = [
    [
      "a flipped byte in an entry's data, in the middle of the segment",
      (dir) => {
        const path = onlySegment(dir);
        const { end } = recordOf(path, 17);
        editBytes(path, (buf) => {
          buf[end - 1] ^= 0x40;
        });
      },
      /segment 0000000000000000-0000000000000001\.seg: checksum mismatch in the record at offset \d+/,
    ],
    [
      "a flipped byte in an entry's stored checksum",
      (dir) => {
        const path = onlySegment(dir);
        const { offset } = recordOf(path, 3);
        editBytes(path, (buf) => {
          buf[offset + 5] ^= 0x40;
        });
      },
      /checksum mismatch in the record at offset/,
    ],
    [
      "a flipped byte in the last record (no sector of it is zeros: damage, not a torn write)",
      (dir) => {
        const path = onlySegment(dir);
        const last = readRecords(path).at(-1)!;
        editBytes(path, (buf) => {
          buf[last.end - 2] ^= 0x40;
        });
      },
      /checksum mismatch in the record at offset/,
    ],
    [
      "a flipped byte in the segment header",
      (dir) =>
        editBytes(onlySegment(dir), (buf) => {
          buf[20] ^= 0x40;
        }),
      /checksum mismatch in the record at offset 0/,
    ],
    [
      "a flipped byte in a snapshot file",
      (dir) =>
        editBytes(join(dir, "000000000000000a.snap"), (buf) => {
          buf[9] ^= 0x40;
        }),
      /snapshot 10: checksum mismatch/,
    ],
    [
      "a missing snapshot file",
      (dir) => rmSync(join(dir, "000000000000000a.snap")),
      /snapshot 10: is missing/,
    ],
    [
      "a gap in the entry indexes",
      (dir) =>
        rewriteRecords(
          onlySegment(dir),
          withoutEntries((i) => i === 23),
        ),
      /gap in entry indexes: 24 follows 22/,
    ],
    [
      "a truncated tail below the hard state's commit",
      (dir) =>
        rewriteRecords(
          onlySegment(dir),
          withoutEntries((i) => i >= 21),
        ),
      /hard state commit 25 is beyond the last index 20/,
    ],
    [
      "an entry whose term goes down (correctly framed)",
      (dir) =>
        rewriteRecords(onlySegment(dir), (records) =>
          records.map((r) =>
            entryIndex(r) === 19 ? { kind: r.kind, payload: Entry.encode(entry(19, 1)).finish() } : r,
          ),
        ),
      /entry 19 has term 1, lower than term 2 before it/,
    ],
    [
      "entries that start after a gap behind the snapshot",
      (dir) =>
        rewriteRecords(
          onlySegment(dir),
          withoutEntries((i) => i <= 12),
        ),
      /gap between snapshot 10 and the first entry 13/,
    ],
    [
      "a log without its first entries and no snapshot",
      (dir) => {
        rewriteRecords(onlySegment(dir), (records) =>
          withoutEntries((i) => i === 1)(records).filter((r) => r.kind !== FrameKind.snapshot),
        );
        rmSync(join(dir, "000000000000000a.snap"));
      },
      /log starts at entry 2 but there is no snapshot before it/,
    ],
    [
      "a segment that does not start with a header",
      (dir) => rewriteRecords(onlySegment(dir), (records) => records.slice(1)),
      /does not start with a segment header/,
    ],
  ];
  for (const [name, damage, problem] of cases) {
    test(name, async () => {
      const dir = await writtenWal();
      damage(dir);
      await assertCorrupt(dir, problem);
    });
  }

  test("a directory written by a newer schema is refused with a clear message", async () => {
    const dir = await writtenWal();
    rewriteRecords(onlySegment(dir), (records) =>
      records.map((r, k) => {
        if (k > 0) return r;
        const header = decodeHeader(r.payload);
        assert.ok(typeof header !== "string");
        return { kind: r.kind, payload: encodeHeader({ ...header, schema: 9 }) };
      }),
    );
    await assert.rejects(WAL.open(dir), (error: Error) => {
      assert.ok(error instanceof WalSchemaError);
      assert.equal(
        error.message,
        `wal: ${dir} was written by a newer rxetcd (schema 9); this version reads schema 2`,
      );
      return true;
    });
  });

  test("a segment missing between others, and a header that disagrees with the log before it", async () => {
    const dir = join(tempDir(), "wal");
    const wal = await WAL.create(dir, METADATA, { segmentBytes: 4096 });
    for (let i = 1; i <= 40; i++) await wal.save(hardState(1, i - 1), [entry(i, 1, payloadFor(i, 1, 400))]);
    await wal.close();
    const paths = segmentPaths(dir);
    assert.ok(paths.length >= 4, `${paths.length} segments`);
    const moved = `${paths[2]}.away`;
    renameSync(paths[2], moved);
    await assertCorrupt(dir, /segment 2 is missing \(found 0000000000000003-[0-9a-f]{16}\.seg after it\)/);
    renameSync(moved, paths[2]);
    rewriteRecords(paths[3], (records) =>
      records.map((r, k) => {
        if (k > 0) return r;
        const header = decodeHeader(r.payload);
        assert.ok(typeof header !== "string");
        return { kind: r.kind, payload: encodeHeader({ ...header, lastIndex: header.lastIndex + 1 }) };
      }),
    );
    await assertCorrupt(
      dir,
      /segment 0000000000000003-[0-9a-f]{16}\.seg: header \(snapshot 0\/0, entries 1\.\.\d+\) does not match the segments before it/,
    );
  });

  test("the error leaves the directory untouched: a second open reports the same problem", async () => {
    const dir = await writtenWal();
    rewriteRecords(
      onlySegment(dir),
      withoutEntries((i) => i === 5),
    );
    await assertCorrupt(dir, /gap in entry indexes: 6 follows 4/);
    await assertCorrupt(dir, /gap in entry indexes: 6 follows 4/);
  });
});

describe("a write cut short at the end of the log (a crash, never acknowledged) is repaired", () => {
  /** A WAL whose last save is one entry of 5,000 bytes: entries 1..20, then entry 21. */
  async function walEndingInBigEntry(): Promise<{
    dir: string;
    path: string;
    last: { offset: number; end: number };
  }> {
    const dir = join(tempDir(), "wal");
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 20), entries(1, 20, 1));
    await wal.save(undefined, [entry(21, 1, payloadFor(21, 1, 5000))]);
    await wal.close();
    const path = onlySegment(dir);
    const last = readRecords(path).at(-1)!;
    assert.equal(entryIndex(last), 21);
    return { dir, path, last };
  }

  test("sectors of the last record that never reached the disk (zeros): dropped, and the rest zeroed", async () => {
    const { dir, path, last } = await walEndingInBigEntry();
    const cut = Math.ceil((last.offset + 1000) / 512) * 512;
    editBytes(path, (buf) => buf.fill(0, cut, last.end));
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, entries(1, 20, 1));
    assert.equal(opened.hardState.commit, 20);
    // what was mended is reported (the server logs it): from the torn record's start, within it
    assert.equal(opened.repairs.length, 1);
    const [repair] = opened.repairs;
    assert.equal(repair.kind, "zeroed-torn-tail");
    if (repair.kind === "zeroed-torn-tail") {
      assert.equal(repair.file, path);
      assert.equal(repair.from, last.offset);
      assert.ok(repair.to > repair.from && repair.to <= last.end, `zeroed ${repair.from}..${repair.to}`);
    }
    await opened.wal.save(undefined, [entry(21, 1)]);
    await opened.wal.close();
    const again = await WAL.open(dir);
    assert.deepEqual(again.entries, [...entries(1, 20, 1), entry(21, 1)]);
    assert.deepEqual(again.repairs, [], "a clean stop leaves nothing to mend");
    await again.wal.close();
  });

  test("a last record that runs past the end of the file (a growing segment cut short): dropped", async () => {
    const { dir, path, last } = await walEndingInBigEntry();
    truncateSync(path, last.offset + 3000);
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, entries(1, 20, 1));
    assert.deepEqual(
      opened.repairs.map((r) => r.kind),
      ["zeroed-torn-tail"],
    );
    await opened.wal.close();
    assert.ok(statSync(path).size >= last.offset, "the segment is kept");
  });

  test("a torn record followed by a whole one is damage, not a torn write", async () => {
    const { dir, path } = await walEndingInBigEntry();
    const middle = recordOf(path, 10);
    // zero a whole sector inside entry 10's record: it looks torn, but entry 11 follows it intact
    const { offset, end } = middle;
    assert.ok(end - offset < 512, "entry 10's record is small");
    editBytes(path, (buf) => buf.fill(0, offset + 9, end));
    await assertCorrupt(dir, /checksum mismatch in the record at offset/);
    assert.ok(readdirSync(dir).includes(path.split("/").at(-1)!));
  });
});
