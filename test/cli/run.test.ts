import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type CliIo, type RunningServer, runCli, type StartServer } from "../../src/cli/run.js";
import type { Config } from "../../src/config/codec.js";
import { DiscoveryError, ErrDuplicateID, ErrFullCluster } from "../../src/discovery/index.js";

const root = mkdtempSync(join(tmpdir(), "rxetcd-run-"));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

interface Harness {
  io: CliIo;
  out: string[];
  err: string[];
  started: Config[];
  proxied: Config[];
}

function harness(
  opts: { server?: StartServer; proxy?: StartServer; env?: Record<string, string> } = {},
): Harness {
  const h: Harness = {
    out: [],
    err: [],
    started: [],
    proxied: [],
    io: {
      stdout: (t) => h.out.push(t),
      stderr: (t) => h.err.push(t),
      env: opts.env ?? {},
      loadServer: async () =>
        opts.server
          ? async (c, extras) => {
              h.started.push(c);
              return (opts.server as StartServer)(c, extras);
            }
          : undefined,
      loadProxy: async () =>
        opts.proxy
          ? async (c, extras) => {
              h.proxied.push(c);
              return (opts.proxy as StartServer)(c, extras);
            }
          : undefined,
    },
  };
  return h;
}

/** Flags for a quiet run in a fresh data dir: logs go to a file. */
function quiet(...more: string[]): string[] {
  const dir = join(root, `run${n++}`);
  mkdirSync(dir);
  return ["--data-dir", join(dir, "data"), "--logger=zap", `--log-outputs=${join(dir, "log")}`, ...more];
}

function stoppedServer(): { server: RunningServer; stop: () => void; closed: () => number } {
  let stop = () => {};
  let closes = 0;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  return {
    server: {
      close: () => {
        closes++;
        stop();
      },
      ready: Promise.resolve(),
      stopped,
    },
    stop: () => stop(),
    closed: () => closes,
  };
}

