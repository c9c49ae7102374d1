import { join } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";

/** The LMDB environment of one WAL directory and its three tables. */
export interface WalStore {
  readonly env: RootDatabase<Buffer, Buffer>;
  /** raft index (8-byte big-endian) -> sealed raftpb.Entry */
  readonly entries: Database<Buffer, Buffer>;
  /** snapshot index (8-byte big-endian) -> sealed raftpb.Snapshot (metadata and data) */
  readonly snapshots: Database<Buffer, Buffer>;
  /** "meta" -> meta record, "hardstate" -> sealed raftpb.HardState */
  readonly meta: Database<Buffer, Buffer>;
}

export const DATA_FILE = "data.mdb";

export function dataFilePath(dir: string): string {
  return join(dir, DATA_FILE);
}

export function openStore(dir: string): WalStore {
  const env = open<Buffer, Buffer>({
    path: dir,
    // The WAL lives in a directory (data.mdb + lock.mdb). Stated explicitly because lmdb-js
    // otherwise treats any path with a dot in its last component as a single file.
    noSubdir: false,
    // Durability is the whole point of a WAL: every commit must reach the disk before save()
    // resolves. noSync would skip fdatasync entirely.
    noSync: false,
    // With overlappingSync (lmdb-js's default on Linux) the documented contract is that a commit
    // promise resolves once the transaction is visible while its flush to disk may finish later;
    // a power loss in between would lose a write Raft already counted as persisted. Off, a commit
    // resolves only after LMDB fdatasync'ed the data pages and wrote the meta page through its
    // O_DSYNC descriptor. test/wal/sync.test.ts checks that order in an strace of real saves.
    overlappingSync: false,
    // Records are protobuf bytes sealed with a checksum; keys are fixed-width big-endian integers
    // so LMDB's byte order is index order. No msgpack, no key re-encoding.
    encoding: "binary",
    keyEncoding: "binary",
    // Group commit is done by the WAL itself (one transaction in flight, the next one collects
    // every save that arrived meanwhile), so lmdb-js should not add latency on top: commit as soon
    // as the event loop turns.
    commitDelay: 0,
    // No object cache: values are decoded once at open and never read again on the hot path.
    cache: false,
    maxDbs: 4,
  });
  const table = (name: string) =>
    env.openDB<Buffer, Buffer>(name, { encoding: "binary", keyEncoding: "binary", cache: false });
  return { env, entries: table("entries"), snapshots: table("snapshots"), meta: table("meta") };
}
