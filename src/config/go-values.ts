// Scalar parsing with the rules of Go's strconv and time packages, which etcd's flags use.
// Accepting exactly what etcd accepts keeps existing command lines and unit files working.

export type IntegerFailure = "syntax" | "range";
export type IntegerResult = { ok: true; value: bigint } | { ok: false; failure: IntegerFailure };

const DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz";

/** Go's underscoreOK: underscores only between digits, and only after a base prefix. */
function underscoresWellPlaced(s: string): boolean {
  let sawDigit = false;
  let lastWasUnderscore = false;
  let i = 0;
  if (s.length >= 1 && (s[0] === "-" || s[0] === "+")) i = 1;
  let hexPrefix = false;
  if (s.length - i >= 2 && s[i] === "0" && /[bBoOxX]/.test(s[i + 1])) {
    hexPrefix = true;
    i += 2;
    sawDigit = true; // the prefix counts as a digit for placement
  }
  for (; i < s.length; i++) {
    const c = s[i];
    if (/[0-9]/.test(c) || (hexPrefix && /[a-fA-F]/.test(c))) {
      sawDigit = true;
      lastWasUnderscore = false;
      continue;
    }
    if (c === "_") {
      if (!sawDigit || lastWasUnderscore) return false;
      lastWasUnderscore = true;
      continue;
    }
    if (lastWasUnderscore) return false;
    sawDigit = false;
  }
  return !lastWasUnderscore;
}

/** strconv.ParseUint(s, 0, bits): base prefixes 0x/0o/0b/0, underscores after a prefix. */
export function parseGoUint(s: string, bits: number): IntegerResult {
  if (s.length === 0) return { ok: false, failure: "syntax" };
  let base = 10;
  let body = s;
  let prefixed = false;
  if (s[0] === "0") {
    if (s.length >= 3 && (s[1] === "x" || s[1] === "X")) {
      base = 16;
      body = s.slice(2);
      prefixed = true;
    } else if (s.length >= 3 && (s[1] === "o" || s[1] === "O")) {
      base = 8;
      body = s.slice(2);
      prefixed = true;
    } else if (s.length >= 3 && (s[1] === "b" || s[1] === "B")) {
      base = 2;
      body = s.slice(2);
      prefixed = true;
    } else if (s.length >= 2) {
      base = 8;
      body = s.slice(1);
      prefixed = true;
    }
  }
  let value = 0n;
  let sawUnderscore = false;
  for (const ch of body.toLowerCase()) {
    if (ch === "_" && prefixed) {
      sawUnderscore = true;
      continue;
    }
    const d = DIGITS.indexOf(ch);
    if (d < 0 || d >= base) return { ok: false, failure: "syntax" };
    value = value * BigInt(base) + BigInt(d);
  }
  if (body.replaceAll("_", "").length === 0) return { ok: false, failure: "syntax" };
  if (sawUnderscore && !underscoresWellPlaced(s)) return { ok: false, failure: "syntax" };
  if (value >= 1n << BigInt(bits)) return { ok: false, failure: "range" };
  return { ok: true, value };
}

/** strconv.ParseInt(s, 0, bits): an optional sign, then ParseUint's syntax. */
export function parseGoInt(s: string, bits: number): IntegerResult {
  if (s.length === 0) return { ok: false, failure: "syntax" };
  let negative = false;
  let rest = s;
  if (s[0] === "+" || s[0] === "-") {
    negative = s[0] === "-";
    rest = s.slice(1);
  }
  const u = parseGoUint(rest, 64);
  if (!u.ok) return u;
  const limit = 1n << BigInt(bits - 1);
  if (!negative && u.value >= limit) return { ok: false, failure: "range" };
  if (negative && u.value > limit) return { ok: false, failure: "range" };
  return { ok: true, value: negative ? -u.value : u.value };
}

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean | undefined {
  switch (s) {
    case "1":
    case "t":
    case "T":
    case "TRUE":
    case "true":
    case "True":
      return true;
    case "0":
    case "f":
    case "F":
    case "FALSE":
    case "false":
    case "False":
      return false;
    default:
      return undefined;
  }
}

const DURATION_UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3, // U+00B5 micro sign
  μs: 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's int64 nanosecond limit for a time.Duration. */
const MAX_DURATION_NS = 2 ** 63 - 1;

/**
 * time.ParseDuration: a signed sequence of decimal numbers with units ("300ms", "1.5h", "2h45m").
 * Returns nanoseconds, or an error text in Go's words.
 */
export function parseGoDuration(input: string): { ok: true; ns: number } | { ok: false; error: string } {
  const bad = { ok: false as const, error: `time: invalid duration ${JSON.stringify(input)}` };
  let s = input;
  let negative = false;
  if (s !== "" && (s[0] === "-" || s[0] === "+")) {
    negative = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return { ok: true, ns: 0 };
  if (s === "") return bad;
  let total = 0;
  while (s !== "") {
    const m = /^([0-9]*)(\.[0-9]*)?/.exec(s);
    const whole = m?.[1] ?? "";
    const frac = m?.[2] ?? "";
    if (whole === "" && (frac === "" || frac === ".")) return bad;
    s = s.slice(whole.length + frac.length);
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (!unitMatch) return { ok: false, error: `time: missing unit in duration ${JSON.stringify(input)}` };
    const unit = unitMatch[0];
    const scale = DURATION_UNIT_NS[unit];
    if (scale === undefined) {
      return {
        ok: false,
        error: `time: unknown unit ${JSON.stringify(unit)} in duration ${JSON.stringify(input)}`,
      };
    }
    s = s.slice(unit.length);
    total += Number(`${whole === "" ? "0" : whole}${frac === "." ? "" : frac}`) * scale;
    if (total > MAX_DURATION_NS) return bad;
  }
  return { ok: true, ns: negative ? -total : total };
}

/** Nanoseconds to milliseconds, the unit rxetcd's Config uses for every duration. */
export function nsToMs(ns: number): number {
  return ns / 1e6;
}
