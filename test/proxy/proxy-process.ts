// A v2 proxy as a child process (rxetcd through its command, or Debian's etcd) and a plain HTTP/1.1
// request helper that follows no redirects, for the proxy tests.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { debianEtcd, freePort, sleep } from "../e2e/harness.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const rxetcdBin = join(repoRoot, "bin", "rxetcd.js");

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request; `body` given means POST unless a method is named. */
export function call(url: string, opts: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((done, fail) => {
    const options = {
      method: opts.method ?? (opts.body === undefined ? "GET" : "POST"),
      headers: opts.body === undefined ? {} : { "Content-Type": "application/json" },
      timeout: 15_000,
    };
    // https: a self-signed (auto TLS) certificate, not verified
    const req = url.startsWith("https:")
      ? httpsRequest(url, { ...options, rejectUnauthorized: false })
      : request(url, options);
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within 15 s`)));
    req.on("error", fail);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", fail);
      res.on("end", () =>
        done({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
    });
    req.end(opts.body);
  });
}

export type ProxyBinary = "rxetcd" | "etcd";

export class ProxyProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  readonly logFile: string;

  /** The listener's scheme (https with --auto-tls or certificate flags). */
  scheme: "http" | "https" = "http";

  private constructor(
    readonly binary: ProxyBinary,
    readonly workDir: string,
    readonly dataDir: string,
    readonly port: number,
  ) {
    this.logFile = join(workDir, "proxy.log");
  }

  /** A proxy with a new data dir and port, not started yet. */
  static async create(binary: ProxyBinary = "rxetcd"): Promise<ProxyProcess> {
    const workDir = mkdtempSync(join(tmpdir(), `proxy-${binary}-`));
    return new ProxyProcess(binary, workDir, join(workDir, "data"), await freePort());
  }

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.port}`;
  }

  get clusterFile(): string {
    return join(this.dataDir, "proxy", "cluster");
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process with the data dir, the listen URL and `flags`. */
  spawn(flags: string[]): void {
    const fd = openSync(this.logFile, "a");
    const args = ["--data-dir", this.dataDir, "--listen-client-urls", this.url, ...flags];
    const [cmd, argv] =
      this.binary === "etcd" ? [debianEtcd ?? "etcd", args] : [process.execPath, [rxetcdBin, ...args]];
    const child = spawn(cmd, argv, { cwd: repoRoot, stdio: ["ignore", fd, fd] });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((r) => child.once("exit", () => r()));
  }

  /** Starts and waits until the proxy lists at least one member endpoint. */
  async start(flags: string[], timeoutMs = 30_000): Promise<void> {
    this.spawn(flags);
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.binary} proxy exited during start-up\n${this.log()}`);
      try {
        const a = await call(`${this.url}/v2/config/local/proxy`);
        last = `${a.status} ${a.body}`;
        if (a.status === 200 && (JSON.parse(a.body) as { endpoints: string[] }).endpoints.length > 0) return;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new Error(`${this.binary} proxy not serving after ${timeoutMs} ms (last: ${last})\n${this.log()}`);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  async destroy(): Promise<void> {
    if (this.running) {
      this.child?.kill("SIGKILL");
      await this.exited;
    }
    rmSync(this.workDir, { recursive: true, force: true });
  }

  log(): string {
    try {
      return `---- ${this.binary} proxy log ----\n${readFileSync(this.logFile, "utf8").slice(-6000)}\n---- end ----`;
    } catch {
      return "(no log)";
    }
  }
}
