/**
 * Child of sync.test.ts, run under strace: saves a few times and writes "ACK <n>" to stderr after
 * each save resolved, so the trace shows which syscalls happened before each acknowledgement.
 * Segments of 4 KiB: the saves also cut to new segments.
 *   node --import tsx test/wal/sync-probe.ts <wal-dir> [unsafe-no-fsync]
 */
import { writeSync } from "node:fs";
import { WAL } from "../../src/wal/index.js";
import { entry, hardState, payloadFor } from "./helpers.js";

/** Entries of 300 bytes: a few saves fill a 4 KiB segment. */
function entries(from: number, to: number, term: number) {
  return Array.from({ length: to - from + 1 }, (_, k) =>
    entry(from + k, term, payloadFor(from + k, term, 300)),
  );
}

const [dir, mode] = process.argv.slice(2);
/**
 * strace handles the stops of different threads in its own order: a sync that ended on a pool thread
 * can be printed after a later call of the main thread. A pause before each acknowledgement gives it
 * time to print the sync first (the order of the calls themselves does not depend on it).
 */
const ack = async (n: number) => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  writeSync(2, `ACK ${n}\n`);
};
const wal = await WAL.create(dir, Buffer.from("sync-probe"), {
  segmentBytes: 4096,
  unsafeNoFsync: mode === "unsafe-no-fsync",
});
await ack(0);
// Ten entries per save: the sync runs on the thread pool.
for (let n = 1; n <= 5; n++) {
  await wal.save(hardState(1, (n - 1) * 10), entries((n - 1) * 10 + 1, n * 10, 1));
  await ack(n);
}
// One entry per save: the first ones are synced on the thread pool, the rest of the run on the event loop.
for (let n = 6; n <= 20; n++) {
  await wal.save(hardState(1, 50 + n - 6), entries(45 + n, 45 + n, 1));
  await ack(n);
}
await wal.close();
