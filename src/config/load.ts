// Loading the configuration the way etcd 3.4's command does: flags first; --version; then either
// the YAML config file alone (flags and ETCD_* ignored) or flags plus ETCD_* variables; then
// validation, the defaults that depend on other settings, and a final io-ts check.

import { isLeft } from "fp-ts/lib/Either.js";
import { PathReporter } from "io-ts/lib/PathReporter.js";
import { type Config, ConfigCodec } from "./codec.js";
import { applyConfigFile, ConfigFileError } from "./config-file.js";
import { type DefaultHostDetector, detectDefaultHost } from "./default-host.js";
import {
  BCRYPT_DEFAULT_COST,
  BCRYPT_MAX_COST,
  BCRYPT_MIN_COST,
  DEFAULT_ADVERTISE_CLIENT_URLS,
  DEFAULT_INITIAL_ADVERTISE_PEER_URLS,
  DEFAULT_INITIAL_CLUSTER,
  DEFAULT_NAME,
  DEFAULT_SNAPSHOT_COUNT,
  defaultConfig,
} from "./defaults.js";
import { applyEnvironment, type Environment } from "./env.js";
import type { FlagState } from "./flags.js";
import { parseArgs } from "./parse-args.js";
import { parseUrlList } from "./urls.js";
import {
  reconcileLogOutputs,
  UNSET_ADVERTISE_CLIENT_URLS,
  validateAfterAdvertise,
  validateConfig,
} from "./validate.js";

export type LoadResult =
  | { kind: "help" }
  | { kind: "version" }
  /**
   * exitCode 2: the command line itself is malformed (Go's flag errors);
   * exitCode 1: a value or combination is invalid.
   */
  | { kind: "error"; exitCode: 1 | 2; message: string; warnings: string[] }
  | {
      kind: "config";
      config: Config;
      /** Lines to log at warning level once a logger exists. */
      warnings: string[];
      /** Lines to log at info level. */
      notices: string[];
    };

export const MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS = 100;
const DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS = 10 * 60 * 1000;
const DEFAULT_COMPACTION_BATCH_LIMIT = 1000;

function freshState(): FlagState {
  return {
    config: defaultConfig(),
    deprecatedLogOutput: ["default"],
    printVersion: false,
    set: new Set(),
    warnings: [],
    notices: [],
  };
}

/** Proxy mode, or a discovery that may fall back to proxy mode. */
export function mayBeProxy(config: Config): boolean {
  return config.proxy !== "off" || (config.discovery !== "" && config.discoveryFallback === "proxy");
}

/** etcd's InitialClusterFromName: this member alone at its advertised peer URLs. */
export function initialClusterFromName(config: Config): string {
  const name = config.name === "" ? DEFAULT_NAME : config.name;
  return config.initialAdvertisePeerUrls.map((u) => `${name}=${u.href}`).join(",");
}

export interface LoadOptions {
  /** Finds the machine's default host (injectable for tests). */
  defaultHost?: DefaultHostDetector;
}

/**
 * Loads the configuration from the command line (without the program name), the environment
 * and, when named, a config file.
 */
export function loadConfig(argv: readonly string[], env: Environment, options: LoadOptions = {}): LoadResult {
  const cli = freshState();
  const args = parseArgs(argv, cli);
  if (args.kind === "help") return { kind: "help" };
  if (args.kind === "error")
    return { kind: "error", exitCode: 2, message: args.message, warnings: cli.warnings };
  if (args.rest.length > 0) {
    return {
      kind: "error",
      exitCode: 1,
      message: `'${args.rest[0]}' is not a valid flag`,
      warnings: cli.warnings,
    };
  }
  if (cli.printVersion) return { kind: "version" };

  const configFile = cli.config.configFile !== "" ? cli.config.configFile : (env.ETCD_CONFIG_FILE ?? "");
  const state = configFile !== "" ? fromConfigFile(configFile, cli.warnings) : fromFlagsAndEnv(cli, env);
  if ("error" in state) {
    return { kind: "error", exitCode: 1, message: state.error, warnings: state.warnings };
  }
  finishDefaults(state, options.defaultHost ?? detectDefaultHost);
  const decoded = ConfigCodec.decode(state.config);
  if (isLeft(decoded)) {
    const why = PathReporter.report(decoded).join("; ");
    return { kind: "error", exitCode: 1, message: `invalid configuration: ${why}`, warnings: state.warnings };
  }
  return { kind: "config", config: decoded.right, warnings: state.warnings, notices: state.notices };
}

type Loaded = FlagState | { error: string; warnings: string[] };

function fromConfigFile(path: string, earlierWarnings: string[]): Loaded {
  const state = freshState();
  state.warnings.push(...earlierWarnings);
  state.config.configFile = path;
  try {
    applyConfigFile(state, path);
  } catch (err) {
    if (err instanceof ConfigFileError) return { error: err.message, warnings: state.warnings };
    throw err;
  }
  const c = state.config;
  // A discovery setting replaces the default initial cluster.
  if ((c.discovery !== "" || c.discoverySrv !== "") && c.initialCluster === DEFAULT_INITIAL_CLUSTER) {
    c.initialCluster = "";
  }
  if ((c.initialClusterState as string) === "") c.initialClusterState = "new";
  const outputs = reconcileLogOutputs(state.deprecatedLogOutput, c.logOutputs, state.warnings);
  if ("error" in outputs) return { error: outputs.error, warnings: state.warnings };
  c.logOutputs = outputs.outputs;
  const error = validateConfig(c, state.warnings);
  if (error !== undefined) return { error, warnings: state.warnings };
  state.notices.push(
    `loaded server configuration from ${path}; other command line flags and environment variables are ignored`,
  );
  return state;
}

