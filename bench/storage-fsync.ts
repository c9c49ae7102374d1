/**
 * What one synced append costs on this disk, measured the ways a log can be laid out:
 *   tsx bench/storage-fsync.ts [--dir <path>] [--n 2000]
 * Each row writes a 300-byte record and waits for fdatasync, n times, and prints p50/p99:
 *   zero-filled   into a file written with zeros and synced first (blocks allocated and written)
 *   fallocate     into a file preallocated with fallocate(1) (etcd's fileutil.Preallocate; unwritten extents)
 *   sparse        into a file extended with ftruncate (holes)
 *   growing       at the end of a file that grows with every record
 *   async sync    as zero-filled, with the fdatasync on libuv's thread pool (the event loop stays free)
 *   wal.save      the WAL's save() of one 300-byte entry and a hard state
 * and what preparing a segment costs (zero-fill + fdatasync, rename + directory fsync).
 */
import { execFileSync } from "node:child_process";
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs, promisify } from "node:util";
import { Entry, EntryType, HardState } from "../src/gen/raftpb/raft.js";
import { WAL } from "../src/wal/index.js";

const { values } = parseArgs({
  options: { dir: { type: "string", default: tmpdir() }, n: { type: "string", default: "2000" } },
});
const n = Number(values.n);
const RECORD = Buffer.alloc(300, 0x61);
const MIB = 1024 * 1024;
const fdatasyncAsync = promisify(fdatasync);

function summary(name: string, ms: number[]): void {
  const s = [...ms].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(s.length * p))];
  console.log(
    `  ${name.padEnd(14)} p50 ${at(0.5).toFixed(3)} ms  p99 ${at(0.99).toFixed(3)} ms  (${s.length} runs)`,
  );
}

function zeroFill(fd: number, bytes: number): void {
  const zeros = Buffer.alloc(MIB);
  for (let at = 0; at < bytes; at += MIB) writeSync(fd, zeros, 0, Math.min(MIB, bytes - at), at);
}

const scratch = mkdtempSync(join(values.dir, "rxetcd-fsync-bench-"));
const bytes = Math.ceil((n * RECORD.length + MIB) / MIB) * MIB;
/** Rows run in turns of ROUND appends, so that a change of load on the machine hits every row alike. */
const ROUND = 100;
try {
  console.log(
    `synced 300 B appends in ${scratch}; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  const files: { name: string; fd: number; times: number[]; async?: boolean }[] = [];
  const zero = openSync(join(scratch, "zero"), "w+");
  zeroFill(zero, bytes);
  fdatasyncSync(zero);
  files.push({ name: "zero-filled", fd: zero, times: [] });
  const falloc = join(scratch, "falloc");
  try {
    closeSync(openSync(falloc, "w"));
    execFileSync("fallocate", ["-l", String(bytes), falloc]);
    const fd = openSync(falloc, "r+");
    fdatasyncSync(fd);
    files.push({ name: "fallocate", fd, times: [] });
  } catch (error) {
    console.log(`  fallocate      not measured: ${(error as Error).message.split("\n")[0]}`);
  }
  const sparse = openSync(join(scratch, "sparse"), "w+");
  ftruncateSync(sparse, bytes);
  fdatasyncSync(sparse);
  files.push({ name: "sparse", fd: sparse, times: [] });
  files.push({ name: "growing", fd: openSync(join(scratch, "growing"), "w+"), times: [] });
  const asyncFd = openSync(join(scratch, "async"), "w+");
  zeroFill(asyncFd, bytes);
  fdatasyncSync(asyncFd);
  files.push({ name: "async sync", fd: asyncFd, times: [], async: true });
  const wal = await WAL.create(join(scratch, "wal"), Buffer.from("bench"));
  const saves: number[] = [];
  let index = 0;
  for (let done = 0; done < n; done += ROUND) {
    for (const file of files) {
      for (let i = done; i < done + ROUND; i++) {
        const t0 = performance.now();
        writeSync(file.fd, RECORD, 0, RECORD.length, i * RECORD.length);
        if (file.async) await fdatasyncAsync(file.fd);
        else fdatasyncSync(file.fd);
        file.times.push(performance.now() - t0);
      }
    }
    for (let i = 0; i < ROUND; i++) {
      index++;
      const entry = Entry.fromPartial({ type: EntryType.EntryNormal, term: 1, index, data: RECORD });
      const t0 = performance.now();
      await wal.save(HardState.fromPartial({ term: 1, vote: 1n, commit: index - 1 }), [entry]);
      saves.push(performance.now() - t0);
    }
  }
  await wal.close();
  for (const file of files) {
    summary(file.name, file.times);
    closeSync(file.fd);
  }
  summary("wal.save", saves);

  console.log("segment preparation");
  for (const size of [1, 8, 64]) {
    const t0 = performance.now();
    const seg = openSync(join(scratch, `prep-${size}`), "w+");
    zeroFill(seg, size * MIB);
    fdatasyncSync(seg);
    closeSync(seg);
    console.log(
      `  zero-fill ${String(size).padStart(2)} MiB + fdatasync  ${(performance.now() - t0).toFixed(1)} ms`,
    );
    rmSync(join(scratch, `prep-${size}`));
  }
  const renames: number[] = [];
  for (let i = 0; i < 50; i++) {
    closeSync(openSync(join(scratch, `r${i}.tmp`), "w"));
    const t0 = performance.now();
    renameSync(join(scratch, `r${i}.tmp`), join(scratch, `r${i}`));
    const dirFd = openSync(scratch, "r");
    fsyncSync(dirFd);
    closeSync(dirFd);
    renames.push(performance.now() - t0);
  }
  summary("rename+dirsync", renames);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
