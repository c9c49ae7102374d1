// End-to-end harness: real member processes (rxetcd or Debian's etcd) on loopback ports, and the real etcdctl.
// Members run as child processes so that SIGTERM and SIGKILL are real signals and restarts reuse the data dir.
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

export type Binary = "rxetcd" | "etcd";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const rxetcdBin = join(repoRoot, "bin", "rxetcd.js");

/** Which implementation the "rxetcd" side of the suite runs; E2E_TARGET=etcd points the suite at Debian's etcd. */
export const target: Binary = process.env.E2E_TARGET === "etcd" ? "etcd" : "rxetcd";

/** Finds an executable on PATH (or undefined). */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/bin").split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/** Path of etcdctl; throws the install hint when it is missing (an e2e run without etcdctl must fail, not pass). */
export function etcdctlPath(): string {
  const p = which("etcdctl");
  if (!p)
    throw new Error("etcdctl not found on PATH: apt-get install etcd-client is needed for the e2e suite");
  return p;
}

/** Debian's etcd server, used for side-by-side comparisons; absent in CI images with only etcd-client. */
export const debianEtcd: string | undefined = which("etcd");
/** The skip reason for comparison tests when Debian's etcd is not installed. */
export const needsDebianEtcd: string | false = debianEtcd
  ? false
  : "Debian's etcd is not installed (apt-get install etcd-server) - comparison skipped";

/**
 * Ports tests listen on come from below the kernel's range for ephemeral ports (32768 and up on Linux): a port
 * the kernel picked for `listen(0)` is one it may hand to any outgoing connection (another test's client, a peer
 * dialing) between our check and the member's own bind, which then fails with EADDRINUSE. 20000 and up is the
 * demos test's range.
 */
const TEST_PORTS = { from: 10000, to: 20000 };
/** Ports this process handed out already: never twice. */
const handedOut = new Set<number>();

function bindsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => res(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => res(true)));
  });
}

/** A free loopback TCP port (bound once, then released), from a range the kernel does not hand out by itself. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = TEST_PORTS.from + Math.floor(Math.random() * (TEST_PORTS.to - TEST_PORTS.from));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindsFree(port)) return port;
  }
  throw new Error(`no free port between ${TEST_PORTS.from} and ${TEST_PORTS.to} after 200 tries`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface MemberOptions {
  binary?: Binary;
  name?: string;
  /** Extra flags, e.g. ["--election-timeout", "500", "--heartbeat-interval", "50"]. */
  extraArgs?: string[];
  /** Milliseconds to wait for /health; default 30 s. */
  startTimeoutMs?: number;
  /** --initial-cluster; default: this member alone; "" leaves the flag out. */
  initialCluster?: string;
  /** The peer URLs' scheme (https needs the --peer-* TLS flags in extraArgs). */
  peerScheme?: "http" | "https";
  /** Flags of a cluster member (--initial-cluster-state, --initial-cluster-token ...), kept across restarts. */
  clusterArgs?: string[];
  /** Runs before the first start, while the data dir does not exist yet (e.g. to restore a snapshot into it). */
  prepare?: (member: Member) => Promise<void>;
  /** Serve clients over TLS with these files (and check /health with the client certificate). */
  clientTls?: ClientTlsFiles;
  /** Serve clients over https with --auto-tls (the harness checks /health without verifying the certificate). */
  clientAutoTls?: boolean;
  /** Environment variables on top of this process's (e.g. RXETCD_CLIENT_THREAD). */
  env?: Record<string, string>;
}

/** PEM files for a member's TLS client port and for the harness's own client. */
export interface ClientTlsFiles {
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Given: the member requires client certificates signed by `ca` (--client-cert-auth). */
  clientCert?: string;
  clientKey?: string;
}

export interface CtlResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

export interface CtlOptions {
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

const allMembers = new Set<Member>();

/** Stops and removes every member this process started (for `after` hooks; also covers half-finished start-ups). */
export async function destroyAllMembers(): Promise<void> {
  await Promise.all([...allMembers].map((m) => m.destroy()));
}

// a member left running would keep the test process (and the runner) alive
process.on("exit", () => {
  for (const m of allMembers) if (m.running && m.pid) process.kill(m.pid, "SIGKILL");
});

/** One member process, its ports, data dir and log file. */
export class Member {
  readonly binary: Binary;
  readonly name: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly clientPort: number;
  readonly peerPort: number;
  private readonly extraArgs: string[];
  private readonly startTimeoutMs: number;
  readonly clientTls: ClientTlsFiles | undefined;
  readonly clientAutoTls: boolean;
  /** --initial-cluster, settable until the first launch (a cluster knows every member's ports only then). */
  initialCluster: string | undefined;
  /** The peer URL other members dial, when it is not the listening one (a proxy in front of it). */
  advertisedPeerUrl: string | undefined;
  private readonly clusterArgs: string[];
  private readonly peerScheme: "http" | "https";
  private readonly env: Record<string, string>;
  private child: ChildProcess | undefined;
  private exited: Promise<ExitStatus> | undefined;
  private starts = 0;

