// Starting on a data dir that etcd 3.4 wrote (or `etcdctl snapshot restore` made): its WAL segments,
// snapshot files and bbolt backend are converted once into rxetcd's LMDB layout beside them, in
// <data-dir>/member/rxetcd, and the member runs from there. etcd's files are only read, so the user can
// start etcd on them again (with the state they had when converted).

import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import {
  convertEtcdMember,
  EtcdDataDirError,
  etcdMemberPaths,
  isEtcdMemberDir,
  readEtcdMemberDir,
} from "../etcddir/index.js";
import { formatId } from "../membership/ids.js";
import { WAL } from "../wal/wal.js";
import { encodeWalMetadata, type MemberPaths, memberPaths } from "./bootstrap.js";

/** Where rxetcd keeps the converted state of an etcd data dir. */
export function convertedMemberPaths(dataDir: string): MemberPaths {
  const dir = join(dataDir, "member", "rxetcd");
  return { walDir: join(dir, "wal"), backendFile: join(dir, "db") };
}

/** A data dir etcd wrote that cannot be used: one line naming the file, nothing written. */
export class EtcdDataDirRefused extends Error {
  constructor(cause: EtcdDataDirError) {
    super(`cannot start from the etcd data dir: ${cause.message}`);
    this.name = "EtcdDataDirRefused";
  }
}

/**
 * The member's files: rxetcd's own layout when the data dir has it, the converted copy of an etcd data
 * dir (converting it first when this is the first start on it), or the default layout for a new member.
 */
export async function prepareMemberPaths(dataDir: string, walDir: string, log: Logger): Promise<MemberPaths> {
  const own = memberPaths(dataDir, walDir);
  if (WAL.exists(own.walDir)) return own;
  const etcd = etcdMemberPaths(dataDir, walDir);
  if (!isEtcdMemberDir(etcd)) return own;
  const converted = convertedMemberPaths(dataDir);
  if (WAL.exists(converted.walDir)) {
    log.info(
      { "data-dir": dataDir, "rxetcd-dir": join(dataDir, "member", "rxetcd") },
      "serving this etcd data dir from its conversion made earlier (etcd's files are untouched)",
    );
    return converted;
  }
  let state: ReturnType<typeof readEtcdMemberDir>;
  try {
    state = readEtcdMemberDir(etcd);
  } catch (err) {
    if (err instanceof EtcdDataDirError) throw new EtcdDataDirRefused(err);
    throw err;
  }
  if (state.walEnd.kind === "torn")
    log.warn(
      { file: state.walEnd.file, offset: state.walEnd.offset },
      "etcd's WAL ends with a torn write: its log is taken up to the last whole record (etcd repairs it the same way)",
    );
  // built under a temporary name and renamed at the end: an interrupted conversion is redone next time
  const target = join(dataDir, "member", "rxetcd");
  const staging = `${target}.converting`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    const summary = await convertEtcdMember(state, {
      walDir: join(staging, "wal"),
      backendFile: join(staging, "db"),
      walMetadata: encodeWalMetadata({ memberId: state.memberId, clusterId: state.clusterId }),
    });
    renameSync(staging, target);
    log.info(
      {
        "data-dir": dataDir,
        "etcd-wal-dir": etcd.walDir,
        "etcd-snapshot": state.snapshot?.file ?? "none",
        "etcd-db": state.backendFile,
        "rxetcd-dir": target,
        "member-id": formatId(summary.memberId),
        "cluster-id": formatId(summary.clusterId),
        term: summary.term,
        commit: summary.commit,
        "snapshot-index": summary.snapshotIndex,
        "last-index": summary.lastIndex,
        "consistent-index": summary.consistentIndex,
        revision: summary.revision,
      },
      "converted etcd 3.4 data dir (WAL, snapshot and backend) to rxetcd's layout beside it; etcd's files are untouched",
    );
  } catch (err) {
    if (existsSync(staging)) rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return converted;
}
