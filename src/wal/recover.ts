import { Entry, HardState, Snapshot } from "../gen/raftpb/raft.js";
import { WalCorruptError, WalSchemaError } from "./errors.js";
import { decodeMeta, HARD_STATE_KEY, META_KEY, metaSchema, SCHEMA_VERSION } from "./meta.js";
import { keyIndex, RecordKind, unseal } from "./record.js";
import type { WalStore } from "./store.js";

/** What a restarting server needs from its WAL. */
export interface WalContents {
  /** The bytes given to WAL.create (member and cluster ids). */
  readonly metadata: Buffer;
  /** The newest snapshot, or undefined when none was saved. */
  readonly snapshot: Snapshot | undefined;
  /** The last saved hard state (all zero when none was saved). */
  readonly hardState: HardState;
  /** Every stored entry after the snapshot's index, in index order, contiguous. */
  readonly entries: Entry[];
}

/** Where the stored log stands; the WAL keeps this to validate later saves without reading back. */
export interface LogBounds {
  /** First and last stored entry index, 0 when no entry is stored. */
  firstIndex: number;
  lastIndex: number;
  lastTerm: number;
  /** Newest snapshot's index and term, 0 when none. */
  snapshotIndex: number;
  snapshotTerm: number;
  /** Commit index of the stored hard state. */
  commit: number;
}

export interface Recovered {
  readonly contents: WalContents;
  readonly bounds: LogBounds;
}

function decodeOrUndefined<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    return decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Reads and checks every record of the WAL. Anything inconsistent ends in one WalCorruptError
 * naming the directory and the first problem found; nothing is skipped or repaired.
 */
export function recover(dir: string, store: WalStore): Recovered {
  const corrupt = (problem: string) => new WalCorruptError(dir, problem);

  const metaValue = store.meta.get(META_KEY);
  if (metaValue === undefined) throw corrupt("missing meta record");
  const schema = metaSchema(metaValue);
  if (schema === undefined) throw corrupt(`meta record is truncated (${metaValue.length} bytes)`);
  if (schema !== SCHEMA_VERSION) throw new WalSchemaError(dir, schema, SCHEMA_VERSION);
  const meta = decodeMeta(metaValue);
  if (typeof meta === "string") throw corrupt(meta);

  let snapshot: Snapshot | undefined;
  for (const { key, value } of store.snapshots.getRange({})) {
    const index = keyIndex(key);
    if (index === undefined) throw corrupt(`snapshot record has a malformed key (${key.length} bytes)`);
    const payload = unseal(RecordKind.snapshot, key, value);
    if (typeof payload === "string") throw corrupt(`snapshot ${index}: ${payload}`);
    const decoded = decodeOrUndefined(Snapshot.decode, payload);
    if (decoded?.metadata === undefined) throw corrupt(`snapshot ${index}: undecodable record`);
    if (decoded.metadata.index !== index) {
      throw corrupt(`snapshot stored at index ${index} describes index ${decoded.metadata.index}`);
    }
    snapshot = decoded; // ascending keys: the last one is the newest
  }
  const snapshotIndex = snapshot?.metadata?.index ?? 0;
  const snapshotTerm = snapshot?.metadata?.term ?? 0;

  let hardState = HardState.create();
  const hardStateValue = store.meta.get(HARD_STATE_KEY);
  if (hardStateValue !== undefined) {
    const payload = unseal(RecordKind.hardState, HARD_STATE_KEY, hardStateValue);
    if (typeof payload === "string") throw corrupt(`hard state: ${payload}`);
    const decoded = decodeOrUndefined(HardState.decode, payload);
    if (decoded === undefined) throw corrupt("hard state: undecodable record");
    hardState = decoded;
  }

  const entries: Entry[] = [];
  let firstIndex = 0;
  let lastIndex = 0;
  let lastTerm = 0;
  for (const { key, value } of store.entries.getRange({})) {
    const index = keyIndex(key);
    if (index === undefined) throw corrupt(`entry record has a malformed key (${key.length} bytes)`);
    const payload = unseal(RecordKind.entry, key, value);
    if (typeof payload === "string") throw corrupt(`entry ${index}: ${payload}`);
    const entry = decodeOrUndefined(Entry.decode, payload);
    if (entry === undefined) throw corrupt(`entry ${index}: undecodable record`);
    if (entry.index !== index) throw corrupt(`entry stored at index ${index} carries index ${entry.index}`);
    if (lastIndex === 0) {
      firstIndex = index;
      if (snapshot === undefined && index !== 1) {
        throw corrupt(`log starts at entry ${index} but there is no snapshot before it`);
      }
      if (snapshot !== undefined && index > snapshotIndex + 1) {
        throw corrupt(`gap between snapshot ${snapshotIndex} and the first entry ${index}`);
      }
    } else {
      if (index !== lastIndex + 1) throw corrupt(`gap in entry indexes: ${index} follows ${lastIndex}`);
      if (entry.term < lastTerm) {
        throw corrupt(`entry ${index} has term ${entry.term}, lower than term ${lastTerm} before it`);
      }
    }
    if (index === snapshotIndex && entry.term !== snapshotTerm) {
      throw corrupt(
        `entry ${index} has term ${entry.term} but the snapshot at ${index} has term ${snapshotTerm}`,
      );
    }
    if (index > snapshotIndex) {
      if (entry.term < snapshotTerm) {
        throw corrupt(`entry ${index} has term ${entry.term}, lower than snapshot term ${snapshotTerm}`);
      }
      entries.push(entry);
    }
    lastIndex = index;
    lastTerm = entry.term;
  }

  const logEnd = Math.max(lastIndex, snapshotIndex);
  if (hardState.commit > logEnd) {
    throw corrupt(`hard state commit ${hardState.commit} is beyond the last index ${logEnd}`);
  }

  return {
    contents: { metadata: meta.metadata, snapshot, hardState, entries },
    bounds: { firstIndex, lastIndex, lastTerm, snapshotIndex, snapshotTerm, commit: hardState.commit },
  };
}
