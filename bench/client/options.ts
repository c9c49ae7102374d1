import { parseArgs } from "node:util";

export const WORKLOADS = ["put", "range", "txn-put", "watch-latency"] as const;
export type Workload = (typeof WORKLOADS)[number];

/** The options of etcd's benchmark tool that this load generator understands. */
export interface BenchOptions {
  workload: Workload;
  endpoints: string[];
  clients: number;
  conns: number;
  total: number;
  keySize: number;
  valSize: number;
  keySpaceSize: number;
  consistency: "l" | "s";
  sequentialKeys: boolean;
  progress: boolean;
}

export const USAGE = `usage: npm run bench -- <put|range|txn-put|watch-latency> [options]
  --endpoints a,b      gRPC endpoints (default 127.0.0.1:2379)
  --clients C          concurrent requests in flight (default 1)
  --conns N            gRPC connections shared by the clients (default 1)
  --total T            requests to send (default 10000)
  --key-size K         key size in bytes (default 8)
  --val-size V         value size in bytes (default 8)
  --key-space-size S   distinct keys (default 1)
  --sequential-keys    use keys 0..S-1 in order instead of at random
  --consistency l|s    linearizable or serializable ranges (default l)
  --no-progress        no progress bar`;

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      endpoints: { type: "string", default: "127.0.0.1:2379" },
      clients: { type: "string", default: "1" },
      conns: { type: "string", default: "1" },
      total: { type: "string", default: "10000" },
      "key-size": { type: "string", default: "8" },
      "val-size": { type: "string", default: "8" },
      "key-space-size": { type: "string", default: "1" },
      "sequential-keys": { type: "boolean", default: false },
      consistency: { type: "string", default: "l" },
      "no-progress": { type: "boolean", default: false },
    },
  });
  const workload = positionals[0];
  if (!WORKLOADS.includes(workload as Workload))
    throw new Error(`unknown workload ${JSON.stringify(workload)}\n${USAGE}`);
  const int = (name: string, text: string | undefined, min: number) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} must be an integer >= ${min}, got ${text}`);
    return n;
  };
  const consistency = values.consistency;
  if (consistency !== "l" && consistency !== "s")
    throw new Error(`--consistency must be l or s, got ${consistency}`);
  return {
    workload: workload as Workload,
    endpoints: String(values.endpoints)
      .split(",")
      .map((e) => e.replace(/^https?:\/\//, "").trim())
      .filter(Boolean),
    clients: int("clients", values.clients, 1),
    conns: int("conns", values.conns, 1),
    total: int("total", values.total, 1),
    keySize: int("key-size", values["key-size"], 1),
    valSize: int("val-size", values["val-size"], 0),
    keySpaceSize: int("key-space-size", values["key-space-size"], 1),
    consistency,
    sequentialKeys: Boolean(values["sequential-keys"]),
    progress: !values["no-progress"],
  };
}
