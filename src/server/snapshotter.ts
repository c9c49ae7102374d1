import type { Logger } from "pino";
import type { KVStore } from "../mvcc/kvstore.js";
import type { WAL } from "../wal/wal.js";
import type { RaftNode } from "./raft-node.js";

export interface SnapshotInput {
  applied: number;
  /** etcd's --snapshot-count: applied entries between two snapshots. */
  snapshotCount: number;
  /** Entries kept in the log behind a snapshot so slow followers catch up without one. */
  catchUpEntries: number;
  maxSnapshots: number;
  raft: RaftNode;
  wal: WAL;
  store: KVStore;
  log: Logger;
  /** What the snapshot carries besides raft's metadata (the cluster's members). */
  data: () => Buffer;
}

/**
 * Takes a raft snapshot every `snapshotCount` applied entries (etcd's triggerSnapshot): the backend
 * is synced first (it is what the snapshot describes), the snapshot goes to the WAL, then the
 * in-memory log is compacted and old WAL entries and snapshots are purged.
 */
export class Snapshotter {
  private snapshotIndex = -1;

  /** Whether `applied` is more than `snapshotCount` entries past the last snapshot (maybeSnapshot takes one). */
  isDue(applied: number, snapshotCount: number, raft: RaftNode): boolean {
    if (this.snapshotIndex < 0) this.snapshotIndex = raft.storage.firstIndex() - 1;
    return applied - this.snapshotIndex > snapshotCount;
  }

  async maybeSnapshot(s: SnapshotInput): Promise<boolean> {
    if (!this.isDue(s.applied, s.snapshotCount, s.raft)) return false;
    const started = performance.now();
    s.log.info(
      { "applied-index": s.applied, "snapshot-index": this.snapshotIndex, "snapshot-count": s.snapshotCount },
      "triggering snapshot",
    );
    await s.store.sync();
    const snap = s.raft.storage.createSnapshot(s.applied, s.raft.confState, s.data());
    await s.wal.saveSnapshot(snap);
    this.snapshotIndex = s.applied;
    const compactIndex = s.applied > s.catchUpEntries ? s.applied - s.catchUpEntries : 1;
    if (compactIndex > s.raft.storage.firstIndex()) s.raft.storage.compact(compactIndex);
    const purged = await s.wal.purge({ catchUpEntries: s.catchUpEntries, maxSnapshots: s.maxSnapshots });
    s.log.info(
      {
        "snapshot-index": s.applied,
        "compact-index": compactIndex,
        purged,
        took: `${(performance.now() - started).toFixed(1)}ms`,
      },
      "saved snapshot and compacted raft log",
    );
    return true;
  }
}
