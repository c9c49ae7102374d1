import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { inflateSync } from "node:zlib";
import { DeflateLevel, EncodedBatch, FASTEST, STORED } from "../../src/feed/encoded-batch.js";
import type { FeedBatch } from "../../src/feed/protocol.js";

/** A batch of n put events whose values are random bytes (base64 in the JSON) or repeated text. */
function putBatch(n: number, values: "random" | "text", valueBytes = 2048): FeedBatch {
  return {
    events: Array.from({ length: n }, (_, i) => ({
      type: "kv" as const,
      at: 1_700_000_000_000 + i,
      member: "8e9e05c52164694d",
      revision: 1000 + i,
      kind: "put" as const,
      key: `jobs/${i}`,
      value:
        values === "random"
          ? { base64: randomBytes(valueBytes).toString("base64") }
          : `{"state":"running","n":${i}}`,
      createRevision: 10 + i,
      modRevision: 1000 + i,
      version: 2,
      lease: "0",
    })),
  };
}

test("a group's batches that do not shrink are sent stored for a while, then compressed again", () => {
  const level = new DeflateLevel();
  assert.equal(level.level, FASTEST);
  const first = new EncodedBatch(putBatch(200, "random"));
  const firstBytes = first.deflated(level);
  assert.ok(
    firstBytes.length > first.json.length * DeflateLevel.POOR_RATIO,
    "large random values barely shrink",
  );
  for (let i = 0; i < DeflateLevel.STORED_FLUSHES; i++) {
    assert.equal(level.level, STORED, `batch ${i + 1} after the poor one is stored`);
    const b = new EncodedBatch(putBatch(50, "random"));
    const bytes = b.deflated(level);
    assert.ok(bytes.length >= b.json.length, "a stored batch is no smaller than its JSON");
    assert.equal(inflateSync(bytes).toString("utf8"), b.json, "and still inflates to it");
  }
  assert.equal(level.level, FASTEST, "then the group tries compressing again");
  const text = new EncodedBatch(putBatch(200, "text"));
  const textBytes = text.deflated(level);
  assert.ok(
    textBytes.length * 5 < text.json.length,
    `text shrinks (${textBytes.length} of ${text.json.length})`,
  );
  assert.equal(level.level, FASTEST, "a batch that shrank keeps compression on");
  assert.equal(inflateSync(textBytes).toString("utf8"), text.json);
});

test("a small batch that does not shrink (a lone sample) leaves compression on", () => {
  const level = new DeflateLevel();
  const small = new EncodedBatch(putBatch(1, "random", 256));
  assert.ok(small.json.length < DeflateLevel.JUDGED_BYTES);
  assert.ok(small.deflated(level).length > small.json.length * DeflateLevel.POOR_RATIO, "it does not shrink");
  assert.equal(level.level, FASTEST, "the next, larger batches are still compressed");
});

test("small random values shrink enough to stay compressed", () => {
  const level = new DeflateLevel();
  const b = new EncodedBatch(putBatch(200, "random", 256));
  assert.ok(b.deflated(level).length < b.json.length * DeflateLevel.POOR_RATIO);
  assert.equal(level.level, FASTEST);
});

test("a batch is deflated once, whoever asks again", () => {
  const level = new DeflateLevel();
  const b = new EncodedBatch(putBatch(100, "random"));
  const once = b.deflated(level);
  assert.equal(b.deflated(level), once);
  assert.equal(b.deflated(), once);
  // the level saw one batch: the next is stored, the following ones too, until STORED_FLUSHES have passed
  assert.equal(level.level, STORED);
});

test("a batch given as JSON bytes: the same text, deflated and framed for WebSocket clients once", () => {
  const events = putBatch(20, "text");
  const b = EncodedBatch.ofJson(Buffer.from(JSON.stringify(events)));
  assert.equal(b.json, JSON.stringify(events));
  assert.equal(inflateSync(b.deflated()).toString("utf8"), b.json);
  assert.equal(b.packet, `2["batch",${b.json}]`);
  const [header, payload] = b.wsFrame;
  assert.equal(b.wsFrame[0], header, "the frame is built once");
  assert.equal(payload?.toString("utf8"), `4${b.packet}`, "engine.io's message type, then the packet");
  // RFC 6455: FIN + text opcode, then the 16-bit length form for 126..65535 bytes
  assert.deepEqual([header?.[0], header?.[1], header?.readUInt16BE(2)], [0x81, 126, payload?.length]);
});
