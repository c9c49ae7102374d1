// Command-line parsing with the semantics of Go's flag package, which etcd uses:
// "-flag" and "--flag" are the same, "--flag=value" and "--flag value" both work except for
// boolean flags (only "--flag" or "--flag=value"), the last occurrence wins, parsing stops at the
// first non-flag argument or after "--", and "-h"/"-help" ask for help.

import { type FlagState, lookupFlag } from "./flags.js";

export type ArgsOutcome =
  | { kind: "parsed"; rest: string[] }
  | { kind: "help" }
  | { kind: "error"; message: string };

export function parseArgs(argv: readonly string[], state: FlagState): ArgsOutcome {
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i];
    if (arg.length < 2 || arg[0] !== "-") break;
    let dashes = 1;
    if (arg[1] === "-") {
      dashes = 2;
      if (arg.length === 2) {
        i++; // "--" ends the flags
        break;
      }
    }
    let name = arg.slice(dashes);
    if (name.length === 0 || name[0] === "-" || name[0] === "=") {
      return { kind: "error", message: `bad flag syntax: ${arg}` };
    }
    i++;
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const def = lookupFlag(name);
    if (!def) {
      if (name === "help" || name === "h") return { kind: "help" };
      return { kind: "error", message: `flag provided but not defined: -${name}` };
    }
    if (def.boolean) {
      const given = value ?? "true";
      const err = def.apply(state, given);
      if (err !== undefined) {
        return {
          kind: "error",
          message:
            value === undefined
              ? `invalid boolean flag ${name}: ${err}`
              : `invalid boolean value ${JSON.stringify(value)} for -${name}: ${err}`,
        };
      }
    } else {
      if (value === undefined) {
        if (i >= argv.length) return { kind: "error", message: `flag needs an argument: -${name}` };
        value = argv[i];
        i++;
      }
      const err = def.apply(state, value);
      if (err !== undefined) {
        return { kind: "error", message: `invalid value ${JSON.stringify(value)} for flag -${name}: ${err}` };
      }
    }
    state.set.add(name);
  }
  return { kind: "parsed", rest: argv.slice(i) };
}
