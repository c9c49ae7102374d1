/**
 * Storage benchmarks: `npm run bench:storage [-- --dir <path>] [--seconds <n>] [--only wal|mvcc]`.
 * Measure on the disk the data dir will live on (--dir); /tmp may be memory-backed.
 */
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { benchMvcc } from "./storage-mvcc.js";
import { runWalBench } from "./storage-wal.js";

const { values } = parseArgs({
  options: {
    dir: { type: "string", default: tmpdir() },
    seconds: { type: "string", default: "2" },
    only: { type: "string" },
  },
});

if (values.only !== "mvcc") await runWalBench({ dir: values.dir, seconds: Number(values.seconds) });
if (values.only !== "wal") await benchMvcc(values.dir);
