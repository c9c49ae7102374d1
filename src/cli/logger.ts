// The server's pino logger, built from --log-level and --log-outputs.

import pino, { type DestinationStream, type Level, type Logger } from "pino";
import type { Config, LogLevel } from "../config/index.js";

/** etcd's levels on pino's: dpanic/panic/fatal all keep only the most severe messages. */
export function pinoLevel(level: LogLevel): Level {
  switch (level) {
    case "debug":
    case "info":
    case "warn":
    case "error":
      return level;
    case "dpanic":
    case "panic":
    case "fatal":
      return "fatal";
  }
}

export interface ServerLogger {
  logger: Logger;
  /** Lines that could not go to the configured outputs (e.g. journald), to log once ready. */
  warnings: string[];
}

/** An output name to a destination: stderr for "default", "stderr" and journald, else a file. */
function destinationFor(output: string, warnings: string[]): DestinationStream {
  switch (output) {
    case "default":
    case "stderr":
      return pino.destination({ dest: 2, sync: true });
    case "stdout":
      return pino.destination({ dest: 1, sync: true });
    case "systemd/journal":
      warnings.push("log output systemd/journal is not supported; logging to stderr instead");
      return pino.destination({ dest: 2, sync: true });
    default:
      // Appends, as etcd does; the directory must exist.
      return pino.destination({ dest: output, append: true, sync: true });
  }
}

export function createLogger(
  config: Pick<Config, "logLevel" | "logOutputs" | "debug" | "name">,
): ServerLogger {
  const warnings: string[] = [];
  const level = config.debug ? "debug" : pinoLevel(config.logLevel);
  const outputs = config.logOutputs.length > 0 ? [...new Set(config.logOutputs)] : ["default"];
  const streams = outputs.map((o) => destinationFor(o, warnings));
  const options = { level, base: { name: config.name, pid: process.pid } };
  const logger =
    streams.length === 1
      ? pino(options, streams[0])
      : pino(
          options,
          pino.multistream(
            streams.map((stream) => ({ stream, level })),
            { dedupe: false },
          ),
        );
  return { logger, warnings };
}
