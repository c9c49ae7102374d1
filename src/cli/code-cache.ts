// Loads the built server (one CommonJS module, its text already wrapped in the function Node's module
// loader puts around a module) through V8's code cache. Compiling the JavaScript is
// the largest share of a start; with the cache, V8 takes the bytecode of every function the previous
// start ran instead of parsing and compiling them again. The cache lives beside the file it was made
// from (or, when that directory is read-only, in the user's cache directory) and names the SHA-256 of
// that file, so a rebuilt file never runs with another file's bytecode; V8 itself refuses a cache
// made by another V8 version or with other flags. A refused or missing cache is written again once
// start-up is done.
import { createHash } from "node:crypto";
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { StringDecoder } from "node:string_decoder";
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

// How files are read here matters for a member's memory for the rest of its life. glibc's malloc
// serves a block of 128 KiB or more with a mapping of its own; when such a block is freed, it raises
// that threshold to the block's size (up to 32 MiB) and keeps up to twice as much freed memory in its
// heap from then on. readFileSync(file, "utf8") of the 2.7 MB server grows its buffer by doubling up
// to 8 MiB, and hashing a string copies it to a buffer of its size: either one leaves the process
// holding several MiB of freed heap. So the text is read and hashed in small pieces, and the cache
// is read into a block above 32 MiB, which is unmapped when freed without moving the threshold (only
// the pages the cache fills are ever touched).
const PIECE = 64 * 1024;
const ABOVE_MALLOC_THRESHOLD_CEILING = 32 * 1024 * 1024 + PIECE;

/** The text of a UTF-8 file and the SHA-256 of its bytes, read piece by piece. */
function readText(file: string): { text: string; hash: Buffer } {
  const fd = openSync(file, "r");
  try {
    const piece = Buffer.allocUnsafeSlow(PIECE);
    const decoder = new StringDecoder("utf8");
    const hash = createHash("sha256");
    const parts: string[] = [];
    for (;;) {
      const n = readSync(fd, piece, 0, PIECE, null);
      if (n === 0) break;
      hash.update(piece.subarray(0, n));
      parts.push(decoder.write(piece.subarray(0, n)));
    }
    parts.push(decoder.end());
    return { text: parts.join(""), hash: hash.digest() };
  } finally {
    closeSync(fd);
  }
}

/** A whole file's bytes, in a block malloc maps and unmaps on its own (see above). */
function readBytes(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const data = Buffer.allocUnsafeSlow(Math.max(size, ABOVE_MALLOC_THRESHOLD_CEILING));
    let read = 0;
    while (read < size) {
      const n = readSync(fd, data, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return data.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

function readCache(paths: readonly string[], hash: Buffer): Buffer | undefined {
  for (const path of paths) {
    let data: Buffer;
    try {
      data = readBytes(path);
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
      // two writes: a concatenated copy would be one more large block to free (see above)
      const fd = openSync(temp, "w");
      try {
        writeSync(fd, hash);
        writeSync(fd, data);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, path);
      return;
    } catch {
      rmSync(temp, { force: true });
      // not writable here: try the next place
    }
  }
}

/**
 * Compiles the text, with the cache when there is one. A function of its own so that nothing refers
 * to the cache's bytes once V8 has read them: they die young and are freed by the next scavenge
 * instead of waiting for a full collection in the old generation.
 */
function compile(
  source: string,
  filename: string,
  cached: Buffer | undefined,
): { script: vm.Script; cache: CachedLoad["cache"] } {
  const script = new vm.Script(source, {
    filename,
    ...(cached ? { cachedData: cached } : {}),
    // Node 20.12 and later: import() inside the file works as in any module
    ...(vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER
      ? { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }
      : {}),
  });
  return { script, cache: cached === undefined ? "missing" : script.cachedDataRejected ? "refused" : "used" };
}

/**
 * Runs the file at `file` (an absolute path) with its code cache. Its text is one function expression,
 * `(function (exports, require, module, __filename, __dirname) {...})`, called as Node calls a module.
 */
export function loadWithCodeCache(file: string): CachedLoad {
  const { text: source, hash } = readText(file);
  const name = `${basename(file)}.${hash.subarray(0, 8).toString("hex")}.v8cache`;
  const paths = [join(dirname(file), name), join(userCacheDir(), name)];
  const { script, cache } = compile(source, pathToFileURL(file).href, readCache(paths, hash));
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
