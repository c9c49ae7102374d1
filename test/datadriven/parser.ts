// Reader for data-driven test files in the cockroachdb/datadriven 1.0 format used by etcd's raft tests.
//
//   # comment
//   <cmd> [key | key=val | key=(v1, v2, ...)]...   (a trailing "\" continues the line)
//   <optional input lines>
//   ----
//   <expected output, up to the first blank line>
//
// An expected output that contains blank lines is opened with "----" twice and closed the same way.

/** One argument of a directive: `key` (no values), `key=val` (one) or `key=(a, b)` (several). */
export interface CmdArg {
  key: string;
  vals: string[];
}

/** One directive block of a file. */
export interface TestCase {
  /** "file:line" of the directive line. */
  pos: string;
  cmd: string;
  args: CmdArg[];
  /** The directive line as written (continuations joined). */
  directive: string;
  /** Lines between the directive and "----", trimmed as a whole. */
  input: string;
  /** The expected output, every line ending in "\n" ("" when the block is empty). */
  expected: string;
}

export class DataDrivenParseError extends Error {}

/** Splits a directive line into its command and arguments. Throws DataDrivenParseError when malformed. */
export function parseLine(rawLine: string): { cmd: string; args: CmdArg[] } {
  const original = rawLine.trim();
  let rest = original;
  const fail = (): never => {
    const column = original.length - rest.length + 1;
    throw new DataDrivenParseError(`cannot parse directive at column ${column}: ${original}`);
  };
  // Removes and returns the prefix of `rest` up to the first of `stops` (or all of it).
  const takeUntil = (stops: string): string => {
    let i = 0;
    while (i < rest.length && !stops.includes(rest[i])) i++;
    const head = rest.slice(0, i);
    rest = rest.slice(i);
    return head;
  };

  if (rest === "") return { cmd: "", args: [] };
  const cmd = takeUntil(" ");
  rest = rest.trim();
  const args: CmdArg[] = [];
  while (rest !== "") {
    const key = takeUntil(" =");
    if (key === "") fail();
    const arg: CmdArg = { key, vals: [] };
    if (rest.startsWith("=")) {
      rest = rest.slice(1);
      if (rest === "" || rest[0] === " ") {
        arg.vals.push("");
      } else if (rest[0] !== "(") {
        arg.vals.push(takeUntil(" "));
      } else {
        rest = rest.slice(1);
        parseList(arg.vals);
      }
    }
    args.push(arg);
    rest = rest.trim();
  }
  return { cmd, args };

  // Reads "v1, v2, ...)" from `rest`: values end at a top-level "," or ")"; nested parentheses are kept.
  function parseList(out: string[]): void {
    for (;;) {
      let depth = 0;
      let i = 0;
      for (; i < rest.length; i++) {
        const ch = rest[i];
        if (ch === "(") depth++;
        else if (ch === ")") {
          if (depth === 0) break;
          depth--;
        } else if (ch === "," && depth === 0) break;
      }
      if (i === rest.length) fail();
      out.push(rest.slice(0, i));
      const closed = rest[i] === ")";
      rest = rest.slice(i + 1).trim();
      if (closed) return;
    }
  }
}

/** Parses a whole file into its directive blocks. `sourceName` prefixes each `pos`. */
export function parseFile(text: string, sourceName = "<input>"): TestCase[] {
  const lines = text.split("\n");
  // A final newline does not start another line.
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  let next = 0; // index of the next unread line
  const scan = (): string | undefined => (next < lines.length ? lines[next++] : undefined);
  const cases: TestCase[] = [];

  for (let raw = scan(); raw !== undefined; raw = scan()) {
    const pos = `${sourceName}:${next}`;
    let line = raw.trim();
    if (line.startsWith("#")) continue;
    while (line.endsWith("\\")) {
      const cont = scan();
      if (cont === undefined) break;
      line = `${line.slice(0, -1)} ${cont.trim()}`;
    }
    let parsed: { cmd: string; args: CmdArg[] };
    try {
      parsed = parseLine(line);
    } catch (err) {
      throw new DataDrivenParseError(`${pos}: ${(err as Error).message}`);
    }
    if (parsed.cmd === "") continue;

    const inputLines: string[] = [];
    let separator = false;
    for (let l = scan(); l !== undefined; l = scan()) {
      if (l === "----") {
        separator = true;
        break;
      }
      inputLines.push(l);
    }
    const input = inputLines.length === 0 ? "" : `${inputLines.join("\n")}\n`.trim();
    const expected = separator ? readExpected() : "";
    cases.push({ pos, cmd: parsed.cmd, args: parsed.args, directive: line.trim(), input, expected });
  }
  return cases;

  function readExpected(): string {
    const out: string[] = [];
    const first = scan();
    if (first === undefined) return "";
    if (first === "----") {
      // Blank lines allowed: ends at two successive "----" lines.
      for (let l = scan(); l !== undefined; l = scan()) {
        if (l === "----") {
          const l2 = scan();
          if (l2 === "----") break;
          if (l2 !== undefined) {
            out.push(l, l2);
            continue;
          }
        }
        out.push(l);
      }
    } else {
      for (let l: string | undefined = first; l !== undefined && l.trim() !== ""; l = scan()) out.push(l);
    }
    return out.map((l) => `${l}\n`).join("");
  }
}

/** True when the directive has an argument named `key`. */
export function hasArg(tc: TestCase, key: string): boolean {
  return tc.args.some((a) => a.key === key);
}

/** The values of argument `key`, or undefined when absent. */
export function argVals(tc: TestCase, key: string): string[] | undefined {
  return tc.args.find((a) => a.key === key)?.vals;
}

/** The directive line as written (normalised), for messages. */
export function describeDirective(tc: TestCase): string {
  const parts = [tc.cmd];
  for (const a of tc.args) {
    if (a.vals.length === 0) parts.push(a.key);
    else if (a.vals.length === 1) parts.push(`${a.key}=${a.vals[0]}`);
    else parts.push(`${a.key}=(${a.vals.join(", ")})`);
  }
  return parts.join(" ");
}

// The runner lives in its own file; re-exported so one import serves both.
export {
  checkDataDriven,
  type DataDrivenHandler,
  type DataDrivenMismatch,
  type DataDrivenOptions,
  lineDiff,
  runDataDriven,
  stripLogLines,
  walkDataDriven,
} from "./runner.js";
