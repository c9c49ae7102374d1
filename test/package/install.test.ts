// The package as a user gets it: `npm pack`, then `npm install --omit=dev` of the tarball in an empty
// project. The installed `rxetcd` command runs the compiled code with no TypeScript loader: it starts a
// member that etcdctl writes to and reads from, and stops on SIGTERM. Prints the tarball's size and
// the install's time. Needs the npm registry (or npm's cache holding the dependencies) and etcdctl.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { etcdctl, freePort } from "../e2e/harness.js";
import { buildCheckout } from "./build-once.js";
import { memberFlags, waitHealthy } from "./healthy.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));

describe("npm install of the packed tarball", { timeout: 600_000 }, () => {
  let work: string;
  let project: string;
  let member: ChildProcess | undefined;

  before(() => {
    work = mkdtempSync(join(tmpdir(), "rxetcd-install-"));
    project = join(work, "project");
    mkdirSync(project);
  });
  after(() => {
    member?.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  });

  it("installs from the tarball without development dependencies", (t) => {
    const built = buildCheckout(repo);
    assert.equal(built.status, 0, `npm run build failed:\n${built.stdout}${built.stderr}`);
    const packed = spawnSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], {
      cwd: repo,
      encoding: "utf8",
    });
    assert.equal(packed.status, 0, `npm pack failed: ${packed.stderr}`);
    const [info] = JSON.parse(packed.stdout) as {
      filename: string;
      size: number;
      unpackedSize: number;
      entryCount: number;
    }[];
    const tarball = join(work, info.filename);
    assert.ok(existsSync(tarball), `${tarball} exists`);
    assert.equal(statSync(tarball).size, info.size);

    writeFileSync(join(project, "package.json"), '{ "name": "uses-rxetcd", "private": true }\n');
    const started = performance.now();
    const installed = spawnSync(
      "npm",
      ["install", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", tarball],
      { cwd: project, encoding: "utf8", timeout: 500_000 },
    );
    const installMs = performance.now() - started;
    assert.equal(
      installed.status,
      0,
      `npm install of the tarball failed:\n${installed.stdout}${installed.stderr}`,
    );
    const modules = readdirSync(join(project, "node_modules"));
    for (const dev of ["typescript", "tsx", "esbuild", "@biomejs"]) {
      assert.ok(!modules.includes(dev), `${dev} is not installed with --omit=dev`);
    }
    assert.ok(!existsSync(join(project, "node_modules/rxetcd/src")), "no TypeScript sources in the package");
    t.diagnostic(
      `tarball ${(info.size / 1024).toFixed(0)} KiB (${info.entryCount} files, ${(info.unpackedSize / 1048576).toFixed(1)} MiB unpacked); ` +
        `npm install --omit=dev ${(installMs / 1000).toFixed(1)} s, ${modules.length} entries in node_modules`,
    );
  });

  it("the installed rxetcd command serves etcdctl's put and get, checks a password, and stops on SIGTERM", async () => {
    const command = join(project, "node_modules/.bin/rxetcd");
    assert.ok(existsSync(command), "npm linked the rxetcd command");
    const [client, peer] = [await freePort(), await freePort()];
    const clientUrl = `http://127.0.0.1:${client}`;
    const peerUrl = `http://127.0.0.1:${peer}`;
    let stderr = "";
    // run as npm runs a package's command: the file itself, through its #! line
    member = spawn(command, memberFlags(join(work, "member.etcd"), clientUrl, peerUrl), {
      cwd: project,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    member.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitHealthy(member, clientUrl, () => stderr);
    const put = await etcdctl(["--endpoints", clientUrl, "put", "installed", "from the tarball"]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(put.stdout.trim(), "OK");
    const get = await etcdctl(["--endpoints", clientUrl, "get", "installed", "--print-value-only"]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), "from the tarball");
    // a password hashed and checked: the native bcrypt library, which a member loads at its first use,
    // resolves from the installed package
    const root = await etcdctl(["--endpoints", clientUrl, "user", "add", "root:installed-pw"]);
    assert.equal(root.code, 0, root.stderr);
    const enable = await etcdctl(["--endpoints", clientUrl, "auth", "enable"]);
    assert.equal(enable.code, 0, enable.stderr);
    const asRoot = ["--endpoints", clientUrl, "--user", "root:installed-pw"];
    const authed = await etcdctl([...asRoot, "get", "installed", "--print-value-only"]);
    assert.equal(authed.code, 0, authed.stderr);
    assert.equal(authed.stdout.trim(), "from the tarball");
    const wrong = await etcdctl(["--endpoints", clientUrl, "--user", "root:not-it", "get", "installed"]);
    assert.notEqual(wrong.code, 0, "a wrong password is refused");
    assert.match(wrong.stderr, /authentication failed/);
    const exited = new Promise((r) => member?.once("exit", (code) => r(code)));
    member.kill("SIGTERM");
    assert.equal(await exited, 0, stderr);
    member = undefined;
  });
});