describe("the rxetcd command", () => {
  test("--help prints the help to stdout and exits 0", { timeout: 20_000 }, async () => {
    const h = harness();
    assert.equal(await runCli(["--help"], h.io), 0);
    assert.match(h.out.join(""), /^Usage:/);
    assert.match(h.out.join(""), /\nClustering:\n/);
    assert.deepEqual(h.err, []);
  });
  test("--version prints versions and exits 0", { timeout: 20_000 }, async () => {
    const h = harness();
    assert.equal(await runCli(["--version"], h.io), 0);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    assert.match(
      h.out.join(""),
      new RegExp(`^rxetcd Version: ${pkg.version.replaceAll(".", "\\.")}\netcd Version: 3\\.4\\.23\n`),
    );
  });
  test("a malformed command line is one line on stderr and exit code 2", { timeout: 20_000 }, async () => {
    const h = harness();
    assert.equal(await runCli(["--bogus"], h.io), 2);
    assert.deepEqual(h.err, ["rxetcd: flag provided but not defined: -bogus. See 'rxetcd --help'.\n"]);
    assert.deepEqual(h.out, []);
  });
  test("an invalid configuration is one line on stderr and exit code 1", { timeout: 20_000 }, async () => {
    const h = harness();
    assert.equal(await runCli(["--heartbeat-interval=0", "--logger=zap"], h.io), 1);
    assert.deepEqual(h.err, [
      "rxetcd: error verifying flags, --heartbeat-interval must be >0 (set to 0ms). See 'rxetcd --help'.\n",
    ]);
  });
  test("etcd's gateway and grpc-proxy commands are refused in one line", { timeout: 20_000 }, async () => {
    for (const sub of ["gateway", "grpc-proxy"]) {
      const h = harness();
      assert.equal(await runCli([sub, "start"], h.io), 1);
      assert.deepEqual(h.err, [`rxetcd: etcd's "${sub}" command is not available in rxetcd\n`]);
    }
  });
  test("a log output that cannot be opened is one line and exit code 1", { timeout: 20_000 }, async () => {
    const h = harness({ server: async () => stoppedServer().server });
    const argv = [
      "--data-dir",
      join(root, "lo"),
      "--logger=zap",
      `--log-outputs=${join(root, "no", "dir", "x.log")}`,
    ];
    assert.equal(await runCli(argv, h.io), 1);
    assert.equal(h.err.length, 1);
    assert.match(h.err[0], /^rxetcd: cannot open log output: .*ENOENT/);
    assert.equal(h.started.length, 0);
  });
  test("configuration warnings and notices go to the server log", { timeout: 20_000 }, async () => {
    const argv = quiet();
    const logFile = argv[3].slice("--log-outputs=".length);
    const h = harness({ env: { ETCD_UNKNOWN_THING: "1", ETCD_NAME: "n7" } });
    assert.equal(await runCli(argv, h.io), 1);
    const log = readFileSync(logFile, "utf8");
    assert.match(log, /"level":40,.*"msg":"unrecognized environment variable ETCD_UNKNOWN_THING=1"/);
    assert.match(log, /"level":30,.*"msg":"recognized and used environment variable ETCD_NAME=n7"/);
  });
  test("without a server in the build, says so and exits 1", { timeout: 20_000 }, async () => {
    const h = harness();
    assert.equal(await runCli(quiet(), h.io), 1);
    assert.deepEqual(h.err, ["rxetcd: server not available in this build\n"]);
  });
  test("starts the server with the loaded Config and exits 0 when it stops", {
    timeout: 20_000,
  }, async () => {
    const s = stoppedServer();
    const h = harness({ server: async () => s.server });
    const running = runCli(quiet("--name=n1"), h.io);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(h.started.length, 1);
    assert.equal(h.started[0].name, "n1");
    s.stop();
    assert.equal(await running, 0);
  });
  test("SIGTERM closes the server and exits 0", { timeout: 20_000 }, async () => {
    const s = stoppedServer();
    const h = harness({ server: async () => ({ close: s.server.close, ready: s.server.ready }) });
    const running = runCli(quiet(), h.io);
    await new Promise((r) => setTimeout(r, 20));
    process.emit("SIGTERM", "SIGTERM");
    assert.equal(await running, 0);
    assert.equal(s.closed(), 1);
    assert.equal(process.listenerCount("SIGTERM"), 0, "handlers removed afterwards");
  });
  test("a server that fails to start is one line on stderr and exit code 1", {
    timeout: 20_000,
  }, async () => {
    const h = harness({
      server: async () => {
        throw new Error("listen EADDRINUSE: address already in use 127.0.0.1:2379\nmore detail");
      },
    });
    assert.equal(await runCli(quiet(), h.io), 1);
    assert.deepEqual(h.err, ["rxetcd: listen EADDRINUSE: address already in use 127.0.0.1:2379\n"]);
  });
  test("a server that stops with an error exits 1", { timeout: 20_000 }, async () => {
    const h = harness({
      server: async () => ({ close: () => {}, stopped: Promise.reject(new Error("disk full")) }),
    });
    assert.equal(await runCli(quiet(), h.io), 1);
    assert.deepEqual(h.err, ["rxetcd: disk full\n"]);
  });
  test("a data dir with both member and proxy is refused", { timeout: 20_000 }, async () => {
    const argv = quiet();
    const dataDir = argv[1];
    mkdirSync(join(dataDir, "member"), { recursive: true });
    mkdirSync(join(dataDir, "proxy"));
    const h = harness({ server: async () => stoppedServer().server });
    assert.equal(await runCli(argv, h.io), 1);
    assert.deepEqual(h.err, ["rxetcd: invalid datadir. Both member and proxy directories exist.\n"]);
    assert.equal(h.started.length, 0);
  });
  test("proxy mode and proxy data dirs start the proxy; member dirs start a member even in proxy mode", {
    timeout: 20_000,
  }, async () => {
    const proxyRun = harness({ server: async () => stoppedServer().server });
    assert.equal(await runCli(quiet("--proxy=on"), proxyRun.io), 1);
    assert.deepEqual(proxyRun.err, ["rxetcd: proxy not available in this build\n"]);
    assert.equal(proxyRun.started.length, 0);

    const argv = quiet();
    mkdirSync(join(argv[1], "proxy"), { recursive: true });
    const s = stoppedServer();
    const fromDir = harness({ proxy: async () => s.server });
    const running = runCli(argv, fromDir.io);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(fromDir.proxied.length, 1);
    s.stop();
    assert.equal(await running, 0);

    const memberArgv = quiet("--proxy=on");
    mkdirSync(join(memberArgv[1], "member"), { recursive: true });
    const m = stoppedServer();
    const member = harness({ server: async () => m.server });
    const memberRun = runCli(memberArgv, member.io);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(member.started.length, 1);
    m.stop();
    assert.equal(await memberRun, 0);
  });
  test("a full discovery cluster starts the proxy with --discovery-fallback proxy, and exits with exit", {
    timeout: 20_000,
  }, async () => {
    const discovery = ["--discovery", "http://127.0.0.1:1/v2/keys/_etcd/registry/t"];
    const full = async (): Promise<RunningServer> => {
      throw new DiscoveryError("join", ErrFullCluster);
    };
    const s = stoppedServer();
    const fallback = harness({ server: full, proxy: async () => s.server });
    const running = runCli(quiet(...discovery), fallback.io);
    for (let i = 0; i < 500 && fallback.proxied.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(fallback.started.length, 1);
    assert.equal(fallback.proxied.length, 1, "the proxy took over");
    s.stop();
    assert.equal(await running, 0);

    const argv = quiet(...discovery, "--discovery-fallback", "exit");
    const exit = harness({ server: full, proxy: async () => stoppedServer().server });
    assert.equal(await runCli(argv, exit.io), 1);
    assert.equal(exit.proxied.length, 0);
    assert.deepEqual(exit.err, ["rxetcd: failed to join discovery cluster (discovery: cluster is full)\n"]);
    const log = readFileSync(join(argv[1], "..", "log"), "utf8");
    assert.match(log, /"msg":"failed to bootstrap; discovery token was already used"/);

    // any other discovery failure exits, whatever the fallback, with etcd's advice for it
    const dupArgv = quiet(...discovery);
    const dup = harness({
      server: async () => {
        throw new DiscoveryError("join", ErrDuplicateID);
      },
      proxy: async () => stoppedServer().server,
    });
    assert.equal(await runCli(dupArgv, dup.io), 1);
    assert.equal(dup.proxied.length, 0);
    assert.match(
      readFileSync(join(dupArgv[1], "..", "log"), "utf8"),
      /"msg":"member has been registered with discovery service"/,
    );
  });
  test("readiness is reported to systemd once the server is ready", { timeout: 20_000 }, async () => {
    const bin = join(root, "bin");
    mkdirSync(bin, { recursive: true });
    const marker = join(root, "notified.txt");
    writeFileSync(join(bin, "systemd-notify"), `#!/bin/sh\necho "$@" > ${JSON.stringify(marker)}\n`);
    chmodSync(join(bin, "systemd-notify"), 0o755);
    const s = stoppedServer();
    const h = harness({ server: async () => s.server, env: { NOTIFY_SOCKET: "/run/x.sock", PATH: bin } });
    const running = runCli(quiet(), h.io);
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      try {
        if (readFileSync(marker, "utf8").includes("--ready")) break;
      } catch {}
    }
    assert.match(readFileSync(marker, "utf8"), /^--ready --pid=\d+/);
    s.stop();
    assert.equal(await running, 0);
  });
});
