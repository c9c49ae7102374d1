// The workloads of bench:compare, as loadgen arguments. 8-byte keys and 256-byte values throughout.

export interface Workload {
  /** Short name for --rows. */
  readonly id: string;
  readonly label: string;
  /** loadgen runs that set the stage once per fresh deployment (not timed). */
  readonly prepare: readonly (readonly string[])[];
  /** The timed loadgen run; `total` is scaled by --quick. */
  readonly args: (total: number) => string[];
  readonly total: number;
}

const RANGE_KEY = "bench-range-key";
const putArgs = ["--key-size", "8", "--val-size", "256", "--key-space-size", "100000"];
const makeRangeKey = [
  "put",
  "--key-size",
  "0",
  "--key-prefix",
  RANGE_KEY,
  "--val-size",
  "256",
  "--total",
  "1",
];
const closedLoop = (clients: number, conns: number, total: number) => [
  "--clients",
  String(clients),
  "--conns",
  String(conns),
  "--total",
  String(total),
];

/**
 * In the order they run: reads before writes on each fresh deployment is not needed (every row gets
 * its own), but the order is also the table's.
 */
export const WORKLOADS: readonly Workload[] = [
  {
    id: "put-1",
    label: "put, 1 client",
    prepare: [],
    total: 3000,
    args: (n) => ["put", ...putArgs, ...closedLoop(1, 1, n)],
  },
  {
    id: "put-64",
    label: "put, 64 clients / 8 conns",
    prepare: [],
    total: 30000,
    args: (n) => ["put", ...putArgs, ...closedLoop(64, 8, n)],
  },
  {
    id: "put-256",
    label: "put, 256 clients / 16 conns",
    prepare: [],
    total: 40000,
    args: (n) => ["put", ...putArgs, ...closedLoop(256, 16, n)],
  },
  {
    id: "txn-put-64",
    label: "txn-put, 64 clients / 8 conns",
    prepare: [],
    total: 30000,
    args: (n) => ["txn-put", ...putArgs, ...closedLoop(64, 8, n)],
  },
  {
    id: "range-l-64",
    label: "range 1 key, linearizable, 64 clients",
    prepare: [makeRangeKey],
    total: 60000,
    args: (n) => ["range", RANGE_KEY, "--consistency", "l", ...closedLoop(64, 8, n)],
  },
  {
    id: "range-s-64",
    label: "range 1 key, serializable, 64 clients",
    prepare: [makeRangeKey],
    total: 80000,
    args: (n) => ["range", RANGE_KEY, "--consistency", "s", ...closedLoop(64, 8, n)],
  },
  {
    id: "watch",
    label: "watch, 100 watchers, closed loop",
    prepare: [],
    total: 2000,
    args: (n) => [
      "watch-latency",
      "--streams",
      "10",
      "--watchers-per-stream",
      "10",
      "--conns",
      "2",
      "--put-rate",
      "0",
      "--val-size",
      "256",
      "--total",
      String(n),
    ],
  },
];
