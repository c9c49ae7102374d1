// The streaming syntax check agrees with the gateway's JSON reader (Go's json.Decoder texts) on the
// first value of any body, fed whole or in pieces.
// Replay a failed property with the seed and path fast-check prints: SCANNER_SEED=<seed> SCANNER_SEED_PATH=<path>.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { JsonIncomplete, JsonValueReader } from "../../src/api/gateway/go-json.js";
import { JsonSyntaxScanner, type ScanVerdict } from "../../src/api/gateway/json-syntax-scanner.js";
import { replayParameters } from "../seeded-random.js";

/** What the reader says of a body's first value, in the scanner's terms. */
function readerVerdict(text: string): ScanVerdict {
  try {
    const v = new JsonValueReader(text).next();
    return v === undefined ? { kind: "error", message: "unexpected EOF" } : { kind: "complete" };
  } catch (err) {
    if (err instanceof JsonIncomplete) return { kind: "error", message: "unexpected EOF" };
    return { kind: "error", message: (err as Error).message };
  }
}

function scan(pieces: string[]): ScanVerdict {
  const s = new JsonSyntaxScanner();
  for (const p of pieces) {
    const v = s.feed(p);
    if (v.kind !== "more") return v;
  }
  return s.end();
}

/** The same, each piece's ASCII start given as bytes (as the gateway reads a large body's chunks). */
function scanAsciiStarts(pieces: string[]): ScanVerdict {
  const s = new JsonSyntaxScanner();
  for (const p of pieces) {
    const bytes = Buffer.from(p, "utf8");
    let ascii = 0;
    while (ascii < bytes.length && bytes[ascii] < 0x80) ascii++;
    let v = s.feedAscii(bytes.subarray(0, ascii));
    if (v.kind === "more") v = s.feed(bytes.subarray(ascii).toString("utf8"));
    if (v.kind !== "more") return v;
  }
  return s.end();
}

describe("streaming JSON syntax check", () => {
  test("Go's texts for the usual mistakes", () => {
    assert.deepEqual(scan(['{"key":"QUFB"']), { kind: "error", message: "unexpected EOF" });
    assert.deepEqual(scan(["{{"]), {
      kind: "error",
      message: "invalid character '{' looking for beginning of object key string",
    });
    assert.deepEqual(scan(['{"a" 1}']), { kind: "error", message: "invalid character '1' after object key" });
    assert.deepEqual(scan(["[1,2 3]"]), {
      kind: "error",
      message: "invalid character '3' after array element",
    });
    assert.deepEqual(scan(["tru", "x"]), {
      kind: "error",
      message: "invalid character 'x' in literal true (expecting 'e')",
    });
    assert.deepEqual(scan(['{"a":1}', "garbage"]), { kind: "complete" });
    assert.deepEqual(scan(["12"]), { kind: "complete" });
  });

  test("agrees with the gateway's reader on random bodies, whole or in pieces", () => {
    const body = fc.oneof(
      fc.json({ maxDepth: 4 }),
      fc.json({ maxDepth: 4 }).chain((j) => fc.nat(j.length).map((n) => j.slice(0, n))),
      fc
        .json({ maxDepth: 3 })
        .chain((j) =>
          fc
            .tuple(fc.nat(j.length), fc.string({ minLength: 1, maxLength: 2 }))
            .map(([n, s]) => j.slice(0, n) + s + j.slice(n)),
        ),
      fc.string({ maxLength: 40 }),
    );
    fc.assert(
      fc.property(body, fc.array(fc.nat(), { maxLength: 4 }), (text, cuts) => {
        const want = readerVerdict(text);
        if (want.kind === "error" && /max|too many/i.test(want.message)) return;
        assert.deepEqual(scan([text]), want, `whole: ${JSON.stringify(text)}`);
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const pieces = [0, ...points, text.length]
          .slice(1)
          .map((end, i, all) => text.slice(i === 0 ? 0 : all[i - 1], end));
        assert.deepEqual(scan(pieces), want, `pieces: ${JSON.stringify(pieces)}`);
        assert.deepEqual(scanAsciiStarts(pieces), want, `ASCII as bytes: ${JSON.stringify(pieces)}`);
      }),
      { numRuns: 3000, ...replayParameters("SCANNER_SEED") },
    );
  });
});
