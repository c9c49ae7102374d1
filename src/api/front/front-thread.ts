// Starts the client port's HTTP/2 thread (front-worker.ts), answers the calls it hands over on this
// thread (call-runner.ts) and serves the connections it hands over. Off unless asked for.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { UnaryMethod } from "../grpc/unary-call-base.js";
import { BatchMethods } from "./call-batch.js";
import { CallRunner } from "./call-runner.js";
import { decodeOrThrow, FrontReport, type FrontWorkerOptions } from "./front-messages.js";
import { PortDuplex } from "./port-duplex.js";

export interface FrontThreadOptions {
  /** The http:// client URLs the thread listens on (port 0 picks one). */
  readonly listenUrls: readonly URL[];
  /** The largest gRPC message taken (--max-request-bytes plus gRPC's overhead). */
  readonly maxReceiveBytes: number;
  /** The unary RPCs answered from the thread's batches (the unary fast path's). */
  readonly methods: ReadonlyMap<string, UnaryMethod>;
  /** Every unary RPC's path (for the ping policy). */
  readonly unaryPaths: readonly string[];
  /** --grpc-keepalive-min-time. */
  readonly pingMinTimeMs: number;
  /** The server's pings to its clients (--grpc-keepalive-interval and --grpc-keepalive-timeout). */
  readonly pingIntervalMs: number;
  readonly pingTimeoutMs: number;
  /** --max-concurrent-streams, when given. */
  readonly maxConcurrentStreams?: number;
  /**
   * Serves a connection the thread hands over: an HTTP/1.1 client connection, or the forwarded
   * streams of an HTTP/2 one.
   */
  readonly accept: (connection: PortDuplex, http2: boolean) => void;
}

/** Where the thread's failures after start are told. */
export interface FrontLogger {
  warn(obj: object, msg?: string): void;
}

export interface FrontThread {
  /** The URLs bound (port 0 replaced by the chosen port), in the order given. */
  readonly urls: URL[];
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
  options: FrontThreadOptions,
  logger?: FrontLogger,
): Promise<FrontThread> {
  for (const url of options.listenUrls)
    if (url.protocol !== "http:")
      throw new Error(`the client port's HTTP/2 thread serves http:// only, not ${url.href}`);
  const module = workerModule();
  const batchMethods = new BatchMethods([...options.methods.keys()]);
  const workerData: FrontWorkerOptions = {
    listeners: options.listenUrls.map((url) => ({
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: Number(url.port || 80),
    })),
    maxReceiveBytes: options.maxReceiveBytes,
    batchPaths: [...batchMethods.paths],
    unaryPaths: [...options.unaryPaths],
    pingMinTimeMs: options.pingMinTimeMs,
    pingIntervalMs: options.pingIntervalMs,
    pingTimeoutMs: options.pingTimeoutMs,
    ...(options.maxConcurrentStreams !== undefined
      ? { maxConcurrentStreams: options.maxConcurrentStreams }
      : {}),
  };
  const worker = module.pathname.endsWith(".ts")
    ? new Worker(throughTsx(module), { eval: true, workerData })
    : new Worker(module, { workerData });
  const runner = new CallRunner(batchMethods, options.methods, (batch) => worker.postMessage(batch, [batch]));
  const connections = new Set<PortDuplex>();
  const bound = await new Promise<URL[]>((resolve, reject) => {
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`the client port's HTTP/2 thread exited (${code})`)));
    worker.on("message", (message: unknown) => {
      if (message instanceof ArrayBuffer) {
        runner.run(message);
        return;
      }
      const report = decodeOrThrow(FrontReport, message, "a report of the client port's HTTP/2 thread");
      if (report.kind === "connection") {
        const { port, http2, kind: _, ...peer } = report;
        const connection = new PortDuplex(port, peer);
        connections.add(connection);
        // kept until the thread has read all of it, also after it was destroyed here
        void connection.released.then(() => connections.delete(connection));
        options.accept(connection, http2);
      } else if (report.kind === "failed")
        reject(new Error(`the client port's HTTP/2 thread: ${report.message}`));
      else
        resolve(
          options.listenUrls.map((listenUrl, i) => {
            const url = new URL(listenUrl.href);
            url.port = String(report.ports[i]);
            return url;
          }),
        );
    });
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  worker.removeAllListeners("exit");
  worker.removeAllListeners("error");
  worker.on("error", (err) => logger?.warn({ err: err.message }, "the client port's HTTP/2 thread failed"));
  return {
    urls: bound,
    close: async () => {
      // each connection ends after what was written to it (the last lines of open gateway streams),
      // and the thread lives on until its clients have those bytes, a second at most
      const closed = [...connections].map((c) => c.released);
      for (const connection of connections) connection.end();
      await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 1000))]);
      await worker.terminate();
      for (const connection of connections) connection.destroy();
    },
  };
}