  private constructor(opts: MemberOptions, clientPort: number, peerPort: number, workDir: string) {
    this.binary = opts.binary ?? target;
    this.name = opts.name ?? "e2e";
    this.extraArgs = opts.extraArgs ?? [];
    this.startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    this.clientTls = opts.clientTls;
    this.clientAutoTls = opts.clientAutoTls ?? false;
    this.initialCluster = opts.initialCluster;
    this.peerScheme = opts.peerScheme ?? "http";
    this.clusterArgs = opts.clusterArgs ?? [];
    this.env = opts.env ?? {};
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.dataDir = join(workDir, "data");
    this.logFile = join(workDir, "member.log");
  }

  /** Starts a fresh member (new temp data dir, free ports) and waits until /health says true. */
  static async start(opts: MemberOptions = {}): Promise<Member> {
    const m = await Member.create(opts);
    await m.launch();
    return m;
  }

  /** A member with its ports and data dir chosen, not started yet (see `launch`). */
  static async create(opts: MemberOptions = {}): Promise<Member> {
    const workDir = mkdtempSync(join(tmpdir(), `e2e-${opts.binary ?? target}-`));
    const m = new Member(opts, await freePort(), await freePort(), workDir);
    allMembers.add(m);
    await opts.prepare?.(m);
    return m;
  }

