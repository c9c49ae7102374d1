// The package as npm would ship it: `npm run build` compiles to dist/, `npm pack` takes only the
// compiled code, and that file set, with the runtime dependencies alone (no tsx, no TypeScript),
// starts a member that serves requests and exports startEtcd.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort } from "../e2e/harness.js";
import { buildCheckout } from "./build-once.js";
import { memberFlags, waitHealthy } from "./healthy.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as {
  devDependencies: Record<string, string>;
};

/** The files `npm pack` would put in the tarball. */
function packedFiles(): string[] {
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: repo,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, `npm pack --dry-run failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
}

/** node_modules with every installed package but the development ones, as `--omit=dev` leaves it. */
function runtimeModules(into: string): void {
  const dev = new Set(Object.keys(pkg.devDependencies));
  mkdirSync(into, { recursive: true });
  const from = join(repo, "node_modules");
  for (const name of readdirSync(from)) {
    if (name.startsWith(".")) continue;
    if (name.startsWith("@")) {
      mkdirSync(join(into, name));
      for (const sub of readdirSync(join(from, name))) {
        if (!dev.has(`${name}/${sub}`)) symlinkSync(join(from, name, sub), join(into, name, sub));
      }
    } else if (!dev.has(name)) symlinkSync(join(from, name), join(into, name));
  }
}

describe("the built package", { timeout: 240_000 }, () => {
  let root: string;
  let files: string[];
  let member: ChildProcess | undefined;

  before(() => {
    const built = buildCheckout(repo);
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}${built.stderr}`);
    files = packedFiles();
    root = mkdtempSync(join(tmpdir(), "rxetcd-package-"));
    for (const f of files) {
      mkdirSync(dirname(join(root, f)), { recursive: true });
      cpSync(join(repo, f), join(root, f));
    }
    runtimeModules(join(root, "node_modules"));
  });
  after(() => {
    member?.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  });

  it("ships compiled JavaScript and declarations, not the TypeScript sources or the tests", () => {
    for (const f of [
      "package.json",
      "bin/rxetcd.js",
      "dist/bundle/cli/main.js",
      "dist/bundle/embed/index.js",
      "dist/bundle/cli/command.vm.js",
      "dist/bundle/index.js",
    ]) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    assert.ok(files.includes("dist/src/embed/index.d.ts"), "startEtcd's types are in the package");
    assert.ok(files.includes("dist/src/index.d.ts"), "the package entry's types are in the package");
    assert.ok(files.includes("dist/streams/operators/refuse-above-rate.d.ts"), "streams' types are in it");
    assert.ok(
      files.some((f) => f.startsWith("dist/bundle/") && f.endsWith("/assets/index.html")),
      "the dashboard's files are in the package",
    );
    const strays = files.filter((f) => (f.endsWith(".ts") && !f.endsWith(".d.ts")) || f.startsWith("test/"));
    assert.deepEqual(strays, []);
  });

  it("starts a member from the compiled code that answers puts and ranges and serves the dashboard, also from its code cache", async () => {
    const [client, peer] = [await freePort(), await freePort()];
    const data = join(root, "member.etcd");
    const clientUrl = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    // the second start compiles the server from the code cache the first one left
    for (const start of ["first start", "restart with the code cache"]) {
      let stderr = "";
      member = spawn(
        process.execPath,
        [join(root, "bin/rxetcd.js"), ...memberFlags(data, clientUrl, peerUrl)],
        { cwd: root, stdio: ["ignore", "ignore", "pipe"] },
      );
      member.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
      await waitHealthy(member, clientUrl, () => stderr);
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      const put = await fetch(`${clientUrl}/v3/kv/put`, {
        method: "POST",
        body: JSON.stringify({ key: b64("pkg"), value: b64("built") }),
      });
      assert.equal(put.status, 200);
      const range = (await (
        await fetch(`${clientUrl}/v3/kv/range`, { method: "POST", body: JSON.stringify({ key: b64("pkg") }) })
      ).json()) as { kvs: { value: string }[] };
      assert.equal(Buffer.from(range.kvs[0].value, "base64").toString(), "built");
      const dashboard = await fetch(`${clientUrl}/dashboard/dashboard.js`);
      assert.equal(dashboard.status, 200, "the bundle finds the dashboard's files");
      assert.ok((await dashboard.text()).length > 1000);
      // the event feed's socket.io is not in the command's server file: it loads from the dependencies
      const handshake = await fetch(`${clientUrl}/socket.io/?EIO=4&transport=polling`);
      assert.equal(handshake.status, 200, `the feed answers an engine.io handshake (${start})`);
      assert.match(await handshake.text(), /^0\{"sid":"/);
      const exited = new Promise((r) => member?.once("exit", (code) => r(code)));
      member.kill("SIGTERM");
      assert.equal(await exited, 0, stderr);
    }
  });

  it("a member loads node's own modules before the start-up flags are set (they would miss node's code cache after)", async () => {
    const [client, peer] = [await freePort(), await freePort()];
    const clientUrl = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    const report = join(root, "modules-after-flags.json");
    // runs before bin/rxetcd.js: notes node's modules when the flags are left on globalThis (right after
    // they are set), and at exit which of node's public modules were loaded after that
    const hook = `
      import { writeFileSync } from "node:fs";
      const key = Symbol.for("rxetcd.startUpFlags");
      let atFlags;
      Object.defineProperty(globalThis, key, {
        configurable: true,
        set(value) {
          atFlags = new Set(process.moduleLoadList);
          Object.defineProperty(globalThis, key, { value, writable: true, configurable: true });
        },
      });
      process.on("exit", () => {
        const later = process.moduleLoadList.filter(
          (m) => m.startsWith("NativeModule ") && !m.startsWith("NativeModule internal/") && !atFlags?.has(m),
        );
        writeFileSync(${JSON.stringify(report)}, JSON.stringify({ set: atFlags !== undefined, later }));
      });`;
    let stderr = "";
    member = spawn(
      process.execPath,
      [
        "--import",
        `data:text/javascript,${encodeURIComponent(hook)}`,
        join(root, "bin/rxetcd.js"),
        ...memberFlags(join(root, "modules.etcd"), clientUrl, peerUrl),
      ],
      { cwd: root, stdio: ["ignore", "ignore", "pipe"] },
    );
    member.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitHealthy(member, clientUrl, () => stderr);
    assert.equal((await fetch(`${clientUrl}/metrics`)).status, 200);
    const exited = new Promise((r) => member?.once("exit", (code) => r(code)));
    member.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    const seen = JSON.parse(readFileSync(report, "utf8")) as { set: boolean; later: string[] };
    assert.ok(seen.set, "bin/rxetcd.js left its start-up flags");
    assert.deepEqual(
      seen.later,
      [],
      "node's modules loaded after the flags were set (add them to bin/rxetcd.js)",
    );
  });

  it("exports startEtcd and the typed pieces the README documents to a project that installed it", () => {
    const project = join(root, "..", `${root.split("/").pop()}-user`);
    mkdirSync(join(project, "node_modules"), { recursive: true });
    symlinkSync(root, join(project, "node_modules", "rxetcd"));
    // the project's own rxjs, as a project composing operators has (the package's copy, for the test)
    symlinkSync(join(root, "node_modules", "rxjs"), join(project, "node_modules", "rxjs"));
    writeFileSync(join(project, "package.json"), '{"type":"module"}\n');
    try {
      // each export used as the README uses it: a codec decodes, an operator runs, an error carries its code
      const script = `
        import { of, lastValueFrom, toArray } from "rxjs";
        const m = await import("rxetcd");
        const event = { type: "kv", at: 1, member: "1", revision: 2, kind: "put", key: "k", value: "v",
          createRevision: 2, modRevision: 2, version: 1, lease: "0" };
        const redacted = await lastValueFrom(of(event).pipe(m.redactValues({ prefixes: ["k"] }), toArray()));
        console.log(JSON.stringify({
          startEtcd: typeof m.startEtcd,
          feedClient: typeof m.FeedClient.prototype.close,
          decodes: m.FeedEvent.is(event) && !m.FeedEvent.is({ type: "kv" }),
          topics: m.ALL_TOPICS.includes("kv"),
          redacted: redacted[0]?.value !== "v",
          error: new m.EtcdError(m.GrpcCode.ResourceExhausted, "etcdserver: too many requests").code,
          rate: typeof m.refuseAboveRate({ perSecond: 1 }, () => new Error("x")),
          config: m.buildConfig({ name: "pkg" }).name,
          urls: m.parseUrlList("http://127.0.0.1:2379").length,
        }));`;
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        cwd: project,
        encoding: "utf8",
      });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}"), {
        startEtcd: "function",
        feedClient: "function",
        decodes: true,
        topics: true,
        redacted: true,
        error: 8,
        rate: "function",
        config: "pkg",
        urls: 1,
      });
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
