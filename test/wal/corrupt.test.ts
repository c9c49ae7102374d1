import assert from "node:assert/strict";
import { statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Entry } from "../../src/gen/raftpb/raft.js";
import { WAL, WalCorruptError, WalSchemaError } from "../../src/wal/index.js";
import { encodeMeta, HARD_STATE_KEY, META_KEY } from "../../src/wal/meta.js";
import { indexKey, RecordKind, seal } from "../../src/wal/record.js";
import { openStore, type WalStore } from "../../src/wal/store.js";
import { entries, entry, hardState, snapshot, tempDir } from "./helpers.js";

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

/** Edits the stored records through a raw LMDB handle, bypassing every check of the WAL. */
async function tamper(dir: string, edit: (store: WalStore) => void): Promise<void> {
  const store = openStore(dir);
  try {
    await store.env.transaction(() => edit(store));
  } finally {
    await store.env.close();
  }
}

function flipByte(value: Buffer, offset: number): Buffer {
  const copy = Buffer.from(value);
  const at = offset < 0 ? copy.length + offset : offset;
  copy[at] ^= 0x40;
  return copy;
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

  const recordCases: [string, (s: WalStore) => void, RegExp][] = [
    [
      "a flipped byte in an entry's data",
      (s) => s.entries.putSync(indexKey(17), flipByte(s.entries.get(indexKey(17))!, -1)),
      /entry 17: checksum mismatch/,
    ],
    [
      "a flipped byte in an entry's stored checksum",
      (s) => s.entries.putSync(indexKey(3), flipByte(s.entries.get(indexKey(3))!, 2)),
      /entry 3: checksum mismatch/,
    ],
    [
      "an entry record cut short",
      (s) => s.entries.putSync(indexKey(20), s.entries.get(indexKey(20))!.subarray(0, 3)),
      /entry 20: record is truncated \(3 bytes\)/,
    ],
    [
      "an entry record copied under another index",
      (s) => s.entries.putSync(indexKey(21), s.entries.get(indexKey(22))!),
      /entry 21: checksum mismatch/,
    ],
    [
      "a flipped byte in the hard state",
      (s) => s.meta.putSync(HARD_STATE_KEY, flipByte(s.meta.get(HARD_STATE_KEY)!, -1)),
      /hard state: checksum mismatch/,
    ],
    [
      "a flipped byte in a snapshot",
      (s) => s.snapshots.putSync(indexKey(10), flipByte(s.snapshots.get(indexKey(10))!, 9)),
      /snapshot 10: checksum mismatch/,
    ],
    [
      "a flipped byte in the meta record",
      (s) => s.meta.putSync(META_KEY, flipByte(s.meta.get(META_KEY)!, -2)),
      /meta record checksum mismatch/,
    ],
    ["a missing meta record", (s) => s.meta.removeSync(META_KEY), /missing meta record/],
    [
      "a gap in the entry indexes",
      (s) => s.entries.removeSync(indexKey(23)),
      /gap in entry indexes: 24 follows 22/,
    ],
    [
      "a truncated tail below the hard state's commit",
      (s) => {
        for (let i = 21; i <= 30; i++) s.entries.removeSync(indexKey(i));
      },
      /hard state commit 25 is beyond the last index 20/,
    ],
    [
      "an entry whose term goes down (correctly sealed)",
      (s) =>
        s.entries.putSync(
          indexKey(19),
          seal(RecordKind.entry, indexKey(19), Entry.encode(entry(19, 1)).finish()),
        ),
      /entry 19 has term 1, lower than term 2 before it/,
    ],
    [
      "an entry stored under the wrong index (correctly sealed)",
      (s) =>
        s.entries.putSync(
          indexKey(12),
          seal(RecordKind.entry, indexKey(12), Entry.encode(entry(13, 1)).finish()),
        ),
      /entry stored at index 12 carries index 13/,
    ],
    [
      "entries that start after a gap behind the snapshot",
      (s) => {
        for (let i = 1; i <= 12; i++) s.entries.removeSync(indexKey(i));
      },
      /gap between snapshot 10 and the first entry 13/,
    ],
    [
      "a log without its first entries and no snapshot",
      (s) => {
        s.snapshots.removeSync(indexKey(10));
        s.entries.removeSync(indexKey(1));
      },
      /log starts at entry 2 but there is no snapshot before it/,
    ],
  ];
  for (const [name, edit, problem] of recordCases) {
    test(name, async () => {
      const dir = await writtenWal();
      await tamper(dir, edit);
      await assertCorrupt(dir, problem);
    });
  }

  test("a directory written by a newer schema is refused with a clear message", async () => {
    const dir = await writtenWal();
    await tamper(dir, (s) => s.meta.putSync(META_KEY, encodeMeta(METADATA, 9)));
    await assert.rejects(WAL.open(dir), (error: Error) => {
      assert.ok(error instanceof WalSchemaError);
      assert.equal(
        error.message,
        `wal: ${dir} was written by a newer rxetcd (schema 9); this version reads schema 1`,
      );
      return true;
    });
  });

  test("a truncated LMDB data file is refused before LMDB maps it", async () => {
    const dir = join(tempDir(), "wal");
    const wal = await WAL.create(dir, METADATA);
    for (let i = 0; i < 20; i++) {
      await wal.save(hardState(1, i * 100), entries(i * 100 + 1, i * 100 + 100, 1));
    }
    await wal.close();
    const file = join(dir, "data.mdb");
    truncateSync(file, Math.floor(statSync(file).size / 2));
    await assertCorrupt(dir, /LMDB data file is truncated/);
    truncateSync(file, 100);
    await assertCorrupt(dir, /LMDB data file is truncated \(100 bytes;/);
    writeFileSync(file, Buffer.alloc(16384));
    await assertCorrupt(dir, /LMDB data file has no valid meta page/);
    truncateSync(file, 0);
    await assertCorrupt(dir, /LMDB data file is empty/);
  });

  test("the error leaves the directory untouched: a second open reports the same problem", async () => {
    const dir = await writtenWal();
    await tamper(dir, (s) => s.entries.removeSync(indexKey(5)));
    await assertCorrupt(dir, /gap in entry indexes: 6 follows 4/);
    await assertCorrupt(dir, /gap in entry indexes: 6 follows 4/);
  });
});
