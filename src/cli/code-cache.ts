// Loads the built server (one CommonJS module, its text already wrapped in the function Node's module
// loader puts around a module) through V8's code cache. Compiling the JavaScript is
// the largest share of a start; with the cache, V8 takes the bytecode of every function the previous
// start ran instead of parsing and compiling them again. The cache lives beside the file it was made
// from (or, when that directory is read-only, in the user's cache directory) and names the SHA-256 of
// that file, so a rebuilt file never runs with another file's bytecode; V8 itself refuses a cache
// made by another V8 version or with other flags. A refused or missing cache is written again once
// start-up is done.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

/** A loaded CommonJS file and what it takes to keep its code cache current. */
export interface CachedLoad {
  readonly exports: Record<string, unknown>;
  /** How the cache was used: "used", "refused" (by V8), or "missing". */
  readonly cache: "used" | "refused" | "missing";
  /** Writes the cache when it was missing or refused; call once the code a start runs has run. */
  save(): void;
}

const HASH_BYTES = 32;

/** Where caches go when the build's own directory cannot take one. */
function userCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "rxetcd", "code-cache");
}

function readCache(paths: readonly string[], hash: Buffer): Buffer | undefined {
  for (const path of paths) {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch {
      continue;
    }
    if (data.length > HASH_BYTES && data.subarray(0, HASH_BYTES).equals(hash))
      return data.subarray(HASH_BYTES);
  }
  return undefined;
}

function writeCache(paths: readonly string[], hash: Buffer, data: Buffer): void {
  for (const path of paths) {
    // written aside then renamed: a start reading it meanwhile sees the old cache or the new one
    const temp = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(temp, Buffer.concat([hash, data]));
      renameSync(temp, path);
      return;
    } catch {
      rmSync(temp, { force: true });
      // not writable here: try the next place
    }
  }
}

/**
 * Runs the file at `file` (an absolute path) with its code cache. Its text is one function expression,
 * `(function (exports, require, module, __filename, __dirname) {...})`, called as Node calls a module.
 */
export function loadWithCodeCache(file: string): CachedLoad {
  // read straight into a string: a Buffer of the whole file would stay in memory until a full GC
  const source = readFileSync(file, "utf8");
  const hash = createHash("sha256").update(source, "utf8").digest();
  const name = `${basename(file)}.${hash.subarray(0, 8).toString("hex")}.v8cache`;
  const paths = [join(dirname(file), name), join(userCacheDir(), name)];
  const cached = readCache(paths, hash);

  const script = new vm.Script(source, {
    filename: pathToFileURL(file).href,
    ...(cached ? { cachedData: cached } : {}),
    // Node 20.12 and later: import() inside the file works as in any module
    ...(vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
      ? { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }
      : {}),
  });
  const cache = cached === undefined ? "missing" : script.cachedDataRejected ? "refused" : "used";
  const mod = { exports: {} as Record<string, unknown> };
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: unknown,
    filename: string,
    dirname: string,
  ) => void;
  wrapper(mod.exports, createRequire(file), mod, file, dirname(file));

  let saved = cache === "used";
  return {
    exports: mod.exports,
    cache,
    save: () => {
      if (saved) return;
      saved = true;
      writeCache(paths, hash, script.createCachedData());
    },
  };
}
