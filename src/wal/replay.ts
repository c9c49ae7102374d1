import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { Entry, HardState, type Snapshot } from "../gen/raftpb/raft.js";
import { WalCorruptError, WalSchemaError } from "./errors.js";
import { FrameKind, nonZeroEnd, readFrame } from "./frame.js";
import { LogTracker } from "./log-tracker.js";
import { decodePurgeMark, decodeSnapshotMark } from "./markers.js";
import { listSegments, type SegmentFile } from "./segment-files.js";
import { decodeHeader, headerSchema, SCHEMA_VERSION } from "./segment-header.js";
import { listSnapshotFiles, readSnapshotFile } from "./snapshot-files.js";

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

/** Damage open repairs before writing again: what a crash in the middle of a write leaves. */
export interface TailRepair {
  /** The last segment held no whole record (it was cut to and the crash came before its first write). */
  readonly dropLastSegment: boolean;
  /** Bytes of the last (kept) segment to set back to zero: a torn record and whatever follows it. */
  readonly zeroFrom: number;
  readonly zeroTo: number;
  /** Snapshot files written for a save that never reached the log. */
  readonly orphanSnapshots: readonly number[];
}

export interface Replayed {
  readonly contents: WalContents;
  readonly tracker: LogTracker;
  /** The hard state last written (protobuf), repeated in the header of the next segment. */
  readonly hardStateBytes: Buffer;
  /** Segments to continue with (the last one is written to) and where its records end. */
  readonly segments: SegmentFile[];
  readonly end: number;
  /** Snapshot files kept, ascending. */
  readonly snapshots: number[];
  readonly repair: TailRepair;
}

