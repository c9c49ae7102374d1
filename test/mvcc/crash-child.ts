// Child process of the crash test: opens the store, replays the whole log from entry 1 in
// batches (entries at or below the consistent index must be skipped), and kills itself with
// SIGKILL at the requested point, or runs to the end.
// Usage: crash-child.ts <backend file> <durability> <seed> [<die at entry> <phase>]
//   phase "in-batch":     after applying the entry, before its batch is handed to the backend
//   "before-commit":      right after the batch holding the entry returned: its writes are staged,
//                         their commit has not landed
//   "after-commit":       right after the commit of the batch holding the entry landed
//   "in-compaction":      at the first compaction at or after the entry, once its mark is
//                         committed and one physical-removal step has run

import { setImmediate as yieldToLoop } from "node:timers/promises";
import { KVApplier } from "../../src/mvcc/apply.js";
import type { Durability } from "../../src/mvcc/backend.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { applyToStore, entry, LOG_LENGTH } from "./crash-log.js";

const [file, durability, seedArg, dieAtArg, phase] = process.argv.slice(2);
const dieAt = dieAtArg === undefined ? Number.POSITIVE_INFINITY : Number(dieAtArg);
const die = (): never => {
  process.kill(process.pid, "SIGKILL");
  throw new Error("unreachable");
};
const store = KVStore.open(file, { durability: durability as Durability, compactionBatchLimit: 5 });
const applier = new KVApplier(store);
process.stdout.write(`ready ${store.consistentIndex()}\n`);
let seed = Number(seedArg) >>> 0 || 1;
let i = 1;
while (i <= LOG_LENGTH) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  const size = 1 + (seed % 12);
  if (entry(i).kind === "compact") {
    const at = i;
    const done = applyToStore(applier, i++);
    if (phase === "in-compaction" && at >= dieAt && done !== undefined) {
      await yieldToLoop();
      await store.committed();
      die();
    }
    if (done !== undefined && seed % 2 === 0) await done;
  } else {
    let holdsTarget = false;
    store.batch(() => {
      for (let n = 0; n < size && i <= LOG_LENGTH && entry(i).kind !== "compact"; n++) {
        if (i === dieAt) holdsTarget = true;
        applyToStore(applier, i++);
        if (holdsTarget && phase === "in-batch") die();
      }
    });
    if (holdsTarget && phase === "before-commit") die();
    if (holdsTarget && phase === "after-commit") {
      await store.committed();
      die();
    }
  }
  await yieldToLoop();
}
// A requested kill that found no place to land (no compaction after the entry) happens here.
if (Number.isFinite(dieAt)) die();
await store.compactionsDone();
await store.close();
process.stdout.write("done\n");
// lmdb-js can keep the process alive briefly after close; the test waits on the exit.
process.exit(0);
