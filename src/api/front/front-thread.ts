// Starts the client port's HTTP/2 thread (front-worker.ts) and answers the calls it hands over on this
// thread (call-runner.ts). Off unless asked for; it listens on a port of its own.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { UnaryHandler } from "../client-handlers.js";
import type { GrpcMetrics } from "../grpc/grpc-metrics.js";
import { CallRunner } from "./call-runner.js";
import { decodeOrThrow, FrontReport, type FrontWorkerOptions } from "./front-messages.js";

export interface FrontThreadOptions {
  /** http://host:port the thread listens on (port 0 picks one). */
  readonly listenUrl: URL;
  /** The largest gRPC message taken (--max-request-bytes plus gRPC's overhead). */
  readonly maxReceiveBytes: number;
}

/** Where the thread's failures after start are told. */
export interface FrontLogger {
  warn(obj: object, msg?: string): void;
}

export interface FrontThread {
  /** The URL bound (port 0 replaced by the chosen port). */
  readonly url: URL;
  close(): Promise<void>;
}

/**
 * The worker's module: beside this one in the compiled tree (or as TypeScript in the sources), or in
 * the bundle's api/front/ directory, whose root is this code's directory or the one above it.
 */
function workerModule(): URL {
  const candidates = [
    "./front-worker.js",
    "./front-worker.ts",
    "./api/front/front-worker.js",
    "../api/front/front-worker.js",
  ].map((p) => new URL(p, import.meta.url));
  const found = candidates.find((u) => existsSync(fileURLToPath(u)));
  if (found === undefined)
    throw new Error("the client port's HTTP/2 thread module is missing from this build");
  return found;
}

/**
 * A thread's code that runs TypeScript sources: tsx's loader hooks, registered with --import or at run
 * time, do not reach a worker on Node 20, so the thread registers tsx's require hook and requires them.
 */
function throughTsx(module: URL): string {
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api");
  return `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(module))});`;
}

/** Starts the HTTP/2 thread and resolves once it listens. */
export async function startFrontThread(
  handlers: ReadonlyMap<string, UnaryHandler>,
  metrics: GrpcMetrics,
  options: FrontThreadOptions,
  logger?: FrontLogger,
): Promise<FrontThread> {
  if (options.listenUrl.protocol !== "http:")
    throw new Error(`the client port's HTTP/2 thread serves http:// only, not ${options.listenUrl.href}`);
  const module = workerModule();
  const workerData: FrontWorkerOptions = {
    host: options.listenUrl.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(options.listenUrl.port || 80),
    maxReceiveBytes: options.maxReceiveBytes,
  };
  const worker = module.pathname.endsWith(".ts")
    ? new Worker(throughTsx(module), { eval: true, workerData })
    : new Worker(module, { workerData });
  const runner = new CallRunner(handlers, metrics, (batch) => worker.postMessage(batch, [batch]));
  const bound = await new Promise<URL>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the client port's HTTP/2 thread exited (${code})`)));
    worker.on("message", (message: unknown) => {
      if (message instanceof ArrayBuffer) {
        runner.run(message);
        return;
      }
      const report = decodeOrThrow(FrontReport, message, "a report of the client port's HTTP/2 thread");
      if (report.kind === "failed") reject(new Error(`the client port's HTTP/2 thread: ${report.message}`));
      else {
        const url = new URL(options.listenUrl.href);
        url.port = String(report.port);
        resolve(url);
      }
    });
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  worker.removeAllListeners("exit");
  worker.removeAllListeners("error");
  worker.on("error", (err) => logger?.warn({ err: err.message }, "the client port's HTTP/2 thread failed"));
  return {
    url: bound,
    close: async () => {
      await worker.terminate();
    },
  };
}
