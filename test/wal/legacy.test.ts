import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Entry, HardState, Snapshot } from "../../src/gen/raftpb/raft.js";
import { WAL, WalCorruptError, WalSchemaError } from "../../src/wal/index.js";
import { openStore } from "../../src/wal/legacy/lmdb-store.js";
import { encodeMeta, HARD_STATE_KEY, META_KEY } from "../../src/wal/legacy/meta.js";
import { indexKey, RecordKind, seal } from "../../src/wal/record.js";
import { entries, hardState, snapshot, tempDir } from "./helpers.js";

/**
 * Directories written by schema 1 (one LMDB environment) open: converted once to segment files.
 * The writer below lays the records out as schema 1 did: tables entries/snapshots/meta, 8-byte
 * big-endian index keys, values sealed with kind and CRC.
 */
const METADATA = Buffer.from("member=1 cluster=7");

interface LegacyContent {
  readonly hardState?: HardState;
  readonly entries: Entry[];
  readonly snapshots: Snapshot[];
  readonly schema?: number;
}

async function writeLegacyWal(dir: string, content: LegacyContent): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const store = openStore(dir);
  try {
    await store.env.transaction(() => {
      store.meta.putSync(META_KEY, encodeMeta(METADATA, content.schema ?? 1));
      if (content.hardState) {
        store.meta.putSync(
          HARD_STATE_KEY,
          seal(RecordKind.hardState, HARD_STATE_KEY, HardState.encode(content.hardState).finish()),
        );
      }
      for (const e of content.entries) {
        const key = indexKey(e.index);
        store.entries.putSync(key, seal(RecordKind.entry, key, Entry.encode(e).finish()));
      }
      for (const s of content.snapshots) {
        const key = indexKey(s.metadata!.index);
        store.snapshots.putSync(key, seal(RecordKind.snapshot, key, Snapshot.encode(s).finish()));
      }
    });
  } finally {
    await store.env.close();
  }
}

describe("a WAL directory of the LMDB layout (schema 1)", () => {
  test("opens with every entry, the hard state and every snapshot, converted once to segment files", async () => {
    const dir = join(tempDir(), "member", "wal");
    // entries 1..40 with 5..40 kept behind snapshots 20 and 30 (catch-up entries), terms 1 then 2
    await writeLegacyWal(dir, {
      hardState: hardState(2, 35, 3n),
      entries: [...entries(5, 25, 1), ...entries(26, 40, 2)],
      snapshots: [snapshot(20, 1), snapshot(30, 2)],
    });
    assert.equal(WAL.exists(dir), true, "exists() recognises the old layout");
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.metadata, METADATA);
    assert.deepEqual(opened.hardState, { term: 2, vote: 3n, commit: 35 });
    assert.deepEqual(opened.snapshot, snapshot(30, 2));
    assert.deepEqual(opened.entries, entries(31, 40, 2));
    assert.equal(opened.wal.firstIndex(), 5, "the catch-up entries before the snapshot were kept");
    assert.equal(opened.wal.lastIndex(), 40);
    const files = readdirSync(dir).sort();
    assert.ok(!files.includes("data.mdb") && !files.includes("lock.mdb"), `LMDB files removed: ${files}`);
    assert.ok(files.some((name) => name.endsWith(".seg")));
    // the log goes on in the new layout
    await opened.wal.save(hardState(2, 40), entries(41, 42, 2));
    await opened.wal.close();
    const again = await WAL.open(dir);
    assert.deepEqual(again.entries, entries(31, 42, 2));
    assert.equal(again.hardState.commit, 40);
    // both snapshots came across: purge to one removes the older
    assert.deepEqual(await again.wal.purge({ catchUpEntries: 0, maxSnapshots: 1 }), {
      entriesRemoved: 25,
      snapshotsRemoved: 1,
    });
    await again.wal.close();
  });

  test("a conversion interrupted before the new segment was renamed into place is done again", async () => {
    const dir = join(tempDir(), "wal");
    await writeLegacyWal(dir, { hardState: hardState(1, 3), entries: entries(1, 5, 1), snapshots: [] });
    // what a crash half way leaves: a snapshot file or a segment still under its temporary name
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(dir, "0000000000000000.seg.tmp"), Buffer.alloc(100, 7));
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, entries(1, 5, 1));
    await opened.wal.close();
    assert.ok(!readdirSync(dir).some((name) => name.endsWith(".tmp")));
  });

  test("damage in the LMDB file is refused as before, and nothing is converted", async () => {
    const dir = join(tempDir(), "wal");
    const many = entries(1, 2000, 1);
    await writeLegacyWal(dir, { hardState: hardState(1, 2000), entries: many, snapshots: [] });
    const file = join(dir, "data.mdb");
    truncateSync(file, Math.floor(statSync(file).size / 2));
    await assert.rejects(WAL.open(dir), (error: Error) => {
      assert.ok(error instanceof WalCorruptError, `${error}`);
      assert.match(error.message, /is corrupt: LMDB data file is truncated/);
      return true;
    });
    assert.ok(existsSync(file) && !readdirSync(dir).some((name) => name.endsWith(".seg")));
  });

  test("a schema it does not know is refused by number", async () => {
    const dir = join(tempDir(), "wal");
    await writeLegacyWal(dir, { entries: [], snapshots: [], schema: 9 });
    await assert.rejects(WAL.open(dir), (error: Error) => {
      assert.ok(error instanceof WalSchemaError);
      assert.equal(
        error.message,
        `wal: ${dir} was written by a newer rxetcd (schema 9); this version reads schema 2`,
      );
      return true;
    });
  });
});
