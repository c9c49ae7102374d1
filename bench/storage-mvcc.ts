/**
 * MVCC store benchmark: puts/s (one put per write, and 100 writes per LMDB transaction as a
 * batching apply loop would), point ranges/s, and with 1,000,000 keys the memory the key
 * index costs and the time to open (rebuild the index). Run alone with
 * `tsx bench/storage-mvcc.ts [dir]`; bench/storage.ts calls `benchMvcc(dir)`.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { KVStore, type KVStoreOptions } from "../src/mvcc/kvstore.js";

const MILLION = 1_000_000;
const VALUE = Buffer.alloc(64, 0x76);

function key(i: number): Buffer {
  return Buffer.from(`key/${i.toString().padStart(8, "0")}`);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function rate(n: number, ms: number): string {
  return `${Math.round((n * 1000) / ms).toLocaleString("en-US")}/s`;
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function benchPuts(dir: string, options: KVStoreOptions, n: number, perLmdbTxn: number): number {
  const file = path.join(dir, `puts-${options.durability}-${perLmdbTxn}`, "db");
  const store = KVStore.open(file, options);
  let idx = 0;
  const ms = timed(() => {
    for (let i = 0; i < n; i += perLmdbTxn) {
      const one = () => {
        for (let j = i; j < Math.min(n, i + perLmdbTxn); j++) {
          store.write(++idx, (tx) => tx.put(key(j), VALUE, 0n));
        }
      };
      if (perLmdbTxn === 1) one();
      else store.batch(one);
    }
  });
  void store.close();
  return ms;
}

/** Memory and open time measured in a fresh process (`--open <file>`), printed as JSON. */
function measureOpen(file: string): {
  openMs: number;
  heapBytes: number;
  rssBytes: number;
  keys: number;
  pointRangesPerSec: number;
} {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--open", file],
    { encoding: "utf8", maxBuffer: 1 << 20 },
  );
  return JSON.parse(out.trim().split("\n").pop() ?? "{}");
}

async function openOnly(file: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const store = KVStore.open(file);
  const openMs = performance.now() - t0;
  gc?.();
  const m = process.memoryUsage();
  const reads = 100_000;
  const readMs = timed(() => {
    for (let i = 0; i < reads; i++) store.range(key((i * 7919) % MILLION), undefined);
  });
  console.log(
    JSON.stringify({
      openMs,
      heapBytes: m.heapUsed - heap0,
      rssBytes: m.rss - rss0,
      keys: store.indexedKeys(),
      pointRangesPerSec: Math.round((reads * 1000) / readMs),
    }),
  );
  await store.close();
}

export async function benchMvcc(dir: string): Promise<void> {
  const root = mkdtempSync(path.join(dir, "mvcc-bench-"));
  try {
    console.log("mvcc: key-value store on LMDB (key index: in-memory B-tree)");
    const modes: Array<[KVStoreOptions["durability"], string, number]> = [
      ["sync", "flushed before returning (default)", 2_000],
      ["overlapping", "lmdb-js overlapping flush", 2_000],
      ["nosync", "no flush per commit", 20_000],
    ];
    for (const [durability, label, n] of modes) {
      const one = benchPuts(root, { durability }, n, 1);
      const batched = benchPuts(root, { durability }, 10 * n, 100);
      console.log(
        `  put, ${label}: 1 write per LMDB txn ${rate(n, one)}; 100 writes per LMDB txn ${rate(10 * n, batched)}`,
      );
    }

    // 1,000,000 keys: load, point reads, then open time and memory in a fresh process.
    const file = path.join(root, "million", "member", "snap", "db");
    const before = process.memoryUsage();
    const store = KVStore.open(file, { durability: "nosync" });
    let idx = 0;
    const loadMs = timed(() => {
      for (let i = 0; i < MILLION; i += 10_000) {
        store.batch(() => {
          for (let j = i; j < i + 10_000; j += 100) {
            store.write(++idx, (tx) => {
              for (let k = j; k < j + 100; k++) tx.put(key(k), VALUE, 0n);
            });
          }
        });
      }
    });
    const after = process.memoryUsage();
    await store.sync();
    console.log(`  load 1,000,000 keys (100 puts per write, nosync):      ${rate(MILLION, loadMs)} keys`);
    console.log(
      `  memory growth while loading: rss +${mib(after.rss - before.rss)}, heap +${mib(after.heapUsed - before.heapUsed)}`,
    );
    const reads = 200_000;
    let seed = 12345;
    const readMs = timed(() => {
      for (let i = 0; i < reads; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        const r = store.range(key(seed % MILLION), undefined);
        if (r.count !== 1) throw new Error("missing key");
      }
    });
    console.log(`  point range (1 of 1,000,000 keys):                     ${rate(reads, readMs)}`);
    const prefixMs = timed(() => {
      for (let i = 0; i < 2_000; i++) store.range(key(i * 400), key(i * 400 + 100));
    });
    console.log(`  range of 100 keys:                                     ${rate(2_000, prefixMs)}`);
    const hashMs = timed(() => store.hashKV(0));
    console.log(`  HashKV over 1,000,000 keys:                            ${hashMs.toFixed(0)} ms`);
    console.log(`  backend file: ${mib(store.backend.size())}, in use ${mib(store.backend.sizeInUse())}`);
    await store.close();
    const open = measureOpen(file);
    console.log(
      `  open with 1,000,000 keys: ${open.openMs.toFixed(0)} ms; index memory: heap +${mib(open.heapBytes)}, rss +${mib(open.rssBytes)} (${open.keys.toLocaleString("en-US")} keys, ${Math.round(open.heapBytes / open.keys)} B/key heap)`,
    );
    console.log(
      `  point range after a fresh open:                        ${open.pointRangesPerSec.toLocaleString("en-US")}/s`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf("--open");
  if (i !== -1) await openOnly(process.argv[i + 1]);
  else await benchMvcc(process.argv[2] ?? process.cwd());
}
