/**
 * bbolt export/import figures: `npm run bench:bbolt [-- --keys <n>] [--value-bytes <n>] [--dir <path>]`.
 * Fills a backend with n keys, exports it as etcd's bbolt file (plan + stream), imports the file into a
 * fresh backend and opens it (key index rebuilt). Prints the time and throughput of each step.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { exportBbolt, importBbolt, KVStore } from "../src/mvcc/index.js";

const { values } = parseArgs({
  options: {
    keys: { type: "string", default: "100000" },
    "value-bytes": { type: "string", default: "100" },
    dir: { type: "string", default: tmpdir() },
  },
});
const keys = Number(values.keys);
const valueBytes = Number(values["value-bytes"]);
const dir = mkdtempSync(path.join(values.dir, "bench-bbolt-"));

const ms = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e6;
const line = (what: string, took: number, bytes?: number) =>
  console.log(
    `${what.padEnd(34)} ${took.toFixed(0).padStart(7)} ms` +
      (bytes === undefined ? "" : `  ${((bytes / 1024 / 1024 / took) * 1000).toFixed(1).padStart(7)} MiB/s`) +
      `  ${((keys / took) * 1000).toFixed(0).padStart(9)} keys/s`,
  );

try {
  const store = KVStore.open(path.join(dir, "source", "db"), { durability: "nosync" });
  const value = Buffer.alloc(valueBytes, "v");
  for (let i = 0; i < keys; i += 1000) {
    store.batch(() => {
      for (let j = i; j < Math.min(keys, i + 1000); j++) {
        store.write(j + 1, (tx) => tx.put(Buffer.from(`bench/${String(j).padStart(9, "0")}`), value, 0n));
      }
    });
  }
  console.log(`${keys} keys of ${valueBytes}-byte values`);

  let t = process.hrtime.bigint();
  const exp = exportBbolt(store);
  const size = await exp.size();
  line("export: plan the layout", ms(t), size);
  t = process.hrtime.bigint();
  const chunks: Buffer[] = [];
  for await (const chunk of exp) chunks.push(chunk);
  line("export: stream the pages", ms(t), size);
  const file = path.join(dir, "export.db");
  writeFileSync(file, Buffer.concat(chunks));
  console.log(`bbolt file: ${(statSync(file).size / 1024 / 1024).toFixed(1)} MiB`);
  await store.close();

  t = process.hrtime.bigint();
  const target = path.join(dir, "imported", "db");
  await importBbolt(file, target);
  line("import into a fresh backend", ms(t), size);
  t = process.hrtime.bigint();
  const imported = KVStore.open(target);
  line("open it (key index rebuilt)", ms(t));
  await imported.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
