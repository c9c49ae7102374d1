import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Snapshot } from "../../src/gen/raftpb/raft.js";
import { WAL, WalInputError, WalStateError } from "../../src/wal/index.js";
import { entries, entry, hardState, payloadFor, snapshot, tempDir } from "./helpers.js";

const METADATA = Buffer.from("member=1 cluster=7");

function walDir(): string {
  return join(tempDir(), "member", "wal");
}

describe("WAL create / exists / open", () => {
  test("a new WAL exists, carries its metadata and opens empty", async () => {
    const dir = walDir();
    assert.equal(WAL.exists(dir), false);
    const wal = await WAL.create(dir, METADATA);
    assert.equal(WAL.exists(dir), true);
    assert.equal(existsSync(`${dir}.tmp`), false);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.metadata, METADATA);
    assert.equal(opened.snapshot, undefined);
    assert.deepEqual(opened.entries, []);
    assert.deepEqual(opened.hardState, { term: 0, vote: 0n, commit: 0 });
    await opened.wal.close();
  });

  test("create refuses an existing WAL and open refuses a missing one", async () => {
    const dir = walDir();
    await assert.rejects(WAL.open(dir), (e: Error) => e instanceof WalStateError && e.message.includes(dir));
    const wal = await WAL.create(dir, METADATA);
    await wal.close();
    await assert.rejects(WAL.create(dir, METADATA), /already exists/);
  });

  test("create into a non-empty directory that is not a WAL fails and leaves nothing behind", async () => {
    const dir = walDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "unrelated"), "x");
    await assert.rejects(
      WAL.create(dir, METADATA),
      (e: Error) => e instanceof WalStateError && /cannot create/.test(e.message),
    );
    assert.equal(existsSync(`${dir}.tmp`), false);
    assert.equal(WAL.exists(dir), false);
  });

  test("create into an existing empty directory (a pre-made --wal-dir) works", async () => {
    const dir = walDir();
    mkdirSync(dir, { recursive: true });
    const wal = await WAL.create(dir, METADATA);
    await wal.close();
    assert.equal(WAL.exists(dir), true);
  });

  test("a directory with a dot in its name is still a directory", async () => {
    const dir = join(tempDir(), "node1.etcd", "member", "wal.v1");
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 1), entries(1, 1, 1));
    await wal.close();
    assert.ok(
      readdirSync(dir).some((name) => name.endsWith(".seg")),
      "the segment is inside the directory",
    );
    const opened = await WAL.open(dir);
    assert.equal(opened.entries.length, 1);
    await opened.wal.close();
  });
});

describe("WAL lock: one writer per directory", () => {
  test("a second open in the same process is refused until the first closes", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await assert.rejects(WAL.open(dir), /is already open in this process/);
    await wal.close();
    const opened = await WAL.open(dir);
    await opened.wal.close();
  });

  test("a lock held by a running process is refused; a stale one is taken over", async () => {
    const dir = walDir();
    await (await WAL.create(dir, METADATA)).close();
    const other = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"], { stdio: "ignore" });
    try {
      writeFileSync(join(dir, "rxetcd.lock"), `${other.pid}\n`);
      await assert.rejects(WAL.open(dir), new RegExp(`is in use by process ${other.pid}`));
    } finally {
      other.kill("SIGKILL");
      await once(other, "exit");
    }
    const opened = await WAL.open(dir);
    assert.equal(readFileSync(join(dir, "rxetcd.lock"), "utf8"), `${process.pid}\n`);
    await opened.wal.close();
    assert.equal(existsSync(join(dir, "rxetcd.lock")), false);
  });
});

