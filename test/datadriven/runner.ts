// Runs data-driven files under node:test. Like Go's datadriven.RunTest, a file stops at its first mismatch,
// so each file is one node:test test; the failure names the block (file:line), its directive, and a diff.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, relative } from "node:path";
import { test } from "node:test";
import { parseFile, type TestCase } from "./parser.js";

/** Produces the actual output of one block. State shared between blocks lives in the handler's closure. */
export type DataDrivenHandler = (tc: TestCase) => string;

export interface DataDrivenOptions {
  /** Applied to both expected and actual output before comparing (e.g. dropping log lines). */
  normalize?: (output: string) => string;
  /** Passed to node:test, e.g. `{ todo: "reason" }` for a file that cannot pass yet. */
  todo?: string | boolean;
  skip?: string | boolean;
}

export interface DataDrivenMismatch {
  pos: string;
  directive: string;
  expected: string;
  actual: string;
  message: string;
}

/** Go's harness appends a newline to a non-empty output that lacks one. */
function withTrailingNewline(s: string): string {
  return s !== "" && !s.endsWith("\n") ? `${s}\n` : s;
}

/**
 * Runs every block of `text` through `handler` in order and returns the first mismatch (or undefined).
 * A handler that throws is reported as a mismatch at that block, with the error as the actual output.
 */
export function checkDataDriven(
  text: string,
  sourceName: string,
  handler: DataDrivenHandler,
  options: DataDrivenOptions = {},
): DataDrivenMismatch | undefined {
  const normalize = options.normalize ?? ((s: string) => s);
  for (const tc of parseFile(text, sourceName)) {
    let actual: string;
    try {
      actual = withTrailingNewline(handler(tc));
    } catch (err) {
      const e = err as Error;
      actual = `handler threw: ${e.stack ?? e.message}\n`;
    }
    const want = normalize(tc.expected);
    const got = normalize(actual);
    if (want !== got) {
      const directive = tc.directive;
      const message = [
        `${tc.pos}: output mismatch for: ${directive}`,
        tc.input === "" ? "" : `input:\n${tc.input}\n`,
        `expected:\n${want}`,
        `actual:\n${got}`,
        `diff (- expected, + actual):\n${lineDiff(want, got)}`,
      ]
        .filter((s) => s !== "")
        .join("\n");
      return { pos: tc.pos, directive, expected: want, actual: got, message };
    }
  }
  return undefined;
}

/** Registers one node:test test that runs the file at `path`. */
export function runDataDriven(
  path: string,
  handler: DataDrivenHandler,
  options: DataDrivenOptions = {},
): Promise<void> {
  const name = relative(process.cwd(), path) || basename(path);
  return test(name, { todo: options.todo, skip: options.skip }, () => {
    const mismatch = checkDataDriven(readFileSync(path, "utf8"), name, handler, options);
    if (mismatch !== undefined) throw new Error(mismatch.message);
  });
}

/**
 * Runs every .txt file under `dir` (sorted), each with a fresh handler from `makeHandler`, as one test per
 * file — like Go's datadriven.Walk.
 */
export function walkDataDriven(
  dir: string,
  makeHandler: (path: string) => DataDrivenHandler,
  options: DataDrivenOptions | ((path: string) => DataDrivenOptions) = {},
): void {
  for (const path of listFiles(dir)) {
    let handler: DataDrivenHandler | undefined;
    // The handler is made lazily so that a throwing factory fails only its own file.
    runDataDriven(
      path,
      (tc) => {
        handler ??= makeHandler(path);
        return handler(tc);
      },
      typeof options === "function" ? options(path) : options,
    );
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else if (name.endsWith(".txt")) out.push(p);
  }
  return out;
}

/**
 * Drops log lines (INFO/DEBUG/WARN/ERROR at the start of a line, after indentation); an output left empty
 * reads as "ok\n". This is how the raft/ files are compared.
 */
export function stripLogLines(output: string): string {
  const kept = output.split("\n").filter((l) => !/^\s*(INFO|DEBUG|WARN|ERROR) /.test(l));
  const text = kept.join("\n");
  return text.trim() === "" ? "ok\n" : text;
}

/** A small line diff (longest common subsequence), enough for outputs of a few hundred lines. */
export function lineDiff(expected: string, actual: string): string {
  const a = expected.split("\n");
  const b = actual.split("\n");
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the LCS of a[i..] and b[j..]
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`- ${a[i]}`);
      i++;
    } else {
      out.push(`+ ${b[j]}`);
      j++;
    }
  }
  return out.join("\n");
}
