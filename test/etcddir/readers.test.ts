// The etcd 3.4 file readers on segments and snapshot files built here byte by byte as etcd lays them out:
// the crc chain within and across segments, a torn tail cut as etcd repairs it, damage refused with the
// file named, snapshot markers, and the choice of the newest usable `.snap` file.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  EtcdDataDirError,
  newestAvailableSnapshot,
  readSnapFile,
  readWal,
  snapFileName,
  validSnapshotRefs,
  writeSnapFile,
} from "../../src/etcddir/index.js";
import { Metadata } from "../../src/gen/etcdserverpb/etcdserver.js";
import { Entry, EntryType, HardState, type Snapshot } from "../../src/gen/raftpb/raft.js";
import { Crc32c } from "../../src/mvcc/hash.js";

const T = { metadata: 1, entry: 2, state: 3, crc: 4, snapshot: 5 };

function varint(v: number | bigint): number[] {
  const out: number[] = [];
  let x = BigInt(v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
  return out;
}

function walSnapshot(index: number, term: number): Buffer {
  return Buffer.from([0x08, ...varint(index), 0x10, ...varint(term)]);
}

/** Writes etcd WAL segments: records chained by CRC-32C, frames padded to 8 bytes, zeros after (preallocation). */
class SegmentWriter {
  private crc = 0;
  private frames: Buffer[] = [];
  /** Offset of each record's frame in the current segment. */
  offsets: number[] = [];
  private size = 0;

  constructor(private readonly dir: string) {}

  record(type: number, data: Uint8Array = Buffer.alloc(0)): void {
    // a crc record carries the chain so far; every other record extends it over its data
    const crc = type === T.crc ? this.crc : new Crc32c(this.crc).update(data).digest();
    this.crc = crc;
    const rec = Buffer.from([
      0x08,
      ...varint(type),
      0x10,
      ...varint(crc),
      0x1a,
      ...varint(data.length),
      ...data,
    ]);
    const pad = (8 - (rec.length % 8)) % 8;
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(rec.length) | (pad > 0 ? BigInt(0x80 | pad) << 56n : 0n));
    this.offsets.push(this.size);
    const frame = Buffer.concat([len, rec, Buffer.alloc(pad)]);
    this.frames.push(frame);
    this.size += frame.length;
  }

  entry(index: number, term: number, data = Buffer.from(`data ${index}`)): void {
    this.record(T.entry, Entry.encode({ type: EntryType.EntryNormal, term, index, data }).finish());
  }

  state(term: number, commit: number): void {
    this.record(T.state, HardState.encode({ term, vote: 1n, commit }).finish());
  }

  /** Ends the current segment as `<seq>-<index>.wal` (with preallocated zeros); returns its path. */
  finish(seq: number, index: number): string {
    const file = join(
      this.dir,
      `${seq.toString(16).padStart(16, "0")}-${index.toString(16).padStart(16, "0")}.wal`,
    );
    writeFileSync(file, Buffer.concat([...this.frames, Buffer.alloc(4096)]));
    this.frames = [];
    this.size = 0;
    return file;
  }

  /** Starts the next segment with the crc record carrying the chain. */
  next(): void {
    this.offsets = [];
    this.record(T.crc);
  }
}

const META = Metadata.encode({ NodeID: 0x8e9e05c52164694dn, ClusterID: 0xcdf818194e3a8c32n }).finish();