describe("WAL save", () => {
  test("round trip: hard state and entries come back exactly", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 0), entries(1, 10, 1));
    await wal.save(hardState(2, 8, 3n), entries(11, 20, 2));
    await wal.save(undefined, [entry(21, 2, Buffer.alloc(0))]);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.hardState, { term: 2, vote: 3n, commit: 8 });
    assert.deepEqual(opened.entries, [
      ...entries(1, 10, 1),
      ...entries(11, 20, 2),
      entry(21, 2, Buffer.alloc(0)),
    ]);
    assert.equal(opened.wal.lastIndex(), 21);
    await opened.wal.close();
  });

  test("an overwritten suffix is replaced and nothing of it is left behind", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 3), entries(1, 10, 1));
    // A new leader of term 2 overwrites from index 5 with a shorter log.
    await wal.save(hardState(2, 3), entries(5, 7, 2));
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, [...entries(1, 4, 1), ...entries(5, 7, 2)]);
    assert.equal(opened.wal.lastIndex(), 7);
    // Appending after the overwrite continues at 8.
    await opened.wal.save(undefined, entries(8, 9, 2));
    await opened.wal.close();
    const again = await WAL.open(dir);
    assert.deepEqual(
      again.entries.map((e) => [e.index, e.term]),
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => [i, i <= 4 ? 1 : 2]),
    );
    await again.wal.close();
  });

  test("group commit: concurrent saves share transactions and are all durable", async () => {
    const dir = walDir();
    const commits: number[] = [];
    const wal = await WAL.create(dir, METADATA, { onCommit: (c) => commits.push(c.saves) });
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 200; i++) saves.push(wal.save(hardState(1, i - 1), [entry(i, 1)]));
    // Saves issued while the first transaction is in flight join the next one.
    await saves[0];
    for (let i = 201; i <= 300; i++) saves.push(wal.save(hardState(1, i - 1), [entry(i, 1)]));
    await Promise.all(saves);
    const stats = wal.stats();
    assert.equal(stats.saves, 300);
    assert.equal(stats.entriesWritten, 300);
    assert.ok(
      stats.transactions < 300 / 4,
      `expected far fewer transactions than saves, got ${stats.transactions}`,
    );
    assert.equal(
      commits.reduce((a, b) => a + b, 0),
      300,
    );
    await wal.close();
    const opened = await WAL.open(dir);
    assert.equal(opened.entries.length, 300);
    assert.deepEqual(opened.entries, entries(1, 300, 1));
    assert.equal(opened.hardState.commit, 299);
    await opened.wal.close();
  });

  test("a lone save of more than two entries starts its sync at once, not one event-loop turn later", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    // the sync on the thread pool that a big batch waits for
    type Sync = (done: (error: Error | null) => void) => void;
    const internals = wal as unknown as { syncInBackground: Sync };
    const sync = internals.syncInBackground.bind(wal);
    let insideSave = false;
    let startedInsideSave = 0;
    let startedLater = 0;
    internals.syncInBackground = (done) => {
      if (insideSave) startedInsideSave++;
      else startedLater++;
      sync(done);
    };
    insideSave = true;
    const big = wal.save(hardState(1, 0), entries(1, 3, 1));
    insideSave = false;
    await big;
    assert.equal(startedInsideSave, 1, "the save of 3 entries was not synced during save()");
    // one or two entries are synced at the end of the turn, not during save()
    insideSave = true;
    const small = wal.save(hardState(1, 3), [entry(4, 1)]);
    insideSave = false;
    await small;
    assert.equal(startedInsideSave, 1);
    assert.equal(startedLater, 1, "right after a big batch, a small one is synced on the thread pool");
    assert.equal(wal.stats().transactions, 2);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, entries(1, 4, 1));
    assert.equal(opened.hardState.commit, 3);
    await opened.wal.close();
  });

  test("small batches are synced on the event loop only after a run of them; between big ones on the thread pool", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    type Sync = (done: (error: Error | null) => void) => void;
    const internals = wal as unknown as { syncInBackground: Sync };
    const sync = internals.syncInBackground.bind(wal);
    let onPool = 0;
    internals.syncInBackground = (done) => {
      onPool++;
      sync(done);
    };
    // where each save was synced: "pool" when it went through the thread pool, else "loop"
    const where: string[] = [];
    let next = 1;
    const save = async (n: number) => {
      const before = onPool;
      await wal.save(hardState(1, next - 1), entries(next, next + n - 1, 1));
      next += n;
      where.push(onPool > before ? "pool" : "loop");
    };
    await save(3);
    for (let i = 0; i < 12; i++) await save(1);
    await save(5);
    await save(2);
    assert.deepEqual(where, [
      "pool",
      ...Array<string>(8).fill("pool"),
      ...Array<string>(4).fill("loop"),
      "pool",
      "pool",
    ]);
    assert.equal(wal.stats().transactions, where.length);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, entries(1, next - 1, 1));
    await opened.wal.close();
  });

  test("a small save made soon is written after the microtasks queued before it, not in the check phase", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    // a run of small saves: the next small one is synced on the event loop, so its promise settles in
    // the turn it is written
    let next = 1;
    for (; next <= 9; next++) await wal.save(hardState(1, next - 1), [entry(next, 1)]);
    // what happened first: an immediate queued before the save, a microtask queued before it, or the save
    const order = async (soon: boolean): Promise<string[]> => {
      const seen: string[] = [];
      const immediate = new Promise<void>((resolve) =>
        setImmediate(() => {
          seen.push("immediate");
          resolve();
        }),
      );
      queueMicrotask(() => seen.push("microtask"));
      const saved = wal.save(hardState(1, next - 1), [entry(next, 1)], undefined, true, soon).then(() => {
        seen.push("saved");
      });
      next++;
      await Promise.all([immediate, saved]);
      return seen;
    };
    assert.deepEqual(await order(true), ["microtask", "saved", "immediate"]);
    assert.deepEqual(await order(false), ["microtask", "immediate", "saved"]);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.entries, entries(1, next - 1, 1));
    await opened.wal.close();
  });

  test("saves resolve in the order they were issued", async () => {
    const wal = await WAL.create(walDir(), METADATA);
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) => wal.save(hardState(1, 0), [entry(i, 1)]).then(() => order.push(i))),
    );
    assert.deepEqual(order, [1, 2, 3, 4, 5, 6]);
    await wal.close();
  });

  test("close waits for queued saves and later saves are refused", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    const pending = wal.save(hardState(1, 0), entries(1, 5, 1));
    await wal.close();
    await pending;
    await assert.rejects(wal.save(undefined, [entry(6, 1)]), WalStateError);
    const opened = await WAL.open(dir);
    assert.equal(opened.entries.length, 5);
    await opened.wal.close();
  });

  test("MustSync: a commit-only hard state costs no transaction, rides with the next save, and close writes it", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 2), entries(1, 10, 1));
    const before = wal.stats().transactions;
    await wal.save(hardState(1, 5), [], undefined, false);
    await wal.save(hardState(1, 7), [], undefined, false);
    assert.equal(wal.stats().transactions, before, "an unsynced hard state waits for the next write");
    // the next synced save without a hard state of its own carries the newest deferred one
    await wal.save(undefined, [entry(11, 1)]);
    assert.equal(wal.stats().transactions, before + 1);
    // and one deferred at the end is written by close
    await wal.save(hardState(1, 9), [], undefined, false);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.hardState, { term: 1, vote: 1n, commit: 9 });
    assert.equal(opened.entries.length, 11);
    await opened.wal.close();
  });

  test("MustSync: a deferred hard state is dropped for a newer one saved with entries", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 2), entries(1, 10, 1));
    await wal.save(hardState(1, 8), [], undefined, false);
    await wal.save(hardState(2, 9, 2n), [entry(11, 2)]);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.hardState, { term: 2, vote: 2n, commit: 9 });
    await opened.wal.close();
  });

  test("0-byte entries and 1.5 MiB entries are stored exactly", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    const big = payloadFor(2, 1, 1.5 * 1024 * 1024);
    const bigger = payloadFor(4, 1, 1.5 * 1024 * 1024 + 1);
    await wal.save(hardState(1, 0), [entry(1, 1, Buffer.alloc(0)), entry(2, 1, big)]);
    await wal.save(hardState(1, 2), [entry(3, 1, Buffer.alloc(0)), entry(4, 1, bigger), entry(5, 1)]);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(
      opened.entries.map((e) => e.data.length),
      [0, big.length, 0, bigger.length, entry(5, 1).data.length],
    );
    assert.ok(opened.entries[1].data.equals(big));
    assert.ok(opened.entries[3].data.equals(bigger));
    await opened.wal.close();
  });

  describe("refuses what Raft never asks for, without writing any of it", () => {
    const cases: [string, (wal: WAL) => Promise<void>, RegExp][] = [
      ["a gap after the last index", (w) => w.save(undefined, [entry(12, 2)]), /gap after the last index 10/],
      ["non-contiguous entries", (w) => w.save(undefined, [entry(11, 2), entry(13, 2)]), /not contiguous/],
      ["a term going down inside a batch", (w) => w.save(undefined, [entry(11, 3), entry(12, 2)]), /lowers/],
      ["a term below the previous entry", (w) => w.save(undefined, [entry(11, 1)]), /lower than term 2/],
      [
        "overwriting a committed entry",
        (w) => w.save(undefined, [entry(4, 3)]),
        /committed entry \(commit 5\)/,
      ],
      [
        "a commit past the log",
        (w) => w.save(hardState(2, 11), []),
        /commit 11 would be beyond the last index 10/,
      ],
      ["index 0", (w) => w.save(undefined, [entry(0, 2)]), /entry index 0 is not a positive integer/],
      [
        "a snapshot whose term does not match a committed entry",
        (w) => w.saveSnapshot(snapshot(4, 2)),
        /snapshot 4 \(term 2\) does not match the stored entry at or below commit 5/,
      ],
      [
        "a snapshot without metadata",
        (w) => w.saveSnapshot(Snapshot.fromPartial({ data: Buffer.from("x") })),
        /snapshot without metadata/,
      ],
    ];
    for (const [name, act, message] of cases) {
      test(name, async () => {
        const dir = walDir();
        const wal = await WAL.create(dir, METADATA);
        await wal.save(hardState(2, 5), [...entries(1, 5, 1), ...entries(6, 10, 2)]);
        await assert.rejects(act(wal), (e: Error) => e instanceof WalInputError && message.test(e.message));
        // The WAL stays usable after a refused save.
        await wal.save(hardState(2, 6), [entry(11, 2)]);
        await wal.close();
        const opened = await WAL.open(dir);
        assert.deepEqual(opened.entries, [...entries(1, 5, 1), ...entries(6, 10, 2), entry(11, 2)]);
        assert.equal(opened.hardState.commit, 6);
        await opened.wal.close();
      });
    }
  });
});

