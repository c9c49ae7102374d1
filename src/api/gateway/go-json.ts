// A JSON reader that behaves like the one behind etcd 3.4's gateway (Go's encoding/json Decoder):
// it reads one value at a time from a body that may hold several, keeps numbers as their source text
// (lease IDs above 2^53 arrive as bare numbers and must not lose digits), and fails with Go's messages,
// which gateway clients see verbatim in the error body.

/** A JSON number kept as written. */
export class JsonNumber {
  constructor(readonly raw: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | JsonObject;
/** Objects keep the last value of a repeated key, as Go's map decoding does. */
export type JsonObject = Map<string, JsonValue>;

/**
 * The source text, between its quotes, of each string member or element that was written with escapes.
 * jsonpb reads an enum name, or an integer given as a string, from those raw bytes without unescaping
 * them, so "DESC\u0045ND" is no enum name there; the decoded value alone cannot tell.
 */
const escapedSources = new WeakMap<JsonObject | JsonValue[], Map<string | number, string>>();

/** The raw text of the string at `container[key]` when it was written with escapes, else undefined. */
export function escapedSource(container: JsonObject | JsonValue[], key: string | number): string | undefined {
  return escapedSources.get(container)?.get(key);
}

function noteSource(
  container: JsonObject | JsonValue[],
  key: string | number,
  raw: string | undefined,
): void {
  let sources = escapedSources.get(container);
  if (raw === undefined) {
    sources?.delete(key);
    return;
  }
  if (!sources) {
    sources = new Map();
    escapedSources.set(container, sources);
  }
  sources.set(key, raw);
}

/** A syntax error, with the text Go's encoding/json gives for it. */
export class JsonSyntaxError extends Error {}

/** The input ended inside a value; more bytes may complete it. */
export class JsonIncomplete extends Error {
  constructor() {
    super("unexpected EOF");
  }
}

/** Go's quoteChar: how a character is shown in a syntax error. */
export function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  if (c === "\\") return "'\\\\'";
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `'\\x${code.toString(16).padStart(2, "0")}'`;
  return `'${c}'`;
}

const invalid = (c: string, context: string) =>
  new JsonSyntaxError(`invalid character ${quoteChar(c)} ${context}`);

const isSpace = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r";

/**
 * Values (numbers, strings, array elements...) one request body may hold. A real request has a few
 * thousand at most; the bound keeps a hostile body of a million tiny values from costing hundreds of
 * megabytes of parsed objects before its types are checked.
 */
export const MAX_JSON_VALUES = 100_000;

/** Reads consecutive JSON values out of a text, the way a Go json.Decoder reads a request body. */
export class JsonValueReader {
  private pos = 0;
  private values = 0;
  /** The raw text of the string value just read, when it held escapes. */
  private lastEscapedRaw: string | undefined;
  /** Some string so far held escapes (until then there is nothing to note or forget). */
  private sawEscapes = false;
  constructor(
    private readonly text: string,
    private readonly maxValues = MAX_JSON_VALUES,
  ) {}

  /** The offset just after the last value read. */
  get offset(): number {
    return this.pos;
  }

  /**
   * The next value, or `undefined` when only whitespace is left (Go's io.EOF).
   * Throws JsonIncomplete when the text ends inside a value and JsonSyntaxError on bad input.
   */
  next(): JsonValue | undefined {
    this.skipSpace();
    if (this.pos >= this.text.length) return undefined;
    return this.value();
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && isSpace(this.text[this.pos])) this.pos++;
  }

  private peek(): string {
    if (this.pos >= this.text.length) throw new JsonIncomplete();
    return this.text[this.pos];
  }

  private value(): JsonValue {
    this.lastEscapedRaw = undefined;
    if (++this.values > this.maxValues)
      throw new JsonSyntaxError(`request body holds more than ${this.maxValues} JSON values`);
    this.skipSpace();
    const c = this.peek();
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.number();
    if (c === "t") return this.literal("true", true);
    if (c === "f") return this.literal("false", false);
    if (c === "n") return this.literal("null", null);
    throw invalid(c, "looking for beginning of value");
  }

  private literal<T extends JsonValue>(word: string, result: T): T {
    for (let i = 0; i < word.length; i++) {
      const c = this.peek();
      if (c !== word[i]) throw invalid(c, `in literal ${word} (expecting ${quoteChar(word[i])})`);
      this.pos++;
    }
    return result;
  }