  get clientUrl(): string {
    return `${this.clientTls || this.clientAutoTls ? "https" : "http"}://127.0.0.1:${this.clientPort}`;
  }
  get peerUrl(): string {
    return `${this.peerScheme}://127.0.0.1:${this.peerPort}`;
  }
  /** etcdctl's --endpoints value. */
  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
  /**
   * "running", or how the process ended and the end of its log: for an assertion's message, so that a member
   * that died shows why in the first lines a test run prints about the failure.
   */
  exitReport(logChars = 3000): string {
    if (this.running) return "running";
    const code = this.child?.exitCode;
    const signal = this.child?.signalCode;
    return `exited (code ${code ?? "-"}, signal ${signal ?? "-"})\n${this.logText(logChars)}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private args(): string[] {
    return [
      "--name",
      this.name,
      "--data-dir",
      this.dataDir,
      "--listen-client-urls",
      this.clientUrl,
      "--advertise-client-urls",
      this.clientUrl,
      "--listen-peer-urls",
      this.peerUrl,
      "--initial-advertise-peer-urls",
      this.advertisedPeerUrl ?? this.peerUrl,
      // "" leaves the flag out (a member bootstrapping through discovery)
      ...(this.initialCluster === ""
        ? []
        : ["--initial-cluster", this.initialCluster ?? `${this.name}=${this.peerUrl}`]),
      ...this.clusterArgs,
      ...(this.binary === "etcd" ? ["--logger", "zap", "--log-outputs", "stderr"] : []),
      ...(this.clientTls
        ? [
            "--cert-file",
            this.clientTls.serverCert,
            "--key-file",
            this.clientTls.serverKey,
            "--trusted-ca-file",
            this.clientTls.ca,
            ...(this.clientTls.clientCert ? ["--client-cert-auth"] : []),
          ]
        : []),
      ...(this.clientAutoTls ? ["--auto-tls"] : []),
      ...this.extraArgs,
    ];
  }

  /** Starts the process and waits until /health says true. */
  async launch(): Promise<void> {
    this.spawnProcess();
    await this.waitHealthy(this.startTimeoutMs);
  }

  /** Starts the process without waiting for it (for members expected to fail or to wait for others). */
  spawnProcess(extraArgs: string[] = []): void {
    this.starts++;
    const fd = openSync(this.logFile, "a");
    const [cmd, argv] =
      this.binary === "etcd"
        ? [debianEtcd ?? "etcd", [...this.args(), ...extraArgs]]
        : [process.execPath, [rxetcdBin, ...this.args(), ...extraArgs]];
    const child = spawn(cmd, argv, {
      cwd: repoRoot,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...this.env },
    });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise<ExitStatus>((res) => {
      child.on("exit", (code, signal) => res({ code, signal }));
      child.on("error", () => res({ code: -1, signal: null }));
    });
  }

  /** Waits for the process to end by itself; undefined when it still runs after timeoutMs. */
  async waitExit(timeoutMs: number): Promise<ExitStatus | undefined> {
    if (!this.exited) throw new Error("member was never started");
    const timer = new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref());
    return Promise.race([this.exited, timer]);
  }

  /** Polls GET /health until it answers 200 {"health":"true"}; fails early when the process exits. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (!this.running) {
        const st = await this.exited;
        throw new Error(
          `${this.binary} exited during start-up (code ${st?.code}, signal ${st?.signal})\n${this.logText()}`,
        );
      }
      try {
        const res = this.clientTls
          ? await tlsGet(`${this.clientUrl}/health`, this.clientTls)
          : this.clientAutoTls
            ? await tlsGet(`${this.clientUrl}/health`, "self-signed")
            : await fetch(`${this.clientUrl}/health`, { signal: AbortSignal.timeout(1000) }).then(
                async (r) => ({
                  status: r.status,
                  text: await r.text(),
                }),
              );
        last = `${res.status} ${res.text}`;
        if (res.status === 200 && JSON.parse(res.text).health === "true") return;
      } catch (err) {
        last = String(err);
      }
      await sleep(100);
    }
    throw new Error(`${this.binary} not healthy after ${timeoutMs} ms (last: ${last})\n${this.logText()}`);
  }

  /** Sends a signal and waits for the process to end. */
  async signal(sig: NodeJS.Signals, timeoutMs = 15_000): Promise<ExitStatus> {
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) throw new Error("member was never started");
    if (this.running) child.kill(sig);
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs).unref());
    const st = await Promise.race([exited, timer]);
    if (st === "timeout") {
      child.kill("SIGKILL");
      throw new Error(`${this.binary} did not exit within ${timeoutMs} ms of ${sig}\n${this.logText()}`);
    }
    return st;
  }

  /** Graceful stop (SIGTERM). */
  stop(): Promise<ExitStatus> {
    return this.signal("SIGTERM");
  }
  /** Crash (SIGKILL). */
  kill(): Promise<ExitStatus> {
    return this.signal("SIGKILL");
  }

  /** Starts the member again on the same data dir and ports. */
  async restart(): Promise<void> {
    if (this.running) throw new Error("restart of a running member");
    await this.launch();
  }

  /** Kills the process if needed and removes its files. */
  async destroy(): Promise<void> {
    if (this.running) await this.kill().catch(() => {});
    allMembers.delete(this);
    rmSync(join(this.dataDir, ".."), { recursive: true, force: true });
  }

  /** The member's log with a header; the tail when long. */
  logText(maxChars = 8000): string {
    let text = "";
    try {
      text = readFileSync(this.logFile, "utf8");
    } catch {}
    const shown = text.length > maxChars ? `...${text.slice(-maxChars)}` : text;
    return `---- ${this.binary} log ${this.logFile} (started ${this.starts}x) ----\n${shown}\n---- end of log ----`;
  }

  /** Runs etcdctl (API v3) against this member. */
  etcdctl(args: string[], opts: CtlOptions = {}): Promise<CtlResult> {
    return etcdctl([`--endpoints=${this.endpoint}`, ...args], opts);
  }

  /** Starts etcdctl in the background (e.g. `watch`); the caller reads its output and stops it. */
  spawnEtcdctl(args: string[]): BackgroundCtl {
    return new BackgroundCtl([`--endpoints=${this.endpoint}`, ...args]);
  }

  /** HTTP request against the client port (gateway, /health, /version, /metrics). */
  async http(
    path: string,
    init: { method?: string; body?: string | object } = {},
  ): Promise<{ status: number; text: string; json: () => unknown; headers: Headers }> {
    const body = typeof init.body === "object" ? JSON.stringify(init.body) : init.body;
    const res = await fetch(`${this.clientUrl}${path}`, {
      method: init.method ?? (body === undefined ? "GET" : "POST"),
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, text, json: () => JSON.parse(text), headers: res.headers };
  }
}

/**
 * POSTs to a streaming gateway path (e.g. /v3/watch) and returns the first `n` lines of the chunked answer, each
 * parsed as JSON; the request is aborted afterwards.
 */
export async function streamLines(
  url: string,
  body: object,
  n: number,
  timeoutMs = 10_000,
): Promise<unknown[]> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  let text = "";
  try {
    const res = await fetch(url, { method: "POST", body: JSON.stringify(body), signal: ctl.signal });
    if (!res.body) throw new Error(`no body from ${url} (status ${res.status})`);
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      text += decoder.decode(chunk, { stream: true });
      const lines = text.split("\n").filter((l) => l.trim() !== "");
      if (lines.length >= n && text.endsWith("\n")) return lines.slice(0, n).map((l) => JSON.parse(l));
    }
    throw new Error(`stream ${url} ended after: ${text}`);
  } catch (err) {
    if (ctl.signal.aborted) throw new Error(`timed out reading ${n} lines from ${url}, got: ${text}`);
    throw err;
  } finally {
    clearTimeout(timer);
    ctl.abort();
  }
}

/**
 * A GET over TLS with the harness's CA and client certificate (fetch takes neither), or without
 * verifying a member's self-signed (--auto-tls) certificate.
 */
export function tlsGet(
  url: string,
  files: ClientTlsFiles | "self-signed",
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(
      url,
      {
        ...(files === "self-signed"
          ? { rejectUnauthorized: false }
          : {
              ca: readFileSync(files.ca),
              ...(files.clientCert && files.clientKey
                ? { cert: readFileSync(files.clientCert), key: readFileSync(files.clientKey) }
                : {}),
            }),
        timeout: 1000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Runs `etcdctl` with ETCDCTL_API=3; never throws on a non-zero exit (the caller checks `code`). */
export function etcdctl(args: string[], opts: CtlOptions = {}): Promise<CtlResult> {
  const bin = etcdctlPath();
  // etcdctl's own 5 s limit per command is short on a loaded 2-core machine (an authenticated put
  // to a member just started is a bcrypt comparison and a write); a test's own flag still wins
  // (etcdctl stops when a variable and a flag both set it)
  const timeout = args.some((a) => a.startsWith("--command-timeout"))
    ? {}
    : { ETCDCTL_COMMAND_TIMEOUT: "15s" };
  return new Promise((res, rej) => {
    const child = spawn(bin, args, {
      env: { ...process.env, ETCDCTL_API: "3", ...timeout, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 20_000);
    child.on("error", rej);
    child.on("close", (code) => {
      clearTimeout(timer);
      res({ stdout, stderr, code });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** A long-running etcdctl (watch, lease keep-alive) whose output lines are collected. */
export class BackgroundCtl {
  private readonly child: ChildProcess;
  private out = "";
  private err = "";
  private waiters: Array<() => void> = [];
  readonly closed: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(etcdctlPath(), args, {
      env: { ...process.env, ETCDCTL_API: "3" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const wake = () => {
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      this.out += d;
      wake();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.err += d;
      wake();
    });
    this.closed = new Promise((r) =>
      this.child.on("close", (code) => {
        wake();
        r(code);
      }),
    );
  }

  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }

  /** Waits until stdout has at least `lines` complete lines (or fails after timeoutMs with what it saw). */
  async waitForLines(lines: number, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.out.split("\n").slice(0, -1);
      if (got.length >= lines) return got;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null) {
        throw new Error(
          `expected ${lines} lines from etcdctl ${this.child.spawnargs.slice(1).join(" ")}, got:\n${this.out}\nstderr:\n${this.err}`,
        );
      }
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, Math.min(left, 200));
      });
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.closed;
  }
}

/** Replaces ids, revisions and timings in etcdctl output so that rxetcd and etcd outputs compare equal. */
export function maskVolatile(text: string): string {
  return text
    .replace(
      /"(cluster_id|member_id|ID|id|raft_term|revision|create_revision|mod_revision|header)":\s*"?\d+"?/g,
      '"$1":N',
    )
    .replace(/"(ClusterID|MemberID|RaftTerm|Revision|CreateRevision|ModRevision|ID)" : \d+/g, '"$1" : N')
    .replace(/\b[0-9a-f]{16}\b/g, "<hex-id>")
    .replace(/took = [^\n]*/g, "took = <t>");
}

let setup: (() => Promise<void>) | undefined;
let setupDone: Promise<void> | undefined;

/**
 * Registers the file's member start-up. It runs once, on the first test, rather than in a `before` hook: a failing
 * hook fails the whole file even when its tests are marked todo, while a failing test body fails only that test.
 */
export function startMembersOnce(start: () => Promise<void>): void {
  setup = start;
  setupDone = undefined;
}

/**
 * node:test's `test`, but it first waits for the file's members (see startMembersOnce), and on failure prints the
 * logs of every member still registered, so a failing e2e test shows what the server said.
 */
export function e2eTest(
  name: string,
  options: { todo?: string | boolean; skip?: string | boolean; timeout?: number },
  fn: () => Promise<void>,
): void {
  test(name, { timeout: 60_000, ...options }, async () => {
    try {
      if (setup) {
        setupDone ??= setup();
        await setupDone;
      }
      await fn();
    } catch (err) {
      for (const m of allMembers) console.error(m.logText(4000));
      throw err;
    }
  });
}

/** A retry delay schedule in the shape the etcd3 client's `faultHandling.watchBackoff` takes. */
export interface Backoff {
  readonly duration: number;
  next(): Backoff;
}

/**
 * Watch reconnect backoff for tests: doubles from 50 ms up to 500 ms. The client's default grows to 30 s while a
 * member is down, and a reconnect timer still pending after `close()` keeps the test process alive that long.
 */
export function cappedWatchBackoff(ms = 50): Backoff {
  return { duration: ms, next: () => cappedWatchBackoff(Math.min(ms * 2, 500)) };
}

/** Polls `probe` until it returns a value other than undefined. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ""}`);
}
