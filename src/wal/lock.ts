import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WalStateError } from "./errors.js";

/**
 * One writer per WAL. LMDB lets any number of processes write the same environment, but the WAL
 * keeps the log's bounds in memory, so a second writer would silently break them (etcd locks its
 * WAL files for the same reason). A lock file holds the owner's pid; a lock left by a process
 * that no longer runs (a crash) is taken over.
 */
const LOCK_FILE = "rxetcd.lock";
const openInThisProcess = new Set<string>();

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the lock of dir or throws WalStateError; returns the function that releases it. */
export function lockWal(dir: string): () => void {
  if (openInThisProcess.has(dir)) throw new WalStateError(`wal: ${dir} is already open in this process`);
  const path = join(dir, LOCK_FILE);
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
    if (Number.isSafeInteger(owner) && owner !== process.pid && isRunning(owner)) {
      throw new WalStateError(`wal: ${dir} is in use by process ${owner}`);
    }
    writeFileSync(path, `${process.pid}\n`);
  }
  openInThisProcess.add(dir);
  return () => {
    openInThisProcess.delete(dir);
    rmSync(path, { force: true });
  };
}
