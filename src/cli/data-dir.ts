// What a data directory already holds, as etcd decides it before starting: a member's data,
// a v2 proxy's state, or nothing yet. Other entries are tolerated with a warning; a directory
// holding both a member and a proxy is refused.

import { readdirSync } from "node:fs";

export type DataDirType = "empty" | "member" | "proxy";

export class DataDirError extends Error {}

export interface DataDirIdentity {
  type: DataDirType;
  /** One line per unexpected entry. */
  warnings: string[];
}

export function identifyDataDir(dir: string): DataDirIdentity {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { type: "empty", warnings: [] };
    const why = err instanceof Error ? err.message : String(err);
    throw new DataDirError(`error listing data dir: ${dir} (${why})`);
  }
  let member = false;
  let proxy = false;
  const warnings: string[] = [];
  for (const name of names) {
    if (name === "member") member = true;
    else if (name === "proxy") proxy = true;
    else {
      warnings.push(
        `found invalid file/dir ${name} under data dir ${dir} (Ignore this if you are upgrading etcd)`,
      );
    }
  }
  if (member && proxy) throw new DataDirError("invalid datadir. Both member and proxy directories exist.");
  return { type: member ? "member" : proxy ? "proxy" : "empty", warnings };
}