test("what is stored is what save() was given, even if the caller reuses its objects afterwards", async () => {
  const dir = walDir();
  const wal = await WAL.create(dir, METADATA);
  const batch = entries(1, 3, 1);
  const state = hardState(1, 2);
  const pending = wal.save(state, batch);
  batch[1].data = Buffer.from("changed");
  batch[2].term = 9;
  state.commit = 3;
  await pending;
  await wal.close();
  const opened = await WAL.open(dir);
  assert.deepEqual(opened.entries, entries(1, 3, 1));
  assert.equal(opened.hardState.commit, 2);
  await opened.wal.close();
});

test("entries at or below the snapshot index are refused", async () => {
  const wal = await WAL.create(walDir(), METADATA);
  await wal.save(hardState(1, 10), entries(1, 10, 1));
  await wal.saveSnapshot(snapshot(8, 1));
  await assert.rejects(wal.save(undefined, [entry(8, 2)]), /entry 8 is at or below the snapshot index 8/);
  await wal.close();
});

describe("WAL segment sizes", () => {
  const MiB = 1024 * 1024;
  const big = (index: number) => entry(index, 1, payloadFor(index, 1, 1000));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

  test("a new log's first segment is 1 MiB, the next one the largest size; a batch that finds it unready grows the first", async () => {
    const dir = walDir();
    const options = { segmentBytes: 16 * MiB };
    const segments = () =>
      readdirSync(dir)
        .filter((name) => name.endsWith(".seg"))
        .sort()
        .map((name) => statSync(join(dir, name)).size);
    const wal = await WAL.create(dir, METADATA, options);
    assert.deepEqual(segments(), [MiB]);
    // 600 entries of 1 KB: past half of the first segment, so the next one is being zero-filled
    await wal.save(hardState(1, 0), range(1, 600).map(big));
    // 600 more do not fit, and 16 MiB of zeros synced in 1 MiB slices take far longer than one save
    await wal.save(hardState(1, 600), range(601, 1200).map(big));
    const grown = segments();
    assert.equal(grown.length, 1);
    assert.ok(grown[0] > 1.1 * MiB, `the first segment grew past its zeros (${grown[0]} bytes)`);
    let last = 1200;
    while (segments().length < 2) {
      last++;
      await wal.save(hardState(1, last - 1), [big(last)]);
      assert.ok(last < 12_000, "the next segment was never cut to");
    }
    assert.equal(segments()[1], 16 * MiB);
    await wal.close();

    const opened = await WAL.open(dir, options);
    assert.deepEqual(opened.entries, range(1, last).map(big));
    assert.deepEqual(opened.hardState, { term: 1, vote: 1n, commit: last - 1 });
    await opened.wal.save(hardState(1, last), [big(last + 1)]);
    await opened.wal.close();
    const again = await WAL.open(dir, options);
    assert.deepEqual(again.entries, range(1, last + 1).map(big));
    assert.deepEqual(again.repairs, []);
    await again.wal.close();
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith(".tmp")),
      [],
    );
  });

  test("a log reopened in a grown first segment keeps growing it until the next one is ready, and replays", async () => {
    const dir = walDir();
    const options = { segmentBytes: 16 * MiB };
    const wal = await WAL.create(dir, METADATA, options);
    await wal.save(hardState(1, 0), range(1, 1100).map(big));
    await wal.close();
    const opened = await WAL.open(dir, options);
    // the reopened writer starts its prepare with this batch, which does not fit the grown file
    await opened.wal.save(hardState(1, 1100), range(1101, 1400).map(big));
    await opened.wal.close();
    const again = await WAL.open(dir, options);
    assert.deepEqual(again.entries, range(1, 1400).map(big));
    assert.deepEqual(again.repairs, []);
    await again.wal.close();
  });

  test("close stops a segment being prepared and leaves no temporary file", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 0), range(1, 600).map(big));
    await wal.close();
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith(".tmp")),
      [],
    );
    const opened = await WAL.open(dir);
    assert.equal(opened.entries.length, 600);
    await opened.wal.close();
  });
});

