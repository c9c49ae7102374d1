// Readiness for systemd (Type=notify): when NOTIFY_SOCKET is set, report READY=1. Node cannot
// send unix datagrams, so this runs `systemd-notify --ready`; the unit then needs
// NotifyAccess=all. Without systemd-notify, a warning is logged and start-up goes on.

import { execFile } from "node:child_process";

export type NotifyOutcome = "skipped" | "notified" | "failed";

export interface NotifyOptions {
  env?: Readonly<Record<string, string | undefined>>;
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
  /** The notifier program; found on PATH by default. */
  command?: string;
  timeoutMs?: number;
}

export function notifySystemdReady(options: NotifyOptions): Promise<NotifyOutcome> {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === "") return Promise.resolve("skipped");
  const command = options.command ?? "systemd-notify";
  return new Promise((resolve) => {
    execFile(
      command,
      ["--ready", `--pid=${process.pid}`],
      { env: { ...env }, timeout: options.timeoutMs ?? 5000 },
      (err) => {
        if (err) {
          options.logger.warn(
            { err: err.message, command },
            "failed to notify systemd for readiness (is systemd-notify installed?)",
          );
          resolve("failed");
          return;
        }
        options.logger.info({ socket }, "notified systemd of readiness");
        resolve("notified");
      },
    );
  });
}
