// Checks the syntax of the first JSON value of a body as it streams past, keeping nothing of it. The
// gateway uses it for bodies too large to hold: etcd's gateway (Go's json.Decoder) reads any body
// whole, so a malformed one is answered 400 with Go's syntax error whatever its size, and only a
// well-formed one is refused as too large. Error texts are Go's encoding/json scanner's.

import { quoteChar } from "./go-json.js";

const isSpace = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r";
const isDigit = (c: string) => c >= "0" && c <= "9";
const isHex = (c: string) => isDigit(c) || (c >= "a" && c <= "f") || (c >= "A" && c <= "F");

/** The index of the next character that ends or escapes a string or is not allowed in one (or the end). */
function nextStringSpecial(text: string, from: number): number {
  let i = from;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c < 0x20) break;
  }
  return i;
}

/** The same over bytes (of ASCII characters). */
function nextStringSpecialByte(bytes: Uint8Array, from: number): number {
  let i = from;
  for (; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0x22 || c === 0x5c || c < 0x20) break;
  }
  return i;
}

/** The ASCII characters, by code: a byte read as one without making a string. */
const ASCII = Array.from({ length: 0x80 }, (_, code) => String.fromCharCode(code));

/** Go's maxNestingDepth. */
const MAX_DEPTH = 10_000;

type Container = "object-key" | "object-value" | "array";

/** Where the scanner is inside the value (one state per place Go's scanner distinguishes). */
type State =
  | "begin-value"
  | "begin-value-or-empty"
  | "begin-key-or-empty"
  | "begin-key"
  | "end-value"
  | "string"
  | "string-escape"
  | "string-hex"
  | "negative"
  | "zero"
  | "integer"
  | "dot"
  | "fraction"
  | "exponent"
  | "exponent-sign"
  | "exponent-digits"
  | "literal";

export type ScanVerdict = { kind: "more" } | { kind: "complete" } | { kind: "error"; message: string };

export class JsonSyntaxScanner {
  private state: State = "begin-value";
  private readonly stack: Container[] = [];
  private hexLeft = 0;
  private literal = "";
  private literalAt = 0;
  private verdict: ScanVerdict = { kind: "more" };

  /** Scans more text; the verdict once the first value is complete or wrong ("more" until then). */
  feed(text: string): ScanVerdict {
    for (let i = 0; i < text.length && this.verdict.kind === "more"; i++) {
      // the plain characters of a string (most of a large body: base64 values) are skipped in one search
      if (this.state === "string") {
        i = nextStringSpecial(text, i);
        if (i === text.length) break;
      }
      this.step(text[i]);
    }
    return this.verdict;
  }

  /**
   * Scans more text given as bytes, every one of them below 0x80 (ASCII text is its own UTF-8): the
   * same as `feed` of that text, without the text.
   */
  feedAscii(bytes: Uint8Array): ScanVerdict {
    for (let i = 0; i < bytes.length && this.verdict.kind === "more"; i++) {
      if (this.state === "string") {
        i = nextStringSpecialByte(bytes, i);
        if (i === bytes.length) break;
      }
      this.step(ASCII[bytes[i]]);
    }
    return this.verdict;
  }

  /** Inside a string: characters other than '"', '\\' and control characters change nothing. */
  get inString(): boolean {
    return this.state === "string" && this.verdict.kind === "more";
  }

  /** The body ended: a value still open is Go's "unexpected EOF". */
  end(): ScanVerdict {
    if (this.verdict.kind !== "more") return this.verdict;
    // a number at the very end of the body is complete
    const inNumber = this.state === "zero" || this.state === "integer" || this.state === "fraction";
    if (this.stack.length === 0 && (inNumber || this.state === "exponent-digits"))
      this.verdict = { kind: "complete" };
    else this.verdict = { kind: "error", message: "unexpected EOF" };
    return this.verdict;
  }

  private fail(c: string, context: string): void {
    this.verdict = { kind: "error", message: `invalid character ${quoteChar(c)} ${context}` };
  }

  private push(container: Container): boolean {
    if (this.stack.length >= MAX_DEPTH) {
      this.verdict = { kind: "error", message: "exceeded max depth" };
      return false;
    }
    this.stack.push(container);
    return true;
  }

