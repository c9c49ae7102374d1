import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { ConfState, Entry, EntryType, HardState, Snapshot } from "../../src/gen/raftpb/raft.js";

/** A fresh directory under the system temp dir, removed when the test file ends. */
export function tempDir(prefix = "rxetcd-wal-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Payload derived from (index, term), so any reader can recompute what an entry must hold. */
export function payloadFor(index: number, term: number, size = 16 + ((index * 7 + term) % 48)): Buffer {
  const data = Buffer.allocUnsafe(size);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return data;
}

export function entry(index: number, term: number, data: Buffer = payloadFor(index, term)): Entry {
  return Entry.fromPartial({ type: EntryType.EntryNormal, index, term, data });
}

export function entries(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let index = from; index <= to; index++) out.push(entry(index, term));
  return out;
}

export function hardState(term: number, commit: number, vote = 1n): HardState {
  return HardState.fromPartial({ term, vote, commit });
}

export function snapshot(index: number, term: number, data = Buffer.from(`state@${index}`)): Snapshot {
  return Snapshot.fromPartial({
    data,
    metadata: { index, term, confState: ConfState.fromPartial({ voters: [1n, 2n, 3n] }) },
  });
}