function decodeOrUndefined<T>(decode: (bytes: Uint8Array) => T, bytes: Uint8Array): T | undefined {
  try {
    // a copy: a decoded entry must not keep the whole segment's buffer alive
    return decode(Buffer.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * Reads every segment in order and checks every record. Anything inconsistent ends in one
 * WalCorruptError naming the directory and the first problem; the only damage accepted is a
 * write cut short at the very end of the last segment (never acknowledged), which is reported
 * for open to repair.
 */
export function replay(dir: string): Replayed {
  const corrupt = (problem: string) => new WalCorruptError(dir, problem);
  const segments = listSegments(dir);
  if (segments.length === 0) throw corrupt("no segment files");
  segments.forEach((segment, k) => {
    if (segment.seq !== segments[0].seq + k) {
      throw corrupt(`segment ${segments[0].seq + k} is missing (found ${basename(segment.path)} after it)`);
    }
  });

  const tracker = new LogTracker();
  const entries = new Map<number, Entry>();
  let metadata: Buffer | undefined;
  let hardStateBytes: Buffer = Buffer.alloc(0);
  let end = 0;
  let zeroTo = 0;
  let dropLastSegment = false;

  for (let k = 0; k < segments.length; k++) {
    const segment = segments[k];
    const name = basename(segment.path);
    const last = k === segments.length - 1;
    const buf = readFileSync(segment.path);
    const at = (offset: number, problem: string) => corrupt(`segment ${name}: ${problem} (offset ${offset})`);
    let offset = 0;
    let sawHeader = false;
    for (;;) {
      const read = readFrame(buf, offset);
      if (read.type === "end") break;
      if (read.type === "bad") {
        // A torn write is the last thing in the last segment: nothing whole may follow it.
        const followed = read.end !== undefined && readFrame(buf, read.end).type === "frame";
        if (last && read.torn && !followed) break;
        throw corrupt(`segment ${name}: ${read.problem}`);
      }
      const { kind, payload } = read;
      if (!sawHeader) {
        if (kind !== FrameKind.header) throw at(offset, "does not start with a segment header");
        const schema = headerSchema(payload);
        if (schema !== SCHEMA_VERSION) throw new WalSchemaError(dir, schema ?? 0, SCHEMA_VERSION);
        const header = decodeHeader(payload);
        if (typeof header === "string") throw at(offset, header);
        if (header.seq !== segment.seq) throw at(offset, `header says segment ${header.seq}`);
        if (metadata === undefined) {
          metadata = header.metadata;
          hardStateBytes = header.hardState;
          const hardState = decodeOrUndefined(HardState.decode, header.hardState);
          if (hardState === undefined) throw at(offset, "undecodable hard state in the header");
          tracker.startFrom(header, hardState.commit);
        } else {
          const replayed = [
            tracker.snapshotIndex,
            tracker.snapshotTerm,
            tracker.firstIndex,
            tracker.lastIndex,
          ];
          const stated = [header.snapshotIndex, header.snapshotTerm, header.firstIndex, header.lastIndex];
          const agrees =
            header.metadata.equals(metadata) &&
            header.hardState.equals(hardStateBytes) &&
            replayed.every((value, i) => value === stated[i]) &&
            (tracker.lastIndex === 0 || header.lastTerm === tracker.lastTerm);
          if (!agrees) {
            throw at(
              offset,
              `header (snapshot ${stated[0]}/${stated[1]}, entries ${stated[2]}..${stated[3]}) does not match the segments before it (snapshot ${replayed[0]}/${replayed[1]}, entries ${replayed[2]}..${replayed[3]})`,
            );
          }
        }
        sawHeader = true;
        offset = read.end;
        continue;
      }
      switch (kind) {
        case FrameKind.entry: {
          const entry = decodeOrUndefined(Entry.decode, payload);
          if (entry === undefined || !Number.isSafeInteger(entry.index) || entry.index < 1) {
            throw at(offset, "undecodable entry");
          }
          if (tracker.lastIndex > 0 && entry.index > tracker.lastIndex + 1) {
            throw corrupt(`gap in entry indexes: ${entry.index} follows ${tracker.lastIndex}`);
          }
          tracker.append(entry.index, entry.term, segment.seq);
          entries.set(entry.index, entry);
          break;
        }
        case FrameKind.hardState: {
          const hardState = decodeOrUndefined(HardState.decode, payload);
          if (hardState === undefined) throw at(offset, "undecodable hard state");
          hardStateBytes = Buffer.from(payload);
          tracker.commit = hardState.commit;
          break;
        }
        case FrameKind.snapshot: {
          const mark = decodeSnapshotMark(payload);
          if (mark === undefined) throw at(offset, "undecodable snapshot record");
          if (mark.index > tracker.snapshotIndex)
            tracker.restoreSnapshot(mark.index, mark.term, mark.dropLog);
          break;
        }
        case FrameKind.purge: {
          const firstIndex = decodePurgeMark(payload);
          if (firstIndex === undefined) throw at(offset, "undecodable purge record");
          tracker.purgeBefore(firstIndex === 0 ? Number.MAX_SAFE_INTEGER : firstIndex);
          break;
        }
        default:
          throw at(offset, `unknown record kind 0x${kind.toString(16)}`);
      }
      offset = read.end;
    }
    if (!sawHeader) {
      // Cut to, then the crash came before its first write completed: the segment holds nothing.
      if (last && k > 0) {
        dropLastSegment = true;
        break;
      }
      throw corrupt(`segment ${name} has no header`);
    }
    if (last) {
      end = offset;
      zeroTo = nonZeroEnd(buf, offset);
    } else if (nonZeroEnd(buf, offset) > offset) {
      throw corrupt(`segment ${name}: data after its last record (offset ${offset})`);
    }
  }
  if (metadata === undefined) throw corrupt("no segment header");
  const kept = dropLastSegment ? segments.slice(0, -1) : segments;
  if (dropLastSegment) {
    // the segment before it is now the last: writing continues after its last record
    const buf = readFileSync(kept[kept.length - 1].path);
    let offset = 0;
    for (let read = readFrame(buf, 0); read.type === "frame"; read = readFrame(buf, offset))
      offset = read.end;
    end = zeroTo = offset;
  }

  // Snapshots: the newest must be the log's base; files beyond it were never referenced by the log.
  const t = tracker;
  const files = listSnapshotFiles(dir);
  const orphanSnapshots = files.filter((index) => index > t.snapshotIndex);
  const snapshots = files.filter((index) => index <= t.snapshotIndex);
  let snapshot: Snapshot | undefined;
  for (const index of snapshots) {
    const read = readSnapshotFile(dir, index);
    if (typeof read === "string") throw corrupt(`snapshot ${index}: ${read}`);
    snapshot = read;
  }
  if (t.snapshotIndex > 0) {
    if (snapshot?.metadata?.index !== t.snapshotIndex)
      throw corrupt(`snapshot ${t.snapshotIndex}: is missing`);
    if (snapshot.metadata.term !== t.snapshotTerm) {
      throw corrupt(
        `snapshot ${t.snapshotIndex} has term ${snapshot.metadata.term}, the log says ${t.snapshotTerm}`,
      );
    }
  } else snapshot = undefined;

  const out: Entry[] = [];
  let previous: Entry | undefined;
  for (let index = t.firstIndex; t.lastIndex > 0 && index <= t.lastIndex; index++) {
    const entry = entries.get(index);
    if (entry === undefined || t.term(index) === undefined) {
      let next = index + 1;
      while (next <= t.lastIndex && !entries.has(next)) next++;
      throw corrupt(
        next > t.lastIndex
          ? `entries ${index}..${t.lastIndex} are missing`
          : `gap in entry indexes: ${next} follows ${index - 1}`,
      );
    }
    if (previous === undefined) {
      if (snapshot === undefined && index !== 1) {
        throw corrupt(`log starts at entry ${index} but there is no snapshot before it`);
      }
      if (snapshot !== undefined && index > t.snapshotIndex + 1) {
        throw corrupt(`gap between snapshot ${t.snapshotIndex} and the first entry ${index}`);
      }
    } else if (entry.term < previous.term) {
      throw corrupt(`entry ${index} has term ${entry.term}, lower than term ${previous.term} before it`);
    }
    if (index === t.snapshotIndex && entry.term !== t.snapshotTerm) {
      throw corrupt(
        `entry ${index} has term ${entry.term} but the snapshot at ${index} has term ${t.snapshotTerm}`,
      );
    }
    if (index > t.snapshotIndex) {
      if (entry.term < t.snapshotTerm) {
        throw corrupt(`entry ${index} has term ${entry.term}, lower than snapshot term ${t.snapshotTerm}`);
      }
      out.push(entry);
    }
    previous = entry;
  }
  const hardState = decodeOrUndefined(HardState.decode, hardStateBytes) ?? HardState.create();
  const logEnd = Math.max(t.lastIndex, t.snapshotIndex);
  if (hardState.commit > logEnd) {
    throw corrupt(`hard state commit ${hardState.commit} is beyond the last index ${logEnd}`);
  }

  return {
    contents: { metadata, snapshot, hardState, entries: out },
    tracker,
    hardStateBytes,
    segments: kept,
    end,
    snapshots,
    repair: { dropLastSegment, zeroFrom: end, zeroTo, orphanSnapshots },
  };
}
