/**
 * Child of sync.test.ts, run under strace: saves a few times and writes "ACK <n>" to stderr after
 * each save resolved, so the trace shows which syscalls happened before each acknowledgement.
 *   node --import tsx test/wal/sync-probe.ts <wal-dir>
 */
import { writeSync } from "node:fs";
import { WAL } from "../../src/wal/index.js";
import { entries, hardState } from "./helpers.js";

const [dir] = process.argv.slice(2);
const wal = await WAL.create(dir, Buffer.from("sync-probe"));
writeSync(2, "ACK 0\n");
// Ten entries per save: the commit runs on LMDB's write thread.
for (let n = 1; n <= 5; n++) {
  await wal.save(hardState(1, (n - 1) * 10), entries((n - 1) * 10 + 1, n * 10, 1));
  writeSync(2, `ACK ${n}\n`);
}
// One entry per save: the commit runs on the event loop.
for (let n = 6; n <= 10; n++) {
  await wal.save(hardState(1, 50 + n - 6), entries(45 + n, 45 + n, 1));
  writeSync(2, `ACK ${n}\n`);
}
await wal.close();
