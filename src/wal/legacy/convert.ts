import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Entry, Snapshot } from "../../gen/raftpb/raft.js";
import { WalCorruptError, WalSchemaError } from "../errors.js";
import { encodeFrame, FrameKind } from "../frame.js";
import { keyIndex, RecordKind, unseal } from "../record.js";
import { fsyncDirectory, segmentName, temporarySegmentName, writeSegmentFile } from "../segment-files.js";
import { encodeHeader, SCHEMA_VERSION } from "../segment-header.js";
import { writeSnapshotFile } from "../snapshot-files.js";
import { checkDataFile } from "./data-file.js";
import { dataFilePath, openStore, type WalStore } from "./lmdb-store.js";
import { decodeMeta, HARD_STATE_KEY, LEGACY_SCHEMA, META_KEY, metaSchema } from "./meta.js";

/**
 * Schema 1 kept the whole log in one LMDB environment (data.mdb). Such a directory is converted
 * once, when it is opened: every record is read and checked, the same log is written beside
 * data.mdb as snapshot files and a first segment, and the segment's rename is the moment the new
 * layout takes over; the LMDB files go after that. Interrupted anywhere, the next open finds the old
 * layout (and converts again) or the new one (and removes what is left of the old).
 * The order and the terms of the log are checked by the replay that follows, as for any segment.
 */
const LMDB_FILES = ["data.mdb", "lock.mdb"];

export function hasLegacyLayout(dir: string): boolean {
  return existsSync(dataFilePath(dir));
}

export function removeLegacyFiles(dir: string): void {
  for (const name of LMDB_FILES) rmSync(join(dir, name), { force: true });
  fsyncDirectory(dir);
}

interface LegacyLog {
  readonly metadata: Buffer;
  readonly hardState: Buffer;
  /** Sealed snapshot records (the snapshot file format is the same), ascending. */
  readonly snapshots: { index: number; term: number; sealed: Buffer }[];
  /** raftpb.Entry bytes, ascending. */
  readonly entries: { index: number; payload: Uint8Array }[];
}

function readLegacyLog(dir: string, store: WalStore): LegacyLog {
  const corrupt = (problem: string) => new WalCorruptError(dir, problem);
  const metaValue = store.meta.get(META_KEY);
  if (metaValue === undefined) throw corrupt("missing meta record");
  const schema = metaSchema(metaValue);
  if (schema === undefined) throw corrupt(`meta record is truncated (${metaValue.length} bytes)`);
  if (schema !== LEGACY_SCHEMA) throw new WalSchemaError(dir, schema, SCHEMA_VERSION);
  const meta = decodeMeta(metaValue);
  if (typeof meta === "string") throw corrupt(meta);

  const snapshots: LegacyLog["snapshots"] = [];
  for (const { key, value } of store.snapshots.getRange({})) {
    const index = keyIndex(key);
    if (index === undefined) throw corrupt(`snapshot record has a malformed key (${key.length} bytes)`);
    const payload = unseal(RecordKind.snapshot, key, value);
    if (typeof payload === "string") throw corrupt(`snapshot ${index}: ${payload}`);
    let snapshot: Snapshot | undefined;
    try {
      snapshot = Snapshot.decode(payload);
    } catch {}
    if (snapshot?.metadata === undefined) throw corrupt(`snapshot ${index}: undecodable record`);
    if (snapshot.metadata.index !== index) {
      throw corrupt(`snapshot stored at index ${index} describes index ${snapshot.metadata.index}`);
    }
    snapshots.push({ index, term: snapshot.metadata.term, sealed: Buffer.from(value) });
  }

  let hardState = Buffer.alloc(0);
  const hardStateValue = store.meta.get(HARD_STATE_KEY);
  if (hardStateValue !== undefined) {
    const payload = unseal(RecordKind.hardState, HARD_STATE_KEY, hardStateValue);
    if (typeof payload === "string") throw corrupt(`hard state: ${payload}`);
    hardState = Buffer.from(payload);
  }

  const entries: LegacyLog["entries"] = [];
  for (const { key, value } of store.entries.getRange({})) {
    const index = keyIndex(key);
    if (index === undefined) throw corrupt(`entry record has a malformed key (${key.length} bytes)`);
    const payload = unseal(RecordKind.entry, key, value);
    if (typeof payload === "string") throw corrupt(`entry ${index}: ${payload}`);
    let entry: Entry | undefined;
    try {
      entry = Entry.decode(payload);
    } catch {}
    if (entry === undefined) throw corrupt(`entry ${index}: undecodable record`);
    if (entry.index !== index) throw corrupt(`entry stored at index ${index} carries index ${entry.index}`);
    entries.push({ index, payload: Buffer.from(payload) });
  }
  return { metadata: meta.metadata, hardState, snapshots, entries };
}

/** Converts the LMDB layout in dir to segment files (see above). */
export async function convertLegacyWal(dir: string, segmentBytes: number): Promise<void> {
  const problem = checkDataFile(dataFilePath(dir));
  if (problem !== undefined) throw new WalCorruptError(dir, problem);
  let store: WalStore;
  try {
    store = openStore(dir);
  } catch (error) {
    throw new WalCorruptError(dir, `cannot open the LMDB environment: ${(error as Error).message}`);
  }
  let log: LegacyLog;
  try {
    log = readLegacyLog(dir, store);
  } finally {
    await store.env.close();
  }
  for (const snapshot of log.snapshots) writeSnapshotFile(dir, snapshot.index, snapshot.sealed);
  const newest = log.snapshots.at(-1);
  const header = encodeHeader({
    schema: SCHEMA_VERSION,
    seq: 0,
    metadata: log.metadata,
    hardState: log.hardState,
    snapshotIndex: newest?.index ?? 0,
    snapshotTerm: newest?.term ?? 0,
    // the entries follow as records: the log starts empty and they fill it
    firstIndex: 0,
    lastIndex: 0,
    lastTerm: 0,
  });
  const frames = [encodeFrame(FrameKind.header, header)];
  for (const entry of log.entries) frames.push(encodeFrame(FrameKind.entry, entry.payload));
  const tmp = join(dir, temporarySegmentName(0));
  writeSegmentFile(tmp, frames, segmentBytes);
  renameSync(tmp, join(dir, segmentName(0, log.entries[0]?.index ?? 1)));
  fsyncDirectory(dir);
  removeLegacyFiles(dir);
}
