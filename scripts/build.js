#!/usr/bin/env node
// `npm run build`: compiles src/ and streams/ to JavaScript with declarations in dist/ (tsc,
// incremental), then bundles the command and startEtcd with their dependencies into dist/bundle/
// (esbuild: one file per entry plus shared chunks, which loads in about half the time of hundreds
// of modules; and the server once more as one CommonJS file, which the command runs through V8's code
// cache), copies the dashboard's static files beside the code that serves them, and records
// when the build started, so that bin/rxetcd.js can tell a build from sources edited after it.
//   node scripts/build.js [--lenient]
// --lenient (npm's prepare, on every `npm install` of a checkout): a type error is reported but does
// not fail the install; the build is then not stamped, so bin/rxetcd.js keeps running the sources.
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const startedAt = Date.now();
const lenient = process.argv.includes("--lenient");
const fail = (why) => {
  console.error(`rxetcd build: ${why}; dist/ is not stamped as current`);
  process.exit(lenient ? 0 : 1);
};

let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  fail("TypeScript is not installed (npm install, with dev dependencies)");
}
const compiled = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], {
  cwd: root,
  stdio: "inherit",
});
if (compiled.status !== 0) fail("tsc failed");

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  fail("esbuild is not installed (npm install, with dev dependencies)");
}
// The bundle is built beside its place and moved in file by file (see publish below): a member started
// from dist/bundle while a build runs (a test building the package beside others that run it) must
// never find a file missing or half-written.
const published = join(root, "dist/bundle");
const bundle = join(root, "dist/bundle.next");
rmSync(bundle, { recursive: true, force: true });
// rxjs names its CommonJS build for the "node" condition, which esbuild takes first on Node: the whole
// library (about 220 modules, 250 kB) then went into every bundle and ran at every start. Its ES
// modules (rxjs's "es2015" build, same code) let esbuild keep only what rxetcd uses: about 40 kB.
const rxjsModules = join(
  dirname(createRequire(import.meta.url).resolve("rxjs/package.json")),
  "dist/esm/index.js",
);
const rxjsAsModules = {
  name: "rxjs-as-modules",
  setup(build) {
    build.onResolve({ filter: /^rxjs$/ }, () => ({ path: rxjsModules }));
  },
};
// what every bundle file shares
const shared = {
  bundle: true,
  platform: "node",
  target: "node20",
  // native code, and the optional native helpers of ws; grpc-js requires @grpc/proto-loader (and with
  // it protobufjs) only for channelz and ORCA, which rxetcd never serves: left out, it is not parsed
  // at every start
  external: ["lmdb", "msgpackr", "@node-rs/bcrypt", "bufferutil", "utf-8-validate", "@grpc/proto-loader"],
  // Start-up compiles every byte of the bundle: without whitespace and comments there is a third less
  // to read, and the source stays one byte per character (a comment with a curly quote made V8 keep
  // the whole file as UTF-16). Names are kept, so stack traces still name their functions. Licence
  // comments go to a .LEGAL.txt file beside each bundle file.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "external",
  plugins: [rxjsAsModules],
  logLevel: "warning",
};
try {
  await esbuild.build({
    ...shared,
    // cli/main.js finds cli/command.vm.js beside itself; index.js is the package's entry: startEtcd
    // and the typed pieces beside it
    entryPoints: [
      join(root, "dist/src/cli/main.js"),
      join(root, "dist/src/embed/index.js"),
      join(root, "dist/src/index.js"),
      // the client port's HTTP/2 thread: a worker_thread loads it by its own path
      join(root, "dist/src/api/front/front-worker.js"),
    ],
    outbase: join(root, "dist/src"),
    outdir: bundle,
    splitting: true,
    format: "esm",
    // CommonJS dependencies call require() and name __dirname; give every file its own
    banner: {
      js: [
        'import { createRequire as __rxetcdCreateRequire } from "node:module";',
        'import { fileURLToPath as __rxetcdFileURLToPath } from "node:url";',
        "const require = __rxetcdCreateRequire(import.meta.url);",
        "const __filename = __rxetcdFileURLToPath(import.meta.url);",
        'const __dirname = __rxetcdFileURLToPath(new URL(".", import.meta.url));',
      ].join("\n"),
    },
  });
  // The command with its server as one CommonJS module body in the function Node wraps modules in:
  // src/cli/code-cache.ts compiles it with V8's code cache, which ES modules cannot use on Node 20. The
  // file is that function expression itself, so the source V8 keeps is the file's text, not a copy
  // of it. import.meta.url becomes the file's own URL.
  await esbuild.build({
    ...shared,
    // What a member loads only on demand stays in node_modules (the package's dependencies): the
    // event feed's socket.io and engine.io (with mime-db), and the self-signed certificates of auto
    // TLS. One file cannot load a part of itself later, and this file's whole text stays in memory
    // for the life of the process: 0.7 MB less of it.
    external: [...shared.external, "socket.io", "engine.io", "@peculiar/asn1-schema", "@peculiar/asn1-x509"],
    entryPoints: [join(root, "dist/src/cli/command.js")],
    outfile: join(bundle, "cli/command.vm.js"),
    format: "cjs",
    // a map beside it, not named in it (nothing loads it at run time), for bench:profile and bench:alloc
    // to name the module of each frame in a profile; the package leaves it out. (The import() rewrite
    // below moves what follows it on its line by 29 characters, so a frame there may map a little off.)
    sourcemap: "external",
    define: { "import.meta.url": "__rxetcdImportMetaUrl" },
    banner: {
      js: [
        // strict, as the ES modules it was built from (the directive must come first in the body)
        '(function (exports, require, module, __filename, __dirname) {"use strict";',
        'var __rxetcdImportMetaUrl = require("node:url").pathToFileURL(__filename).href;',
      ].join("\n"),
    },
    footer: { js: "})" },
  });
  // A package kept in node_modules is loaded with require, not import(): V8 compiles this file with its
  // code cache, and code taken from a cache has no dynamic import callback (Node 20 throws
  // ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the feed could not load socket.io on a start after the first.
  const vmFile = join(bundle, "cli/command.vm.js");
  const vmText = readFileSync(vmFile, "utf8").replace(
    /\bimport\("([^"./][^"]*)"\)/g,
    (_, name) => `Promise.resolve().then(()=>require(${JSON.stringify(name)}))`,
  );
  if (/\bimport\(/.test(vmText)) fail("cli/command.vm.js has an import() the code cache cannot serve");
  writeFileSync(vmFile, vmText);
} catch (error) {
  fail(`esbuild failed: ${error.message}`);
}

// The dashboard's files are read relative to the module serving them: beside its compiled module,
// and beside whichever bundle file its code landed in.
const assets = join(root, "src/feed/dashboard/assets");
cpSync(assets, join(root, "dist/src/feed/dashboard/assets"), { recursive: true });
for (const file of readdirSync(bundle, { recursive: true })) {
  const path = join(bundle, String(file));
  if (path.endsWith(".js") && readFileSync(path, "utf8").includes("./assets/${")) {
    cpSync(assets, join(dirname(path), "assets"), { recursive: true });
  }
}
/** Moves each built file that differs into `to` (a rename replaces a file at once), then drops the files
 * the build no longer makes. Unchanged files are left alone, so a process reading them sees no change,
 * and so is the V8 code cache a start wrote beside an unchanged file (`<file>.<hash>.v8cache`). */
function publish(from, to) {
  const files = readdirSync(from, { recursive: true }).map(String);
  const changed = new Set();
  for (const file of files) {
    const source = join(from, file);
    if (statSync(source).isDirectory()) continue;
    const target = join(to, file);
    if (existsSync(target) && readFileSync(target).equals(readFileSync(source))) continue;
    mkdirSync(dirname(target), { recursive: true });
    renameSync(source, target);
    changed.add(file);
  }
  const built = new Set(files);
  for (const file of existsSync(to) ? readdirSync(to, { recursive: true }).map(String) : []) {
    const target = join(to, file);
    if (built.has(file) || !existsSync(target) || statSync(target).isDirectory()) continue;
    const cacheOf = /^(.*)\.[0-9a-f]{16}\.v8cache$/.exec(file)?.[1];
    if (cacheOf !== undefined && built.has(cacheOf) && !changed.has(cacheOf)) continue;
    if (file.endsWith(".tmp")) continue; // a code cache being written (it renames itself in place)
    unlinkSync(target);
  }
  rmSync(from, { recursive: true, force: true });
}
publish(bundle, published);
mkdirSync(join(root, "dist"), { recursive: true });
writeFileSync(join(root, "dist/build-stamp"), `${startedAt}\n`);