  private step(c: string): void {
    switch (this.state) {
      case "begin-value-or-empty":
        if (isSpace(c)) return;
        if (c === "]") {
          this.endContainer();
          return;
        }
        {
          this.beginValue(c);
          return;
        }
      case "begin-value":
        if (isSpace(c)) return;
        {
          this.beginValue(c);
          return;
        }
      case "begin-key-or-empty":
        if (isSpace(c)) return;
        if (c === "}") {
          this.stack[this.stack.length - 1] = "object-value";
          this.endContainer();
          return;
        }
        {
          this.beginKey(c);
          return;
        }
      case "begin-key":
        if (isSpace(c)) return;
        {
          this.beginKey(c);
          return;
        }
      case "end-value": {
        this.endValue(c);
        return;
      }
      case "string":
        if (c === '"') this.state = "end-value";
        else if (c === "\\") this.state = "string-escape";
        else if (c < " ") this.fail(c, "in string literal");
        if (c === '"') this.afterValue();
        return;
      case "string-escape":
        if ('bfnrt\\/"'.includes(c)) this.state = "string";
        else if (c === "u") {
          this.state = "string-hex";
          this.hexLeft = 4;
        } else this.fail(c, "in string escape code");
        return;
      case "string-hex":
        if (!isHex(c)) {
          this.fail(c, "in \\u hexadecimal character escape");
          return;
        }
        if (--this.hexLeft === 0) this.state = "string";
        return;
      case "negative":
        if (c === "0") this.state = "zero";
        else if (c >= "1" && c <= "9") this.state = "integer";
        else this.fail(c, "in numeric literal");
        return;
      case "integer":
        if (isDigit(c)) return;
        {
          this.afterZero(c);
          return;
        }
      case "zero": {
        this.afterZero(c);
        return;
      }
      case "dot":
        if (isDigit(c)) this.state = "fraction";
        else this.fail(c, "after decimal point in numeric literal");
        return;
      case "fraction":
        if (isDigit(c)) return;
        if (c === "e" || c === "E") {
          this.state = "exponent";
          return;
        }
        {
          this.numberEnded(c);
          return;
        }
      case "exponent":
        if (c === "+" || c === "-") {
          this.state = "exponent-sign";
          return;
        }
        this.state = "exponent-sign";
        {
          this.step(c);
          return;
        }
      case "exponent-sign":
        if (isDigit(c)) this.state = "exponent-digits";
        else this.fail(c, "in exponent of numeric literal");
        return;
      case "exponent-digits":
        if (isDigit(c)) return;
        {
          this.numberEnded(c);
          return;
        }
      case "literal": {
        const want = this.literal[this.literalAt];
        if (c !== want) {
          this.fail(c, `in literal ${this.literal} (expecting ${quoteChar(want)})`);
          return;
        }
        if (++this.literalAt === this.literal.length) {
          this.state = "end-value";
          this.afterValue();
        }
        return;
      }
    }
  }

  private beginValue(c: string): void {
    switch (c) {
      case "{":
        if (this.push("object-key")) this.state = "begin-key-or-empty";
        return;
      case "[":
        if (this.push("array")) this.state = "begin-value-or-empty";
        return;
      case '"':
        this.state = "string";
        return;
      case "-":
        this.state = "negative";
        return;
      case "0":
        this.state = "zero";
        return;
      case "t":
      case "f":
      case "n":
        this.literal = c === "t" ? "true" : c === "f" ? "false" : "null";
        this.literalAt = 1;
        this.state = "literal";
        return;
    }
    if (c >= "1" && c <= "9") this.state = "integer";
    else this.fail(c, "looking for beginning of value");
  }

  private beginKey(c: string): void {
    if (c === '"') this.state = "string";
    else this.fail(c, "looking for beginning of object key string");
  }

  private afterZero(c: string): void {
    if (c === ".") this.state = "dot";
    else if (c === "e" || c === "E") this.state = "exponent";
    else this.numberEnded(c);
  }

  /** A number ends at the first character that cannot continue it, which is then read as what follows. */
  private numberEnded(c: string): void {
    this.state = "end-value";
    this.afterValue();
    if (this.verdict.kind === "more") this.endValue(c);
  }

  /** A value just ended: at the top level the body's first value is whole. */
  private afterValue(): void {
    if (this.stack.length === 0) this.verdict = { kind: "complete" };
  }

  private endContainer(): void {
    this.stack.pop();
    this.state = "end-value";
    this.afterValue();
  }

  private endValue(c: string): void {
    if (isSpace(c)) return;
    const top = this.stack[this.stack.length - 1];
    if (top === "object-key") {
      if (c !== ":") {
        this.fail(c, "after object key");
        return;
      }
      this.stack[this.stack.length - 1] = "object-value";
      this.state = "begin-value";
    } else if (top === "object-value") {
      if (c === ",") {
        this.stack[this.stack.length - 1] = "object-key";
        this.state = "begin-key";
      } else if (c === "}") this.endContainer();
      else this.fail(c, "after object key:value pair");
    } else if (top === "array") {
      if (c === ",") this.state = "begin-value";
      else if (c === "]") this.endContainer();
      else this.fail(c, "after array element");
    }
  }
}
