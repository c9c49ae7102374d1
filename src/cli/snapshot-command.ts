// `rxetcd snapshot restore FILE [flags]`: etcdctl 3.4's command of the same name, with its flags,
// defaults, messages and exit codes, writing an rxetcd data dir.

import type { RestoreOptions, RestoreResult } from "../server/snapshot-restore.js";

export interface SnapshotIo {
  stdout(text: string): void;
  stderr(text: string): void;
  restore(
    options: RestoreOptions,
    log: (msg: string, fields: Record<string, string>) => void,
  ): Promise<RestoreResult>;
}

/** etcdctl's exit codes (etcdctl/ctlv3/command/error.go). */
const EXIT_ERROR = 1;
const EXIT_BAD_ARGS = 128;

const DEFAULT_NAME = "default";

interface FlagSpec {
  name: string;
  kind: "string" | "bool";
  help: string;
  default: string;
}

const RESTORE_FLAGS: FlagSpec[] = [
  { name: "data-dir", kind: "string", default: "", help: "Path to the data directory" },
  {
    name: "initial-advertise-peer-urls",
    kind: "string",
    default: "http://localhost:2380",
    help: "List of this member's peer URLs to advertise to the rest of the cluster",
  },
  {
    name: "initial-cluster",
    kind: "string",
    // etcdctl fills it from the default name, whatever --name says
    default: `${DEFAULT_NAME}=http://localhost:2380`,
    help: "Initial cluster configuration for restore bootstrap",
  },
  {
    name: "initial-cluster-token",
    kind: "string",
    default: "etcd-cluster",
    help: "Initial cluster token for the etcd cluster during restore bootstrap",
  },
  { name: "name", kind: "string", default: DEFAULT_NAME, help: "Human-readable name for this member" },
  {
    name: "skip-hash-check",
    kind: "bool",
    default: "false",
    help: "Ignore snapshot integrity hash value (required if copied from data directory)",
  },
  {
    name: "wal-dir",
    kind: "string",
    default: "",
    help: "Path to the WAL directory (use --data-dir if none given)",
  },
];

function snapshotHelp(): string {
  return [
    "NAME:",
    "\tsnapshot - Manages etcd node snapshots",
    "",
    "USAGE:",
    "\trxetcd snapshot <subcommand> [flags]",
    "",
    "COMMANDS:",
    "\trestore\tRestores an etcd member snapshot to an etcd directory",
    "",
    "Take snapshots and read their status with etcdctl (snapshot save, snapshot status) against rxetcd.",
    "",
  ].join("\n");
}

function restoreHelp(): string {
  const lines = [
    "NAME:",
    "\tsnapshot restore - Restores an etcd member snapshot to an etcd directory",
    "",
    "USAGE:",
    "\trxetcd snapshot restore <filename> [options] [flags]",
    "",
    "OPTIONS:",
  ];
  for (const f of RESTORE_FLAGS) {
    const shown =
      f.kind === "bool" ? `--${f.name}[=${f.default}]` : `--${f.name}=${JSON.stringify(f.default)}`;
    lines.push(`      ${shown}\t${f.help}`);
  }
  return `${lines.join("\n")}\n`;
}

class FlagError extends Error {}

/** pflag's parsing of `--name value`, `--name=value` and bare booleans. */
function parseRestoreArgs(argv: readonly string[]): { args: string[]; flags: Map<string, string> } {
  const flags = new Map(RESTORE_FLAGS.map((f) => [f.name, f.default]));
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      args.push(a);
      continue;
    }
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const spec = RESTORE_FLAGS.find((f) => f.name === name);
    if (!spec || !a.startsWith("--"))
      throw new FlagError(`unknown flag: ${a.startsWith("--") ? `--${name}` : a}`);
    if (spec.kind === "bool") {
      const text = eq >= 0 ? body.slice(eq + 1) : "true";
      const value = parseGoBool(text);
      if (value === undefined)
        throw new FlagError(
          `invalid argument ${JSON.stringify(text)} for "--${name}" flag: strconv.ParseBool: parsing ${JSON.stringify(text)}: invalid syntax`,
        );
      flags.set(name, String(value));
    } else if (eq >= 0) {
      flags.set(name, body.slice(eq + 1));
    } else {
      if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
      flags.set(name, argv[++i]);
    }
  }
  return { args, flags };
}

function parseGoBool(text: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  return undefined;
}

/** The log lines etcdctl writes while restoring (zap's production JSON). */
function logLine(io: SnapshotIo, msg: string, fields: Record<string, string>): void {
  io.stderr(`${JSON.stringify({ level: "info", ts: Date.now() / 1000, msg, ...fields })}\n`);
}

/** Runs `rxetcd snapshot ...`; resolves to the exit code. */
export async function runSnapshotCommand(argv: readonly string[], io: SnapshotIo): Promise<number> {
  const sub = argv[0];
  if (sub === undefined || sub === "-h" || sub === "--help" || sub === "help") {
    io.stdout(snapshotHelp());
    return 0;
  }
  if (sub !== "restore") {
    io.stderr(`Error: unknown command ${JSON.stringify(sub)} for "rxetcd snapshot"\n${snapshotHelp()}`);
    return EXIT_ERROR;
  }
  const rest = argv.slice(1);
  if (rest.includes("-h") || rest.includes("--help")) {
    io.stdout(restoreHelp());
    return 0;
  }
  let parsed: ReturnType<typeof parseRestoreArgs>;
  try {
    parsed = parseRestoreArgs(rest);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    io.stderr(`Error: ${err.message}\n${restoreHelp()}`);
    return EXIT_ERROR;
  }
  if (parsed.args.length !== 1) {
    io.stderr("Error: snapshot restore requires exactly one argument\n");
    return EXIT_BAD_ARGS;
  }
  const flag = (name: string) => parsed.flags.get(name) ?? "";
  try {
    await io.restore(
      {
        snapshotPath: parsed.args[0],
        name: flag("name"),
        dataDir: flag("data-dir"),
        walDir: flag("wal-dir"),
        peerUrls: flag("initial-advertise-peer-urls"),
        initialCluster: flag("initial-cluster"),
        initialClusterToken: flag("initial-cluster-token"),
        skipHashCheck: flag("skip-hash-check") === "true",
      },
      (msg, fields) => logLine(io, msg, fields),
    );
  } catch (err) {
    io.stderr(`Error: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]}\n`);
    return EXIT_ERROR;
  }
  return 0;
}
