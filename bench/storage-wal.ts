/**
 * WAL storage figures: the disk's own synced-write rate next to what the WAL achieves on it.
 * Every write here waits for its sync, as Raft does before it acknowledges a Ready.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Entry, EntryType, HardState } from "../src/gen/raftpb/raft.js";
import { WAL } from "../src/wal/index.js";

export interface WalBenchOptions {
  /** Directory the figures are measured in (a scratch subdirectory is created and removed). */
  readonly dir: string;
  /** Seconds spent on each measurement. */
  readonly seconds: number;
}

export interface WalBenchFigures {
  readonly rawSyncedWritesPerSec: number;
  readonly appends: {
    batch: number;
    savesPerSec: number;
    entriesPerSec: number;
    p50Ms: number;
    p99Ms: number;
  }[];
  readonly groupCommit: {
    savers: number;
    savesPerSec: number;
    transactionsPerSec: number;
    savesPerTxn: number;
  };
}

const ENTRY_BYTES = 256;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** write(4 KiB) + fdatasync in a loop on one file: the ceiling for any synced log on this disk. */
function rawSyncedWrites(dir: string, seconds: number): number {
  const path = join(dir, "raw-sync.bin");
  const fd = openSync(path, "w");
  const block = Buffer.alloc(4096, 0x5a);
  try {
    // Preallocate so that each measured sync covers data only (as a preallocated etcd WAL segment).
    for (let i = 0; i < 256; i++) writeSync(fd, block, 0, block.length, i * block.length);
    fdatasyncSync(fd);
    let n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    while (performance.now() < end) {
      writeSync(fd, block, 0, block.length, (n % 256) * block.length);
      fdatasyncSync(fd);
      n++;
    }
    return n / ((performance.now() - start) / 1000);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

function makeEntries(from: number, count: number, payload: Buffer): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Entry.fromPartial({ type: EntryType.EntryNormal, term: 1, index: from + i, data: payload }));
  }
  return out;
}

async function sequentialAppends(dir: string, batch: number, seconds: number) {
  const wal = await WAL.create(join(dir, `append-${batch}`), Buffer.from("bench"));
  const payload = Buffer.alloc(ENTRY_BYTES, 0x61);
  const latencies: number[] = [];
  let next = 1;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    const t0 = performance.now();
    await wal.save(
      HardState.fromPartial({ term: 1, vote: 1n, commit: next - 1 }),
      makeEntries(next, batch, payload),
    );
    latencies.push(performance.now() - t0);
    next += batch;
  }
  const elapsed = (performance.now() - start) / 1000;
  await wal.close();
  latencies.sort((a, b) => a - b);
  return {
    batch,
    savesPerSec: latencies.length / elapsed,
    entriesPerSec: (latencies.length * batch) / elapsed,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
  };
}

/** Many callers saving one entry each, concurrently: the WAL folds them into shared syncs. */
async function concurrentSavers(dir: string, savers: number, seconds: number) {
  const wal = await WAL.create(join(dir, "group"), Buffer.from("bench"));
  const payload = Buffer.alloc(ENTRY_BYTES, 0x62);
  let next = 1;
  const end = performance.now() + seconds * 1000;
  const before = wal.stats();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: savers }, async () => {
      while (performance.now() < end) {
        // Indexes are taken when the save is issued, and saves commit in issue order: the log stays contiguous.
        const index = next++;
        await wal.save(
          HardState.fromPartial({ term: 1, vote: 1n, commit: index - 1 }),
          makeEntries(index, 1, payload),
        );
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const after = wal.stats();
  await wal.close();
  const saves = after.saves - before.saves;
  const transactions = after.transactions - before.transactions;
  return {
    savers,
    savesPerSec: saves / elapsed,
    transactionsPerSec: transactions / elapsed,
    savesPerTxn: saves / transactions,
  };
}

export async function runWalBench(options: WalBenchOptions): Promise<WalBenchFigures> {
  const scratch = mkdtempSync(join(options.dir, "rxetcd-wal-bench-"));
  try {
    console.log(`WAL storage (segment files, one fdatasync per write) in ${scratch}`);
    const rawSyncedWritesPerSec = rawSyncedWrites(scratch, options.seconds);
    console.log(
      `  disk: write 4 KiB + fdatasync          ${rawSyncedWritesPerSec.toFixed(0).padStart(8)} /s`,
    );
    const appends = [];
    for (const batch of [1, 16, 256]) {
      const r = await sequentialAppends(scratch, batch, options.seconds);
      appends.push(r);
      console.log(
        `  wal: save of ${String(batch).padStart(3)} x ${ENTRY_BYTES} B entries  ${r.savesPerSec.toFixed(0).padStart(8)} saves/s` +
          `  ${r.entriesPerSec.toFixed(0).padStart(8)} entries/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms`,
      );
    }
    const groupCommit = await concurrentSavers(scratch, 64, options.seconds);
    console.log(
      `  wal: ${groupCommit.savers} concurrent savers (1 entry each) ${groupCommit.savesPerSec.toFixed(0).padStart(8)} saves/s` +
        `  ${groupCommit.transactionsPerSec.toFixed(0).padStart(6)} syncs/s  ${groupCommit.savesPerTxn.toFixed(1)} saves per sync`,
    );
    return { rawSyncedWritesPerSec, appends, groupCommit };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
