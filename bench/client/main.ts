// `npm run bench -- <workload> [options]`: a gRPC load generator with etcd's benchmark options.
import { parseBenchArgs, USAGE } from "./options.js";
import { runBench } from "./run.js";
import { formatSummary } from "./stats.js";

const argv = process.argv.slice(2);
if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
  console.log(USAGE);
  process.exit(argv.length === 0 ? 2 : 0);
}
try {
  const opts = parseBenchArgs(argv);
  const summary = await runBench(opts);
  console.log(formatSummary(opts.workload, summary));
  process.exit(summary.errors > 0 && summary.requests === 0 ? 1 : 0);
} catch (err) {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(2);
}
