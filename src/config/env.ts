// ETCD_* environment variables, read the way etcd 3.4 reads them (pkg/flags SetFlagsFromEnv):
// every flag not given on the command line takes a non-empty ETCD_<FLAG> variable; a variable
// naming a flag that the command line also gives is a fatal conflict; other ETCD_* are warned.

import { FLAGS, type FlagState, flagToEnv } from "./flags.js";

export type Environment = Readonly<Record<string, string | undefined>>;

/** Applies the environment to the flag state; returns an error line or undefined. */
export function applyEnvironment(state: FlagState, env: Environment): string | undefined {
  const givenOnCommandLine = new Set([...state.set].map(flagToEnv));
  const used = new Set<string>();
  let error: string | undefined;
  // Go visits flags in name order and keeps the last error; do the same.
  const byName = [...FLAGS].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const def of byName) {
    const key = flagToEnv(def.name);
    if (givenOnCommandLine.has(key)) continue;
    const value = env[key];
    if (value === undefined || value === "") continue;
    used.add(key);
    const why = def.apply(state, value);
    if (why !== undefined) {
      error = `invalid value ${JSON.stringify(value)} for ${key}: ${why}`;
      continue;
    }
    state.set.add(def.name);
    state.notices.push(`recognized and used environment variable ${key}=${value}`);
  }
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || used.has(key)) continue;
    if (givenOnCommandLine.has(key)) {
      return `conflicting environment variable ${JSON.stringify(key)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`;
    }
    if (key.startsWith("ETCD_")) state.warnings.push(`unrecognized environment variable ${key}=${value}`);
  }
  return error;
}