function fromFlagsAndEnv(state: FlagState, env: Environment): Loaded {
  const envError = applyEnvironment(state, env);
  if (envError !== undefined) return { error: envError, warnings: state.warnings };
  const c = state.config;
  // Listening on chosen client URLs without advertising any is an error (below) unless proxying.
  if (state.set.has("listen-client-urls") && !state.set.has("advertise-client-urls") && !mayBeProxy(c)) {
    c.advertiseClientUrls = [];
  }
  if (
    (c.discovery !== "" || c.discoverySrv !== "" || c.discoverySrvName !== "") &&
    !state.set.has("initial-cluster")
  ) {
    c.initialCluster = "";
  }
  const outputs = reconcileLogOutputs(state.deprecatedLogOutput, c.logOutputs, state.warnings);
  if ("error" in outputs) return { error: outputs.error, warnings: state.warnings };
  c.logOutputs = outputs.outputs;
  let error = validateConfig(c, state.warnings);
  if (error === UNSET_ADVERTISE_CLIENT_URLS && mayBeProxy(c))
    error = validateAfterAdvertise(c, state.warnings);
  if (error !== undefined) return { error, warnings: state.warnings };
  return state;
}

/** Defaults etcd derives after validation, and the "0 means default" values made explicit. */
function finishDefaults(state: FlagState, defaultHost: DefaultHostDetector): void {
  const c = state.config;
  // Listening on 0.0.0.0 while advertising the default localhost URL: advertise the machine's
  // default host at the listen port instead, as etcd does.
  const lp = c.listenPeerUrls[0];
  const lc = c.listenClientUrls[0];
  const peerNeedsHost =
    lp?.hostname === "0.0.0.0" &&
    c.initialAdvertisePeerUrls.length === 1 &&
    c.initialAdvertisePeerUrls[0].href === DEFAULT_INITIAL_ADVERTISE_PEER_URLS;
  const clientNeedsHost =
    lc?.hostname === "0.0.0.0" &&
    c.advertiseClientUrls.length === 1 &&
    c.advertiseClientUrls[0].href === DEFAULT_ADVERTISE_CLIENT_URLS;
  const host = peerNeedsHost || clientNeedsHost ? defaultHost() : undefined;
  if (host !== undefined) {
    if (peerNeedsHost)
      c.initialAdvertisePeerUrls = parseUrlList(
        `${c.initialAdvertisePeerUrls[0].scheme}://${host}:${lp.port}`,
      );
    if (clientNeedsHost)
      c.advertiseClientUrls = parseUrlList(`${c.advertiseClientUrls[0].scheme}://${host}:${lc.port}`);
    state.notices.push(`detected default host for advertise: ${host}`);
  }
  if (c.name !== DEFAULT_NAME && c.initialCluster === DEFAULT_INITIAL_CLUSTER) {
    c.initialCluster = initialClusterFromName(c);
  }
  if (c.dataDir === "") {
    c.dataDir = `${c.name}.etcd`;
    state.warnings.push(`'data-dir' was empty; using default ${c.dataDir}`);
  }
  if (c.snapshotCount === 0) {
    c.snapshotCount = DEFAULT_SNAPSHOT_COUNT;
    state.notices.push(`updating snapshot-count to default ${DEFAULT_SNAPSHOT_COUNT}`);
  }
  if (c.experimentalWatchProgressNotifyIntervalMs <= 0) {
    c.experimentalWatchProgressNotifyIntervalMs = DEFAULT_WATCH_PROGRESS_NOTIFY_INTERVAL_MS;
  } else if (c.experimentalWatchProgressNotifyIntervalMs < MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS) {
    c.experimentalWatchProgressNotifyIntervalMs = MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS;
    state.warnings.push(
      `adjusting watch progress notify interval to minimum period ${MIN_WATCH_PROGRESS_NOTIFY_INTERVAL_MS}ms`,
    );
  }
  if (c.experimentalCompactionBatchLimit === 0)
    c.experimentalCompactionBatchLimit = DEFAULT_COMPACTION_BATCH_LIMIT;
  if (c.bcryptCost < BCRYPT_MIN_COST || c.bcryptCost > BCRYPT_MAX_COST) {
    state.warnings.push(
      `use default bcrypt cost ${BCRYPT_DEFAULT_COST} instead of the invalid given cost ${c.bcryptCost} (valid: ${BCRYPT_MIN_COST} to ${BCRYPT_MAX_COST})`,
    );
    c.bcryptCost = BCRYPT_DEFAULT_COST;
  }
  if (c.enableV2) state.warnings.push("--enable-v2 is accepted but rxetcd serves no v2 API");
}

export class ConfigError extends Error {}

/**
 * A Config for embedding (tests, demos, programs that start a server in-process): etcd's defaults
 * with `overrides` on top, checked and completed as a loaded configuration would be.
 * Throws ConfigError with the same one-line messages as the command.
 */
export function buildConfig(overrides: Partial<Config> = {}, options: LoadOptions = {}): Config {
  const state: FlagState = {
    config: { ...defaultConfig(), ...overrides },
    deprecatedLogOutput: ["default"],
    printVersion: false,
    set: new Set(),
    warnings: [],
    notices: [],
  };
  const error = validateConfig(state.config, state.warnings);
  if (error !== undefined) throw new ConfigError(error);
  finishDefaults(state, options.defaultHost ?? (() => undefined));
  const decoded = ConfigCodec.decode(state.config);
  if (isLeft(decoded))
    throw new ConfigError(`invalid configuration: ${PathReporter.report(decoded).join("; ")}`);
  return decoded.right;
}