describe("WAL snapshots and purge", () => {
  test("open returns the newest snapshot and only the entries after it", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(2, 30), [...entries(1, 20, 1), ...entries(21, 40, 2)]);
    await wal.saveSnapshot(snapshot(10, 1));
    await wal.saveSnapshot(snapshot(25, 2));
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.snapshot, snapshot(25, 2));
    assert.deepEqual(opened.entries, entries(26, 40, 2));
    await opened.wal.close();
  });

  test("a snapshot and entries saved together (one Ready) replace a log that does not hold it", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 3), entries(1, 8, 1));
    // Leader sends a snapshot at 100 (term 3): the old log is from another history and is dropped.
    await wal.save(hardState(3, 100), entries(101, 103, 3), snapshot(100, 3));
    assert.equal(wal.firstIndex(), 101);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.deepEqual(opened.snapshot?.metadata?.index, 100);
    assert.deepEqual(opened.entries, entries(101, 103, 3));
    assert.equal(opened.hardState.commit, 100);
    await opened.wal.close();
  });

  test("purge keeps catch-up entries before the newest snapshot and the newest snapshots", async () => {
    const dir = walDir();
    const wal = await WAL.create(dir, METADATA);
    await wal.save(hardState(1, 100), entries(1, 120, 1));
    for (const index of [20, 40, 60, 80, 100]) await wal.saveSnapshot(snapshot(index, 1));
    const result = await wal.purge({ catchUpEntries: 30, maxSnapshots: 2 });
    assert.deepEqual(result, { entriesRemoved: 69, snapshotsRemoved: 3 });
    assert.equal(wal.firstIndex(), 70);
    // Appends continue normally after a purge.
    await wal.save(hardState(1, 121), [entry(121, 1)]);
    await wal.close();
    const opened = await WAL.open(dir);
    assert.equal(opened.snapshot?.metadata?.index, 100);
    assert.deepEqual(opened.entries, entries(101, 121, 1));
    await opened.wal.close();
    // Only the files of snapshots 80 and 100 remain on disk.
    assert.deepEqual(
      readdirSync(dir).filter((name) => name.endsWith(".snap")),
      ["0000000000000050.snap", "0000000000000064.snap"],
    );
  });

  test("purge removes whole segments once none of their entries is live, and the rest replays alone", async () => {
    const dir = walDir();
    const segments = () => readdirSync(dir).filter((name) => name.endsWith(".seg"));
    const wal = await WAL.create(dir, METADATA, { segmentBytes: 8192 });
    const big = (index: number) => entry(index, 1, payloadFor(index, 1, 1000));
    for (let i = 1; i <= 100; i++) await wal.save(hardState(1, i - 1), [big(i)]);
    const before = segments();
    assert.ok(before.length >= 10, `100 entries of 1 KB fill several 8 KiB segments (${before.length})`);
    await wal.saveSnapshot(snapshot(90, 1));
    assert.deepEqual(await wal.purge({ catchUpEntries: 10, maxSnapshots: 1 }), {
      entriesRemoved: 79,
      snapshotsRemoved: 0,
    });
    assert.equal(wal.firstIndex(), 80);
    const after = segments();
    assert.ok(after.length < before.length - 5, `segments ${before.length} -> ${after.length}`);
    assert.equal(after[0], before[before.length - after.length], "the oldest segments went");
    await wal.save(hardState(1, 100), [big(101)]);
    await wal.close();
    const opened = await WAL.open(dir, { segmentBytes: 8192 });
    assert.equal(opened.wal.firstIndex(), 80);
    assert.equal(opened.snapshot?.metadata?.index, 90);
    assert.deepEqual(opened.entries, [...Array.from({ length: 11 }, (_, k) => big(91 + k))]);
    assert.deepEqual(opened.hardState, { term: 1, vote: 1n, commit: 100 });
    await opened.wal.close();
  });

  test("purge with the defaults keeps 5000 entries and 5 snapshots", async () => {
    const wal = await WAL.create(walDir(), METADATA);
    await wal.save(hardState(1, 6000), entries(1, 6000, 1));
    for (let i = 1; i <= 7; i++) await wal.saveSnapshot(snapshot(i * 800, 1));
    assert.deepEqual(await wal.purge(), { entriesRemoved: 599, snapshotsRemoved: 2 });
    assert.equal(wal.firstIndex(), 600);
    await assert.rejects(wal.purge({ maxSnapshots: 0 }), WalInputError);
    await wal.close();
  });
});
