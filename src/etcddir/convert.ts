// An etcd member's state written into rxetcd's own layout: the raft snapshot, hard state and entries
// into an LMDB WAL, the bbolt backend into an LMDB backend. Raft's view is kept whole (member and
// cluster ids, term, vote, commit, the log) so the member goes on as the same member.

import { importBbolt } from "../mvcc/bbolt-import.js";
import { WAL } from "../wal/wal.js";
import type { EtcdMemberState } from "./member-dir.js";

export interface ConversionTarget {
  walDir: string;
  backendFile: string;
  /** rxetcd's WAL metadata for these ids (the server owns its format). */
  walMetadata: Buffer;
}

export interface ConversionSummary {
  memberId: bigint;
  clusterId: bigint;
  snapshotIndex: number;
  term: number;
  commit: number;
  lastIndex: number;
  entries: number;
  consistentIndex: number;
  revision: number;
}

/** Writes `state` into new rxetcd files at `target` (neither may exist yet). */
export async function convertEtcdMember(
  state: EtcdMemberState,
  target: ConversionTarget,
): Promise<ConversionSummary> {
  const wal = await WAL.create(target.walDir, target.walMetadata);
  try {
    await wal.save(state.hardState, state.entries, state.snapshot?.snapshot);
  } finally {
    await wal.close();
  }
  const imported = await importBbolt(state.backendFile, target.backendFile);
  const snapshotIndex = state.snapshot?.snapshot.metadata?.index ?? 0;
  return {
    memberId: state.memberId,
    clusterId: state.clusterId,
    snapshotIndex,
    term: state.hardState.term,
    commit: state.hardState.commit,
    lastIndex: state.entries.at(-1)?.index ?? snapshotIndex,
    entries: state.entries.length,
    consistentIndex: imported.consistentIndex,
    revision: imported.revision,
  };
}
