// A backend built from etcd's bbolt file: a snapshot from `etcdctl snapshot save`, the db a leader
// sent with a raft snapshot, or an etcd data dir's member/snap/db. The key index is rebuilt when the
// result is opened, as after any restart.

import { randomBytes } from "node:crypto";
import { renameSync, rmSync } from "node:fs";
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { BboltError, BboltReader } from "../bbolt/index.js";
import { Backend, MetaKey } from "./backend.js";
import { putRecord } from "./record-table.js";
import { RECORD_BUCKETS } from "./records.js";
import { REV_KEY_LEN, revKeyMain, TOMBSTONE_REV_KEY_LEN } from "./revision.js";

export interface BboltImportResult {
  /** `consistent_index` from the `meta` bucket (0 when absent): the raft index the state belongs to. */
  consistentIndex: number;
  /** The store revision the file holds (newest history entry, or the compaction revision). */
  revision: number;
  /** Entries of the `key` bucket (history records). */
  historyEntries: number;
}

/** History records per LMDB transaction while importing. */
const ENTRIES_PER_TXN = 20_000;

/**
 * Builds a fresh backend at `backendFile` from the etcd bbolt file at `filePath`, replacing
 * whatever is there (the backend must not be open). The file is built beside the target and renamed
 * over it at the end, so a failed import leaves the target as it was. Buckets rxetcd does not keep
 * are ignored; a file without etcd's `key` bucket is refused.
 */
export async function importBbolt(filePath: string, backendFile: string): Promise<BboltImportResult> {
  const reader = BboltReader.open(filePath);
  const tmp = `${backendFile}.import-${randomBytes(6).toString("hex")}`;
  let backend: Backend | undefined;
  try {
    if (!reader.hasBucket(["key"])) {
      throw new BboltError("not an etcd backend: it has no key bucket", { file: filePath });
    }
    backend = Backend.open(tmp, { durability: "nosync" });
    const b = backend;
    const revision = await copyHistory(reader, b, filePath);
    const meta = readMeta(reader, filePath);
    for (const bucket of RECORD_BUCKETS) {
      if (!reader.hasBucket([bucket])) continue;
      const table = b.records(bucket);
      b.write(() => {
        for (const e of reader.entries([bucket])) {
          if (e.bucket) continue;
          // a key LMDB cannot hold (a long user or role name) goes under its stand-in
          putRecord(table, Buffer.from(e.key), Buffer.from(e.value));
        }
      });
    }
    const current = Math.max(revision.newest, meta.finishedCompactRev, 1);
    b.write(() => {
      b.putMetaNumber(MetaKey.consistentIndex, meta.consistentIndex);
      b.putMetaNumber(MetaKey.currentRev, current);
      // -1: no mark in the file, never compacted (a compaction at 0 leaves marks of 0)
      if (meta.finishedCompactRev >= 0) b.putMetaNumber(MetaKey.finishedCompactRev, meta.finishedCompactRev);
      if (meta.scheduledCompactRev >= 0)
        b.putMetaNumber(MetaKey.scheduledCompactRev, meta.scheduledCompactRev);
    });
    await b.sync();
    await b.close();
    backend = undefined;
    renameSync(tmp, backendFile);
    rmSync(`${tmp}-lock`, { force: true });
    return { consistentIndex: meta.consistentIndex, revision: current, historyEntries: revision.entries };
  } catch (err) {
    await backend?.close();
    rmSync(tmp, { force: true });
    rmSync(`${tmp}-lock`, { force: true });
    throw err;
  } finally {
    reader.close();
  }
}

/** Copies the `key` bucket into the history table, checking the revision keys on the way. */
async function copyHistory(
  reader: BboltReader,
  backend: Backend,
  file: string,
): Promise<{ newest: number; entries: number }> {
  const entries = reader.entries(["key"]);
  let newest = 0;
  let count = 0;
  let done = false;
  while (!done) {
    backend.write(() => {
      const history = backend.history;
      for (let n = 0; n < ENTRIES_PER_TXN; n++) {
        const step = entries.next();
        if (step.done) {
          done = true;
          return;
        }
        const { key, value, bucket } = step.value;
        const tombstone = key.length === TOMBSTONE_REV_KEY_LEN && key[TOMBSTONE_REV_KEY_LEN - 1] === 0x74;
        if (bucket || (key.length !== REV_KEY_LEN && !tombstone) || key[8] !== 0x5f) {
          throw new BboltError(
            `key bucket entry ${count + 1} is not a revision (key 0x${key.toString("hex")})`,
            {
              file,
            },
          );
        }
        history.put(Buffer.from(key), Buffer.from(value));
        newest = revKeyMain(key);
        count++;
      }
    });
    await yieldToLoop();
  }
  return { newest, entries: count };
}

interface EtcdMeta {
  consistentIndex: number;
  /** -1 when the file has no mark (never compacted). */
  finishedCompactRev: number;
  scheduledCompactRev: number;
}

function readMeta(reader: BboltReader, file: string): EtcdMeta {
  const meta: EtcdMeta = { consistentIndex: 0, finishedCompactRev: -1, scheduledCompactRev: -1 };
  if (!reader.hasBucket(["meta"])) return meta;
  const safe = (v: bigint, what: string): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new BboltError(`meta ${what} ${v} is out of range`, { file });
    return Number(v);
  };
  for (const { key, value } of reader.entries(["meta"])) {
    const name = key.toString("latin1");
    if (name === "consistent_index") {
      if (value.length !== 8)
        throw new BboltError(`meta consistent_index has ${value.length} bytes`, { file });
      meta.consistentIndex = safe(value.readBigUInt64BE(0), name);
    } else if (name === "finishedCompactRev" || name === "scheduledCompactRev") {
      if (value.length !== REV_KEY_LEN)
        throw new BboltError(`meta ${name} has ${value.length} bytes`, { file });
      meta[name] = safe(value.readBigUInt64BE(0), name);
    }
  }
  return meta;
}
