import assert from "node:assert/strict";
import type { Config } from "../../src/config/codec.js";
import { type LoadResult, loadConfig } from "../../src/config/load.js";

export type Env = Record<string, string | undefined>;

export function load(argv: string[], env: Env = {}): LoadResult {
  return loadConfig(argv, env);
}

/** Loads and expects success. */
export function config(argv: string[], env: Env = {}): Config {
  const r = load(argv, env);
  if (r.kind !== "config") assert.fail(`expected a config, got ${JSON.stringify(r)}`);
  return r.config;
}

/** Loads and expects an error; returns its message and checks the exit code. */
export function failure(argv: string[], env: Env = {}, exitCode: 1 | 2 = 1): string {
  const r = load(argv, env);
  if (r.kind !== "error") assert.fail(`expected an error, got ${r.kind}`);
  assert.equal(r.exitCode, exitCode, `exit code for ${r.message}`);
  return r.message;
}

export function hrefs(urls: readonly { href: string }[]): string[] {
  return urls.map((u) => u.href);
}