  private object(): JsonObject {
    const result: JsonObject = new Map();
    this.pos++;
    this.skipSpace();
    if (this.peek() === "}") {
      this.pos++;
      return result;
    }
    for (;;) {
      this.skipSpace();
      const c = this.peek();
      if (c !== '"') throw invalid(c, "looking for beginning of object key string");
      const key = this.string();
      this.skipSpace();
      const colon = this.peek();
      if (colon !== ":") throw invalid(colon, "after object key");
      this.pos++;
      const value = this.value();
      result.set(key, value);
      // a repeated key replaces an earlier value, and what was noted of it
      if (this.sawEscapes)
        noteSource(result, key, typeof value === "string" ? this.lastEscapedRaw : undefined);
      this.skipSpace();
      const sep = this.peek();
      this.pos++;
      if (sep === "}") return result;
      if (sep !== ",") throw invalid(sep, "after object key:value pair");
    }
  }

  private array(): JsonValue[] {
    const result: JsonValue[] = [];
    this.pos++;
    this.skipSpace();
    if (this.peek() === "]") {
      this.pos++;
      return result;
    }
    for (;;) {
      const value = this.value();
      result.push(value);
      if (typeof value === "string" && this.lastEscapedRaw !== undefined)
        noteSource(result, result.length - 1, this.lastEscapedRaw);
      this.skipSpace();
      const sep = this.peek();
      this.pos++;
      if (sep === "]") return result;
      if (sep !== ",") throw invalid(sep, "after array element");
    }
  }

  private string(): string {
    this.pos++;
    const start = this.pos;
    let escaped = false;
    let out = "";
    for (;;) {
      const c = this.peek();
      this.pos++;
      if (c === '"') {
        this.lastEscapedRaw = escaped ? this.text.slice(start, this.pos - 1) : undefined;
        if (escaped) this.sawEscapes = true;
        return out;
      }
      if (c === "\\") {
        escaped = true;
        const e = this.peek();
        this.pos++;
        const simple: Record<string, string> = {
          '"': '"',
          "\\": "\\",
          "/": "/",
          b: "\b",
          f: "\f",
          n: "\n",
          r: "\r",
          t: "\t",
        };
        if (e in simple) {
          out += simple[e];
        } else if (e === "u") {
          let hex = "";
          for (let i = 0; i < 4; i++) {
            const h = this.peek();
            if (!/[0-9a-fA-F]/.test(h)) throw invalid(h, "in \\u hexadecimal character escape");
            hex += h;
            this.pos++;
          }
          out += String.fromCharCode(Number.parseInt(hex, 16));
        } else {
          throw invalid(e, "in string escape code");
        }
      } else if (c < " ") {
        throw invalid(c, "in string literal");
      } else {
        out += c;
      }
    }
  }

  private number(): JsonNumber {
    const start = this.pos;
    const digits = () => {
      while (this.pos < this.text.length && this.text[this.pos] >= "0" && this.text[this.pos] <= "9")
        this.pos++;
    };
    // A number may legitimately end the input, so only a missing required part is "incomplete".
    const requireDigit = (context: string) => {
      const c = this.peek();
      if (c < "0" || c > "9") throw invalid(c, context);
    };
    if (this.text[this.pos] === "-") {
      this.pos++;
      requireDigit("in numeric literal");
    }
    if (this.text[this.pos] === "0") this.pos++;
    else digits();
    if (this.text[this.pos] === ".") {
      this.pos++;
      requireDigit("after decimal point in numeric literal");
      digits();
    }
    if (this.text[this.pos] === "e" || this.text[this.pos] === "E") {
      this.pos++;
      if (this.text[this.pos] === "+" || this.text[this.pos] === "-") this.pos++;
      requireDigit("in exponent of numeric literal");
      digits();
    }
    return new JsonNumber(this.text.slice(start, this.pos));
  }
}

/** Go's name for the JSON kind of a value, as used in "cannot unmarshal X into Go value of type Y". */
export function goJsonKind(v: JsonValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (v instanceof JsonNumber) return "number";
  if (Array.isArray(v)) return "array";
  return "object";
}
