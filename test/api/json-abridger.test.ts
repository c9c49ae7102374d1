// The abridged copy of a large body decodes as the whole body does: the same error text (Go's,
// positions included), or the same message size. Bodies are fed whole and in random pieces.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  type Abridged,
  decodeAbridged,
  JsonAbridger,
  RUN_TAIL_CHARS,
} from "../../src/api/gateway/json-abridger.js";
import { messageDesc, parseBody } from "../../src/api/gateway/json-codec.js";

const put = messageDesc("etcdserverpb.PutRequest");

/** What decoding says: the message's size, or the error text. */
function decodeWhole(text: string): { size: number } | { error: string } {
  try {
    return { size: parseBody(put, text).length };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** The same answer from the abridged copy, as the gateway works it out. */
function fromAbridged(abridged: Abridged & { kind: "abridged" }): { size: number } | { error: string } {
  try {
    return { size: decodeAbridged(abridged, (text) => parseBody(put, text)).size };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function abridge(pieces: string[], maxChars = 64 * 1024): Abridged {
  const a = new JsonAbridger(maxChars);
  for (const p of pieces) a.feed(p);
  return a.result();
}

/** Cuts text into pieces at the given fractions. */
function cut(text: string, at: number[]): string[] {
  const points = [...new Set(at.map((f) => Math.floor(f * text.length)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let from = 0;
  for (const p of points) {
    pieces.push(text.slice(from, p));
    from = p;
  }
  pieces.push(text.slice(from));
  return pieces;
}

const base64Char = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
/** A long base64-like string: valid, or spoiled by a stray character, a missing character or padding. */
const base64Like = (minLength: number, maxLength: number) =>
  fc
    .tuple(
      fc.integer({ min: minLength, max: maxLength }),
      fc.array(base64Char, { minLength: 1, maxLength: 8 }).map((a) => a.join("")),
      fc.oneof(
        fc.constant(""),
        fc.constant("="),
        fc.constant("=="),
        fc.constant("==="),
        fc.constantFrom("!", "-", "_", " ", "\u00e9"),
      ),
      fc.nat(),
    )
    .map(([len, unit, spoil, where]) => {
      const body = unit.repeat(Math.ceil(len / unit.length)).slice(0, len);
      if (spoil === "" || spoil.startsWith("=")) return body + spoil;
      const at = len === 0 ? 0 : where % len;
      return body.slice(0, at) + spoil + body.slice(at);
    });
const longBase64 = base64Like(0, 12_000);
const shortValue = fc.oneof(
  fc.integer().map(String),
  fc.boolean().map(String),
  fc.constant("null"),
  fc.constant("[1,2,3]"),
  fc.constant("{}"),
  fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
);
// long strings go to bytes fields and unknown ones: a number field's error quotes its whole string
const bytesValue = fc.oneof(
  longBase64.map((s) => JSON.stringify(s)),
  shortValue,
);
const body = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.tuple(fc.constantFrom("key", "value", "other"), bytesValue),
        fc.tuple(fc.constantFrom("lease", "prev_kv", "ignore_value"), shortValue),
      ),
      { maxLength: 4 },
    ),
    fc.constantFrom("", " ", "\n  "),
  )
  .map(
    ([fields, space]) =>
      `{${space}${fields.map(([k, v]) => `"${k}":${space}${v}`).join(`,${space}`)}${space}}`,
  );

describe("abridged copy of a large JSON body", () => {
  test("decodes to the whole body's error or size", () => {
    const seed = Number(process.env.ABRIDGER_SEED ?? Date.now() % 2 ** 31);
    try {
      fc.assert(
        fc.property(
          body,
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
          (text, at) => {
            const abridged = abridge(cut(text, at));
            if (abridged.kind === "none") return;
            const whole = decodeWhole(text);
            const got = fromAbridged(abridged);
            assert.deepEqual(got, whole, `body of ${text.length} characters`);
          },
        ),
        { numRuns: 600, seed },
      );
    } catch (err) {
      console.error(
        `replay with ABRIDGER_SEED=${seed} node --import tsx --test test/api/json-abridger.test.ts`,
      );
      throw err;
    }
  });

  test("a long string's base64 run taken unseen abridges as the same run fed", () => {
    const seed = Number(process.env.ABRIDGER_SEED ?? Date.now() % 2 ** 31);
    // pieces as a large body arrives; each piece's leading base64 run is taken with only its tail shown
    // whenever the copy is in a long string's middle, as the gateway does with a chunk's first bytes
    const fedWithRuns = (pieces: string[]) => {
      const a = new JsonAbridger(64 * 1024);
      let taken = 0;
      for (const piece of pieces) {
        let n = 0;
        if (a.inBase64Run()) while (n < piece.length && /[A-Za-z0-9+/]/.test(piece[n])) n++;
        a.takeRun(piece.slice(Math.max(0, n - RUN_TAIL_CHARS), n), n);
        taken += n;
        a.feed(piece.slice(n));
      }
      return { result: a.result(), taken };
    };
    let takenInAll = 0;
    try {
      fc.assert(
        fc.property(
          body,
          base64Like(4_000, 40_000),
          fc.array(fc.nat(), { maxLength: 12 }),
          (before, long, at) => {
            // the body with one more long string, cut anywhere (its middle included)
            const text = `${before.slice(0, -1)}${before.length > 2 ? "," : ""}"value":${JSON.stringify(long)}}`;
            const pieces = cut(
              text,
              at.map((n) => (n % text.length) / text.length),
            );
            const { result, taken } = fedWithRuns(pieces);
            takenInAll += taken;
            assert.deepEqual(result, abridge(pieces), `body of ${text.length} characters`);
          },
        ),
        { numRuns: 600, seed },
      );
    } catch (err) {
      console.error(
        `replay with ABRIDGER_SEED=${seed} node --import tsx --test test/api/json-abridger.test.ts`,
      );
      throw err;
    }
    // the runs really were taken unseen (long strings are common among the bodies)
    assert.ok(takenInAll > 100_000, `only ${takenInAll} characters taken as runs`);
    // one run far longer than what is held: the same copy and the same size as the body fed whole
    const value = "QUFB".repeat(250_000);
    const text = `{"key":"a2V5","value":"${value}"}`;
    const cutAt = text.indexOf("QUFB") + 5000;
    const runs = fedWithRuns([text.slice(0, cutAt), text.slice(cutAt)]);
    assert.equal(runs.taken, value.length - 5000);
    assert.deepEqual(runs.result, abridge([text.slice(0, cutAt), text.slice(cutAt)]));
    if (runs.result.kind === "abridged") assert.deepEqual(fromAbridged(runs.result), decodeWhole(text));
    else assert.fail("the body was not abridged");
  });

  test("what it keeps and drops", () => {
    const value = "QUFB".repeat(100_000);
    const text = `{"key":"a2V5", "value":"${value}"}`;
    const a = abridge([text]);
    assert.equal(a.kind, "abridged");
    if (a.kind !== "abridged") return;
    assert.ok(a.text.length < 9000, `${a.text.length} characters kept`);
    assert.equal(a.strings.length, 1);
    assert.deepEqual(fromAbridged(a), decodeWhole(text));
    // whitespace between tokens is dropped; a body that is mostly whitespace is kept whole
    const spaced = `{"key":"a2V5",${" ".repeat(1_000_000)}"value":"dg=="}`;
    const s = abridge([spaced]);
    assert.deepEqual(s, { kind: "abridged", text: '{"key":"a2V5","value":"dg=="}', strings: [] });
    // a long string in a field the decoding ignores adds nothing to the message
    const ignored = `{"key":"a2V5","other":"${value}"}`;
    const i = abridge([ignored]);
    assert.ok(i.kind === "abridged" && i.strings.length === 1);
    assert.deepEqual(fromAbridged(i), decodeWhole(ignored));
    // an escape past the head, or a copy past its bound, gives up
    assert.deepEqual(abridge([`{"key":"${"QUFB".repeat(2000)}\\u0041"}`]), { kind: "none" });
    assert.deepEqual(abridge([`[${"1,".repeat(50_000)}1]`], 1000), { kind: "none" });
  });
});
