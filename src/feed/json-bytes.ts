// JSON text appended as UTF-8 bytes to one growing buffer, without making strings on the way: key changes are
// written this way on the feed's per-put path, where every intermediate string (a base64 value, an escaped
// key, a number's digits, the concatenations) would be garbage for the collector of a busy member.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = "0123456789abcdef";
const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const BASE64_CODES = Uint8Array.from(BASE64, (c) => c.charCodeAt(0));
const PAD = 0x3d;
/** The short escapes JSON.stringify uses for control characters (b, t, n, f, r); 0: the others become \u00xx. */
const SHORT_ESCAPES = new Uint8Array(0x20);
SHORT_ESCAPES.set([0x62, 0x74, 0x6e, 0, 0x66, 0x72], 0x08);
/** Strings up to this length are copied character by character (cheaper than a call into the runtime). */
const SHORT = 64;

export class JsonBytes {
  buffer: Buffer = Buffer.alloc(0);
  length = 0;

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.length + n, 2 * this.buffer.length, 64 * 1024));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }

  /** Forgets the bytes written; a buffer larger than `keep` bytes is given back. */
  reset(keep: number): void {
    this.length = 0;
    if (this.buffer.length > keep) this.buffer = Buffer.alloc(0);
  }

  byte(b: number): void {
    this.reserve(1);
    this.buffer[this.length++] = b;
  }

  /** A string of Latin-1 characters (JSON punctuation, names, hex ids) as it is. */
  latin1(s: string): void {
    this.reserve(s.length);
    if (s.length > SHORT) {
      this.length += this.buffer.write(s, this.length, "latin1");
      return;
    }
    const buf = this.buffer;
    let at = this.length;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.length = at;
  }

  /** A number as JSON.stringify writes it. */
  number(n: number): void {
    if (!(Number.isSafeInteger(n) && n >= 0)) {
      this.latin1(JSON.stringify(n));
      return;
    }
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    this.reserve(digits);
    const buf = this.buffer;
    let at = this.length + digits;
    this.length = at;
    let x = n;
    do {
      buf[--at] = 0x30 + (x % 10);
      x = Math.floor(x / 10);
    } while (x > 0);
  }

  /** Valid UTF-8 bytes as a JSON string, escaped exactly as JSON.stringify escapes their text. */
  utf8String(bytes: Uint8Array): void {
    // at most six bytes per input byte (\u00xx), and the quotes
    this.reserve(bytes.length * 6 + 2);
    const buf = this.buffer;
    let at = this.length;
    buf[at++] = QUOTE;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (b >= 0x20 && b !== QUOTE && b !== BACKSLASH) {
        buf[at++] = b;
        continue;
      }
      buf[at++] = BACKSLASH;
      if (b === QUOTE || b === BACKSLASH) buf[at++] = b;
      else if (SHORT_ESCAPES[b] !== 0) buf[at++] = SHORT_ESCAPES[b];
      else {
        buf[at++] = 0x75; // u
        buf[at++] = 0x30;
        buf[at++] = 0x30;
        buf[at++] = HEX.charCodeAt(b >> 4);
        buf[at++] = HEX.charCodeAt(b & 0xf);
      }
    }
    buf[at++] = QUOTE;
    this.length = at;
  }

  /** Bytes in standard base64 with padding (as Buffer's "base64"), without quotes. */
  base64(bytes: Uint8Array): void {
    const n = bytes.length;
    this.reserve(Math.ceil(n / 3) * 4);
    const buf = this.buffer;
    let at = this.length;
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      buf[at++] = BASE64_CODES[v >> 18];
      buf[at++] = BASE64_CODES[(v >> 12) & 63];
      buf[at++] = BASE64_CODES[(v >> 6) & 63];
      buf[at++] = BASE64_CODES[v & 63];
    }
    if (i < n) {
      const two = i + 1 < n;
      const v = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
      buf[at++] = BASE64_CODES[v >> 18];
      buf[at++] = BASE64_CODES[(v >> 12) & 63];
      buf[at++] = two ? BASE64_CODES[(v >> 6) & 63] : PAD;
      buf[at++] = PAD;
    }
    this.length = at;
  }

  /** Bytes written elsewhere (an event already encoded), copied. */
  copy(from: Buffer, start: number, end: number): void {
    this.reserve(end - start);
    this.length += from.copy(this.buffer, this.length, start, end);
  }
}