describe("etcd WAL and snap readers", () => {
  const root = mkdtempSync(join(tmpdir(), "rxetcd-etcd-readers-"));
  let n = 0;
  const dir = () => {
    const d = join(root, String(n++));
    mkdirSync(d, { recursive: true });
    return d;
  };
  after(() => rmSync(root, { recursive: true, force: true }));

  /** One segment: crc, metadata, snapshot marker 0, entries 1..count with hard states. */
  function oneSegment(d: string, count: number): { w: SegmentWriter; file: string } {
    const w = new SegmentWriter(d);
    w.record(T.crc);
    w.record(T.metadata, META);
    w.record(T.snapshot, walSnapshot(0, 0));
    for (let i = 1; i <= count; i++) {
      w.entry(i, 2);
      w.state(2, i);
    }
    return { w, file: w.finish(0, 0) };
  }

  test("metadata, the last hard state and the entries; a later record for an index replaces the tail", () => {
    const d = dir();
    const w = new SegmentWriter(d);
    w.record(T.crc);
    w.record(T.metadata, META);
    w.record(T.snapshot, walSnapshot(0, 0));
    for (let i = 1; i <= 5; i++) w.entry(i, 2);
    w.entry(4, 3, Buffer.from("new leader's 4"));
    w.state(3, 4);
    w.finish(0, 0);
    const wal = readWal(d);
    assert.deepEqual(Buffer.from(wal.metadata), Buffer.from(META));
    assert.deepEqual(wal.hardState, { term: 3, vote: 1n, commit: 4 });
    assert.deepEqual(
      wal.entries.map((e) => [e.index, e.term]),
      [
        [1, 2],
        [2, 2],
        [3, 2],
        [4, 3],
      ],
    );
    assert.equal(wal.end.kind, "end");
  });

  test("the crc chain runs across segments; a crc record that breaks it is refused, naming the segment", () => {
    const d = dir();
    const w = new SegmentWriter(d);
    w.record(T.crc);
    w.record(T.metadata, META);
    w.record(T.snapshot, walSnapshot(0, 0));
    for (let i = 1; i <= 3; i++) w.entry(i, 2);
    w.finish(0, 0);
    w.next();
    for (let i = 4; i <= 6; i++) w.entry(i, 2);
    w.state(2, 6);
    w.finish(1, 4);
    assert.deepEqual(
      readWal(d).entries.map((e) => e.index),
      [1, 2, 3, 4, 5, 6],
    );

    // the same second segment with a wrong chain value in its crc record
    const bad = dir();
    const v = new SegmentWriter(bad);
    v.record(T.crc);
    v.record(T.metadata, META);
    v.record(T.snapshot, walSnapshot(0, 0));
    v.entry(1, 2);
    v.finish(0, 0);
    const other = new SegmentWriter(bad);
    other.record(T.crc); // chain restarts at 0: not what the first segment ended with
    other.entry(2, 2);
    const badSecond = other.finish(1, 2);
    assert.throws(
      () => readWal(bad),
      (err: Error) =>
        err instanceof EtcdDataDirError &&
        err.message === `${badSecond}: wal: crc mismatch (crc record at offset 0)`,
    );
  });

  test("a flipped byte is a crc mismatch naming the file and offset; a torn tail is cut where etcd cuts it", () => {
    const d = dir();
    const { w, file } = oneSegment(d, 6);
    const buf = Buffer.from(readFileSync(file));
    const at = w.offsets[5]; // entry 2's frame
    buf[at + 12] ^= 0x01;
    writeFileSync(file, buf);
    assert.throws(
      () => readWal(d),
      (err: Error) =>
        err instanceof EtcdDataDirError &&
        err.message === `${file}: wal: crc mismatch (record at offset ${at})`,
    );

    // a last record whose second sector never reached the disk (zeros), the rest written
    const t = dir();
    const tw = new SegmentWriter(t);
    tw.record(T.crc);
    tw.record(T.metadata, META);
    tw.record(T.snapshot, walSnapshot(0, 0));
    tw.entry(1, 2);
    tw.state(2, 1);
    tw.entry(2, 2, Buffer.alloc(2000, 7));
    const tornAt = tw.offsets.at(-1) ?? 0;
    const tornFile = tw.finish(0, 0);
    const tb = Buffer.from(readFileSync(tornFile));
    const sectorStart = Math.ceil((tornAt + 8 + 1) / 512) * 512;
    tb.fill(0, sectorStart, sectorStart + 512);
    writeFileSync(tornFile, tb);
    const wal = readWal(t);
    assert.deepEqual(
      wal.entries.map((e) => e.index),
      [1],
    );
    assert.deepEqual(wal.end, { kind: "torn", file: tornFile, offset: tornAt });
  });

  test("segments with a gap in their sequence, a snapshot marker of another term, or none at all are refused", () => {
    const d = dir();
    const w = new SegmentWriter(d);
    w.record(T.crc);
    w.record(T.metadata, META);
    w.record(T.snapshot, walSnapshot(0, 0));
    w.entry(1, 2);
    w.entry(2, 2);
    w.record(T.snapshot, walSnapshot(2, 2));
    w.state(2, 2);
    w.finish(0, 0);
    w.next();
    w.entry(3, 2);
    w.finish(2, 3);
    assert.throws(() => readWal(d), /segment sequence has a gap/);

    const s = dir();
    oneSegment(s, 3);
    assert.throws(() => readWal(s, { index: 2, term: 2 }), /wal: snapshot not found/);
    const m = dir();
    const mw = new SegmentWriter(m);
    mw.record(T.crc);
    mw.record(T.metadata, META);
    mw.record(T.snapshot, walSnapshot(0, 0));
    mw.entry(1, 2);
    mw.record(T.snapshot, walSnapshot(1, 2));
    mw.state(2, 1);
    mw.finish(0, 0);
    assert.throws(() => readWal(m, { index: 1, term: 5 }), /wal: snapshot mismatch/);
    assert.deepEqual(readWal(m, { index: 1, term: 2 }).entries, []);
  });

  test("snapshot markers count only up to the commit; the newest .snap file they vouch for is taken", () => {
    const d = dir();
    const w = new SegmentWriter(d);
    w.record(T.crc);
    w.record(T.metadata, META);
    w.record(T.snapshot, walSnapshot(0, 0));
    for (let i = 1; i <= 4; i++) w.entry(i, 2);
    w.record(T.snapshot, walSnapshot(2, 2));
    w.state(2, 3);
    w.record(T.snapshot, walSnapshot(4, 2)); // beyond the commit: a crash before the hard state
    w.finish(0, 0);
    const refs = validSnapshotRefs(d);
    assert.deepEqual(refs, [
      { index: 0, term: 0 },
      { index: 2, term: 2 },
    ]);

    const snapDir = dir();
    const snap = (index: number): Snapshot => ({
      data: Buffer.from(`{"Root":{"Path":"/"},"at":${index}}`),
      metadata: {
        index,
        term: 2,
        confState: { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      },
    });
    writeSnapFile(join(snapDir, snapFileName(2, 2)), snap(2));
    writeSnapFile(join(snapDir, snapFileName(2, 4)), snap(4)); // orphan: no marker within the commit
    const found = newestAvailableSnapshot(snapDir, refs);
    assert.equal(found?.file, join(snapDir, snapFileName(2, 2)));
    assert.deepEqual(found?.snapshot, snap(2));
    assert.equal(newestAvailableSnapshot(snapDir, [{ index: 0, term: 0 }]), undefined);

    const broken = join(snapDir, snapFileName(2, 3));
    writeSnapFile(broken, snap(3));
    const bytes = Buffer.from(readFileSync(broken));
    bytes[bytes.length - 2] ^= 0xff;
    writeFileSync(broken, bytes);
    assert.throws(() => readSnapFile(broken), { message: `${broken}: snap: crc mismatch` });
    writeFileSync(broken, "");
    assert.throws(() => readSnapFile(broken), { message: `${broken}: snap: empty snapshot` });
  });
});
