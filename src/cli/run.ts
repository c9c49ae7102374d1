// The `rxetcd` command from argv to exit code: configuration, help and version, logger,
// data-dir identification, then the server (embed) or the v2 proxy, signals and systemd.

import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { type Config, helpText, loadConfig, versionText } from "../config/index.js";
import { DataDirError, type DataDirType, identifyDataDir } from "./data-dir.js";
import { createLogger } from "./logger.js";
import { handleShutdownSignals } from "./signals.js";
import { notifySystemdReady } from "./systemd.js";

/** What the command needs of a started server (embed's Etcd handle, structurally). */
export interface RunningServer {
  close(): Promise<void> | void;
  /** Resolves once the server has joined the cluster and serves clients. */
  ready?: Promise<unknown>;
  /** Resolves (or rejects with the fatal error) once the server has stopped. */
  stopped?: Promise<unknown>;
}

export type StartServer = (config: Config, extras: { logger: Logger }) => Promise<RunningServer>;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** embed's startEtcd, or undefined when this build has no server. */
  loadServer(): Promise<StartServer | undefined>;
  /** The v2 proxy's starter, or undefined when this build has none. */
  loadProxy(): Promise<StartServer | undefined>;
}

export function rxetcdVersion(): string {
  // src/cli/ in a checkout, dist/src/cli/ or a bundle file in dist/bundle/ in the build: the
  // package root is a few levels up
  for (const path of ["../package.json", "../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "rxetcd") return pkg.version ?? "unknown";
    } catch {
      // not here
    }
  }
  return "unknown";
}

function errorLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

/** The wrapped cause of a bootstrap's DiscoveryError ("discovery: cluster is full" ...). */
function discoveryCause(err: Error): string {
  const inner = (err as Error & { err?: unknown }).err;
  return inner instanceof Error ? inner.message : "";
}

/**
 * Starts the member; when discovery finds the cluster full and --discovery-fallback is proxy, starts the
 * v2 proxy instead (etcd's fallback).
 */
async function startOrFallBack(
  start: StartServer,
  asProxy: boolean,
  config: Config,
  logger: Logger,
  io: CliIo,
): Promise<RunningServer> {
  try {
    return await start(config, { logger });
  } catch (err) {
    const full =
      !asProxy &&
      err instanceof Error &&
      err.name === "DiscoveryError" &&
      discoveryCause(err) === "discovery: cluster is full";
    if (!full || config.discoveryFallback !== "proxy") throw err;
    logger.warn(
      { "fallback-proxy": "proxy", error: (err as Error).message },
      "discovery cluster is full, falling back to proxy",
    );
    const proxy = await io.loadProxy();
    if (!proxy) throw new Error("proxy not available in this build");
    return proxy(config, { logger });
  }
}

/** etcd's advice after a failed bootstrap through discovery. */
function logDiscoveryFailure(logger: Logger, config: Config, err: Error): void {
  const cause = discoveryCause(err);
  if (cause === "discovery: found duplicate id") {
    logger.warn(
      { name: config.name, "discovery-token": config.discovery, error: cause },
      "member has been registered with discovery service",
    );
    logger.warn({ "data-dir": config.dataDir }, "but could not find valid cluster configuration");
    logger.warn("check data dir if previous bootstrap succeeded");
    logger.warn("or use a new discovery token if previous bootstrap failed");
  } else if (cause === "discovery: found duplicate name") {
    logger.warn(
      { "discovery-token": config.discovery, error: cause },
      "member with duplicated name has already been registered",
    );
    logger.warn("cURL the discovery token URL for details");
    logger.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
  } else {
    logger.warn(
      { "discovery-token": config.discovery, error: err.message },
      "failed to bootstrap; discovery token was already used",
    );
    logger.warn("do not reuse discovery token; generate a new one to bootstrap a cluster");
  }
}

/** Runs the command; resolves to the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const sub = argv[0];
  if (sub === "gateway" || sub === "grpc-proxy") {
    io.stderr(`rxetcd: etcd's "${sub}" command is not available in rxetcd\n`);
    return 1;
  }
  const loaded = loadConfig(argv, io.env);
  switch (loaded.kind) {
    case "help":
      io.stdout(helpText());
      return 0;
    case "version":
      io.stdout(
        versionText({
          rxetcdVersion: rxetcdVersion(),
          nodeVersion: process.version,
          platform: process.platform,
          arch: process.arch,
        }),
      );
      return 0;
    case "error":
      // One line only: warnings gathered before the failure would bury it.
      if (loaded.exitCode === 2) io.stderr(`rxetcd: ${loaded.message}. See 'rxetcd --help'.\n`);
      else io.stderr(`rxetcd: error verifying flags, ${loaded.message}. See 'rxetcd --help'.\n`);
      return loaded.exitCode;
    case "config":
      break;
  }
  const config = loaded.config;

  let logger: Logger;
  try {
    const made = createLogger(config);
    logger = made.logger;
    for (const w of made.warnings) logger.warn(w);
  } catch (err) {
    io.stderr(`rxetcd: cannot open log output: ${errorLine(err)}\n`);
    return 1;
  }
  for (const n of loaded.notices) logger.info(n);
  for (const w of loaded.warnings) logger.warn(w);

  let dirType: DataDirType;
  try {
    const identity = identifyDataDir(config.dataDir);
    for (const w of identity.warnings) logger.warn({ "data-dir": config.dataDir }, w);
    dirType = identity.type;
  } catch (err) {
    if (!(err instanceof DataDirError)) throw err;
    logger.fatal({ "data-dir": config.dataDir }, err.message);
    io.stderr(`rxetcd: ${err.message}\n`);
    return 1;
  }
  if (dirType !== "empty") {
    logger.info({ "data-dir": config.dataDir, "dir-type": dirType }, "server has been already initialized");
  }
  // A member directory always starts a member; an empty one starts a proxy only in proxy mode
  // (or when discovery finds the cluster full and --discovery-fallback is proxy, below).
  const asProxy = dirType === "proxy" || (dirType === "empty" && config.proxy !== "off");

  const start = asProxy ? await io.loadProxy() : await io.loadServer();
  if (!start) {
    const what = asProxy ? "proxy" : "server";
    io.stderr(`rxetcd: ${what} not available in this build\n`);
    return 1;
  }

  let server: RunningServer;
  try {
    server = await startOrFallBack(start, asProxy, config, logger, io);
  } catch (err) {
    if (err instanceof Error && err.name === "DiscoveryError") {
      logDiscoveryFailure(logger, config, err);
    } else if (err instanceof Error && err.name === "EtcdDataDirRefused") {
      // a damaged etcd data dir is the user's to look at: the file and the fault, no stack
      logger.fatal({ "data-dir": config.dataDir }, err.message);
    } else {
      logger.error({ err }, "failed to start");
    }
    io.stderr(`rxetcd: ${errorLine(err)}\n`);
    return 1;
  }

  return new Promise<number>((resolve) => {
    const uninstall = handleShutdownSignals({
      close: () => server.close(),
      logger,
      exit: (code) => {
        uninstall();
        resolve(code);
      },
    });
    void (server.ready ?? Promise.resolve()).then(
      () => notifySystemdReady({ env: io.env, logger }),
      () => undefined,
    );
    server.stopped?.then(
      () => {
        uninstall();
        resolve(0);
      },
      (err: unknown) => {
        logger.fatal({ err }, "server stopped with an error");
        io.stderr(`rxetcd: ${errorLine(err)}\n`);
        uninstall();
        resolve(1);
      },
    );
  });
}
