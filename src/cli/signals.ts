// Graceful shutdown on SIGINT/SIGTERM: the first signal closes the server and exits 0; a second
// signal while closing exits at once with the conventional 128+signal code.

import { constants } from "node:os";

export interface ShutdownLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ShutdownOptions {
  /** Closes the server; exit waits for it. */
  close: () => Promise<void> | void;
  logger: ShutdownLogger;
  signals?: readonly NodeJS.Signals[];
  /** Injectable for tests. */
  exit?: (code: number) => void;
  /** The process (or a stand-in emitter for tests). */
  target?: Pick<NodeJS.Process, "on" | "off">;
}

export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/** Installs the handlers; returns a function that removes them. */
export function handleShutdownSignals(options: ShutdownOptions): () => void {
  const signals = options.signals ?? (["SIGINT", "SIGTERM"] as const);
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const target = options.target ?? process;
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      options.logger.warn({ signal }, "received a second signal while shutting down; exiting now");
      exit(signalExitCode(signal));
      return;
    }
    closing = true;
    options.logger.info({ signal }, "received signal; shutting down");
    Promise.resolve()
      .then(() => options.close())
      .then(
        () => {
          options.logger.info({ signal }, "server closed");
          exit(0);
        },
        (err: unknown) => {
          options.logger.error({ signal, err }, "error while shutting down");
          exit(1);
        },
      );
  };
  for (const s of signals) target.on(s, onSignal);
  return () => {
    for (const s of signals) target.off(s, onSignal);
  };
}
