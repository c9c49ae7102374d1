// An abridged copy of a JSON body too large to hold: the gateway checks it in etcd's place. etcd's
// gateway decodes any body whole, so a well-formed body too large to take still gets 400 when a field
// has the wrong type (and 200 when it decodes to a small message). The copy keeps the body's structure
// and every short string; of a long string it keeps the start and the end and drops a middle of whole
// base64 quanta, so a bytes field decodes, or fails, as the whole one would. Whitespace between tokens
// is dropped (Go's type errors do not name positions).

/** Characters kept from the start of a long string (a whole number of base64 quanta). */
const KEEP_HEAD = 4096;
/** About the bytes a kept head decodes to (base64: 3 per 4 characters); what an abridged field holds. */
const KEPT_BYTES = (KEEP_HEAD / 4) * 3;
/** Characters held back at the end of a string while it streams, so its last quanta are kept. */
const KEEP_TAIL = 8;
/** Held characters of a long string past which the oldest are dropped (in whole quanta). */
const MAX_HELD = KEEP_TAIL + 4096;
/** The most characters of a run `takeRun` needs to be shown: the rest of the run is only counted. */
export const RUN_TAIL_CHARS = MAX_HELD;

const isBase64Alphabet = (c: number) =>
  (c >= 0x41 && c <= 0x5a) ||
  (c >= 0x61 && c <= 0x7a) ||
  (c >= 0x30 && c <= 0x39) ||
  c === 0x2b ||
  c === 0x2f;

/** What was dropped of one long string. */
export interface AbridgedString {
  /** Where the string's kept head ends in the copy (a whole number of base64 quanta from its start). */
  at: number;
  /**
   * Characters dropped before the kept tail (a multiple of 4): a position the copy names beyond the
   * head is this much further in the body's string.
   */
  dropped: number;
  /** Characters dropped after the first one base64 refuses (kept, so the copy fails as the body does). */
  skipped: number;
}

/** The abridged body, or why there is none. */
export type Abridged =
  | {
      kind: "abridged";
      /** The body with the middles of long strings dropped. */
      text: string;
      /** The strings whose middle was dropped, in body order. */
      strings: AbridgedString[];
    }
  | { kind: "none" };

export class JsonAbridger {
  private readonly parts: string[] = [];
  private size = 0;
  private inString = false;
  private escaped = false;
  /** Characters of the current string seen so far. */
  private stringLength = 0;
  /** The current string's characters past its head, held until it is known whether they are its tail. */
  private pending = "";
  private droppedHere = 0;
  /** Where the current string's head ends in the copy, once it is known to be long. */
  private headEnd = -1;
  /** '=' seen at the end of the current long string (base64 padding: at most two, nothing after). */
  private padding = 0;
  private readonly strings: AbridgedString[] = [];
  /** The current string had a character base64 refuses: the rest of it is skipped. */
  private skipping = false;
  private skippedHere = 0;
  private gaveUp = false;

  /** `maxChars`: past this many characters of copy there is nothing useful to check; the copy is given up. */
  constructor(private readonly maxChars: number) {}

