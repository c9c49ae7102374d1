// Protobuf `string` fields that hold whatever bytes a client sent, as Go's do (gogo's generated code
// checks no UTF-8): user and role names, the users' role lists, a request header's user. A name of
// bytes that are not UTF-8 must stay those bytes (a second user whose name decodes to the same text is
// another user; answers give back the bytes sent), yet the code around it keeps names as strings.
// So the bytes decode as UTF-8 where they are UTF-8, and each byte that is not (Go's rule: one byte
// at a time where no valid sequence starts) becomes the lone surrogate U+DC80..U+DCFF of its value,
// which no UTF-8 text decodes to; encoding turns those back into their bytes. Distinct bytes give
// distinct strings, and every string such a decoding gives encodes back to its bytes.
import { isUtf8 } from "node:buffer";

const ESCAPE_BASE = 0xdc00;
/** A lone surrogate (no pair around it): the escape of a byte, or a string that came from elsewhere. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");

/** The length of the valid UTF-8 sequence at `i`, or 0 when none starts there. */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (j: number, lo = 0x80, hi = 0xbf) => j < b.length && b[j] >= lo && b[j] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

/** The string of a field's bytes: UTF-8 text, with each byte that is not UTF-8 escaped. */
export function decodeRawString(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString("utf8");
  let out = "";
  let run = 0; // start of the current run of valid sequences
  let i = 0;
  while (i < buf.length) {
    const n = sequenceAt(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += buf.toString("utf8", run, i) + String.fromCharCode(ESCAPE_BASE + buf[i]);
    i++;
    run = i;
  }
  return out + buf.toString("utf8", run, i);
}

/** Whether a string holds escaped bytes (or any lone surrogate). */
export function hasRawBytes(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/**
 * The bytes of a field's string: its UTF-8, escaped bytes as themselves. A lone surrogate that is no
 * escape (a string from elsewhere) is written as U+FFFD, as UTF-8 encoders write it.
 */
export function encodeRawString(text: string): Buffer {
  if (!hasRawBytes(text)) return Buffer.from(text, "utf8");
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        out.push(...Buffer.from(text.slice(i, i + 2), "utf8"));
        i++;
      } else out.push(0xef, 0xbf, 0xbd);
    } else if (c >= 0xdc80 && c <= 0xdcff) out.push(c - ESCAPE_BASE);
    else out.push(...Buffer.from(text[i], "utf8"));
  }
  return Buffer.from(out);
}

/** The byte length of a field's string. */
export function rawStringByteLength(text: string): number {
  return hasRawBytes(text) ? encodeRawString(text).length : Buffer.byteLength(text);
}

/** Orders field strings by their bytes (Go's order of names). */
export function compareRawStrings(a: string, b: string): number {
  return Buffer.compare(encodeRawString(a), encodeRawString(b));
}

/**
 * The text Go's encoding/json makes of a field's bytes: each byte that is not UTF-8 becomes U+FFFD
 * (what a JWT's claims, or the gateway's JSON, carry of such a name).
 */
export function goJsonText(text: string): string {
  return hasRawBytes(text) ? text.replace(LONE_SURROGATES, "\uFFFD") : text;
}

/** In JSON.stringify's text: an escaped backslash, or the escape of a lone surrogate that stands for a byte. */
const ESCAPED_BYTE_OR_BACKSLASH = /\\\\|\\udc[89a-f][0-9a-f]/g;

/**
 * JSON.stringify's text of values holding such strings, as Go's encoding/json writes it: `\ufffd` for
 * each byte that is not UTF-8 (a U+FFFD the bytes hold as UTF-8 stays the character itself).
 */
export function goJsonBytes(json: string): string {
  return json.replace(ESCAPED_BYTE_OR_BACKSLASH, (m) => (m === "\\\\" ? m : "\\ufffd"));
}
