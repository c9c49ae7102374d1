/**
 * Storage benchmarks: `npm run bench:storage [-- --dir <path>] [--seconds <n>]`.
 * Measure on the disk the data dir will live on (--dir); /tmp may be memory-backed.
 */
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { runWalBench } from "./storage-wal.js";

const { values } = parseArgs({
  options: { dir: { type: "string", default: tmpdir() }, seconds: { type: "string", default: "2" } },
});
const seconds = Number(values.seconds);

await runWalBench({ dir: values.dir, seconds });