  feed(text: string): void {
    if (this.gaveUp) return;
    let copyFrom = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (!this.inString) {
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
          this.copy(text, copyFrom, i);
          copyFrom = i + 1;
        } else if (c === 0x22) {
          this.inString = true;
          this.stringLength = 0;
          this.droppedHere = 0;
          this.padding = 0;
          this.headEnd = -1;
        }
        continue;
      }
      if (this.skipping) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.copy(text, copyFrom, i);
          this.endString();
          copyFrom = i;
          continue;
        }
        this.skippedHere++;
        copyFrom = i + 1;
        continue;
      }
      if (this.stringLength < KEEP_HEAD) {
        // the head is copied as it is, escapes included
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.endString();
        if (this.inString) this.stringLength++;
        continue;
      }
      // past the head: plain base64 characters are held, the oldest beyond the tail dropped in quanta
      this.copy(text, copyFrom, i);
      copyFrom = i + 1;
      if (this.headEnd < 0) this.headEnd = this.size;
      if (c === 0x3d && !this.escaped && this.padding < 2) {
        // padding is the string's last characters: held, never dropped
        this.padding++;
        this.pending += "=";
        this.stringLength++;
        continue;
      }
      if (this.escaped || c === 0x5c || !isBase64Alphabet(c) || this.padding > 0) {
        if (c === 0x22 && !this.escaped) {
          this.parts.push(this.pending);
          this.size += this.pending.length;
          this.pending = "";
          this.endString();
          copyFrom = i;
          continue;
        }
        // an escape would have to be decoded to know what base64 sees: give up
        if (this.escaped || c === 0x5c) {
          this.giveUp();
          return;
        }
        // the first character base64 refuses is kept after what came before it; nothing after it
        // changes how a bytes field fails (and a string field's text does not matter)
        this.pending += text[i];
        this.parts.push(this.pending);
        this.size += this.pending.length;
        this.pending = "";
        this.skipping = true;
        continue;
      }
      // a run of base64 characters is taken in one piece
      let end = i + 1;
      while (end < text.length && isBase64Alphabet(text.charCodeAt(end))) end++;
      this.pending += text.slice(i, end);
      this.stringLength += end - i;
      if (this.pending.length >= MAX_HELD) this.dropHeld();
      i = end - 1;
      copyFrom = end;
    }
    this.copy(text, copyFrom, text.length);
  }

  /** The copy grew past `maxChars` and was given up: what is fed from now on is not looked at. */
  get failed(): boolean {
    return this.gaveUp;
  }

  /**
   * Whether the body's next characters, as long as they are base64's, are the middle of a long string
   * that `takeRun` can take without seeing them all.
   */
  inBase64Run(): boolean {
    return (
      !this.gaveUp &&
      this.inString &&
      !this.skipping &&
      !this.escaped &&
      this.padding === 0 &&
      this.stringLength >= KEEP_HEAD
    );
  }

  /**
   * Takes the next `length` characters of the body, all of base64's alphabet, while `inBase64Run()`,
   * the same as `feed` would; only their last `min(length, RUN_TAIL_CHARS)` are given (`last`). A large
   * body's base64 value then need not become text to be abridged.
   */
  takeRun(last: string, length: number): void {
    if (length === 0) return;
    if (this.headEnd < 0) this.headEnd = this.size;
    this.stringLength += length;
    if (last.length === length) {
      this.pending += last;
      if (this.pending.length >= MAX_HELD) this.dropHeld();
      return;
    }
    // a run longer than what is held: what feed keeps is the run's last characters, whole quanta dropped
    const total = this.pending.length + length;
    const keep = KEEP_TAIL + ((total - KEEP_TAIL) % 4);
    this.pending = last.slice(last.length - keep);
    this.droppedHere += total - keep;
  }

  /** The abridged body once the whole body was fed. */
  result(): Abridged {
    if (this.gaveUp || this.inString) return { kind: "none" };
    return { kind: "abridged", text: this.parts.join(""), strings: this.strings };
  }

  private copy(text: string, from: number, to: number): void {
    if (this.gaveUp || to <= from) return;
    this.parts.push(text.slice(from, to));
    this.size += to - from;
    if (this.size > this.maxChars) this.giveUp();
  }

  /** Drops the held characters but the last KEEP_TAIL and a remainder that keeps the quanta whole. */
  private dropHeld(): void {
    const drop = Math.floor((this.pending.length - KEEP_TAIL) / 4) * 4;
    this.pending = this.pending.slice(drop);
    this.droppedHere += drop;
  }

  private endString(): void {
    this.inString = false;
    this.escaped = false;
    if (this.droppedHere > 0 || this.skippedHere > 0)
      this.strings.push({ at: this.headEnd, dropped: this.droppedHere, skipped: this.skippedHere });
    this.droppedHere = 0;
    this.skippedHere = 0;
    this.skipping = false;
  }

  private giveUp(): void {
    this.gaveUp = true;
    this.parts.length = 0;
    this.pending = "";
  }
}

/**
 * Decodes an abridged copy with `parse` (the body's JSON-to-protobuf decoding) into what the whole body
 * would have given: the same error (a base64 position in a long string moved to where it is in the
 * body), or the message and the size the whole body's message would have. A long string whose field
 * the decoding ignores (an unknown field, a key given twice) adds nothing; when no long string counts,
 * the message is the whole body's. The size of a long string in a nested message is a few bytes short
 * (its enclosing length prefixes grow too).
 */
export function decodeAbridged(
  abridged: { text: string; strings: AbridgedString[] },
  parse: (text: string) => Uint8Array,
): { wire: Uint8Array; size: number } {
  const { text, strings } = abridged;
  /** The copy with one more quantum in the head of the given long string. */
  const widened = (s: AbridgedString) => `${text.slice(0, s.at)}AAAA${text.slice(s.at)}`;
  let wire: Uint8Array;
  try {
    wire = parse(text);
  } catch (err) {
    const at = base64ErrorPosition(err);
    if (at === undefined || at < KEEP_HEAD) throw err;
    // the failing string is the one whose widening moves the position by a quantum
    for (const s of strings) {
      if (s.at < 0) continue;
      let moved: number | undefined;
      try {
        parse(widened(s));
      } catch (again) {
        moved = base64ErrorPosition(again);
      }
      if (moved === at + 4) {
        (err as Error).message = `illegal base64 data at input byte ${at + s.dropped}`;
        break;
      }
    }
    throw err;
  }
  let size = wire.length;
  let largest = 0;
  for (const s of strings) {
    // a string counts when one more quantum in it makes the message longer
    if (s.at < 0 || parse(widened(s)).length === wire.length) continue;
    const bytes = ((s.dropped + s.skipped) / 4) * 3;
    size += bytes;
    largest = Math.max(largest, bytes);
  }
  return { wire, size: size + varintLength(largest + KEPT_BYTES) - varintLength(KEPT_BYTES) };
}

/** The position Go's base64 error names, if the error is one. */
function base64ErrorPosition(err: unknown): number | undefined {
  const m = err instanceof Error ? /^illegal base64 data at input byte (\d+)$/.exec(err.message) : null;
  return m === null ? undefined : Number(m[1]);
}

/** Bytes of a protobuf varint. */
function varintLength(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) len++;
  return len;
}
