// The feed writes key changes as JSON text directly (and queues them as bytes): the text must be exactly what
// JSON.stringify gives for the event objects the protocol describes, for every kind of key and value.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EventQueue } from "../../src/feed/event-queue.js";
import { KvChange } from "../../src/feed/kv-change.js";
import { FeedBatch, type FeedEvent } from "../../src/feed/protocol.js";
import type { KeyValue } from "../../src/gen/mvccpb/kv.js";
import { mulberry32, withSeed } from "../seeded-random.js";

/** Bytes of every sort the feed meets: ASCII, control characters and quotes, multi-byte UTF-8, invalid UTF-8. */
function someBytes(rnd: () => number, maxLength: number): Buffer {
  const n = Math.floor(rnd() * maxLength);
  switch (Math.floor(rnd() * 4)) {
    case 0:
      return Buffer.from(Array.from({ length: n }, () => 32 + Math.floor(rnd() * 95)));
    case 1:
      return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 128)));
    case 2:
      return Buffer.from(
        Array.from(
          { length: n },
          () => ["a", '"', "\\", "é", "€", "\u2028", "😀", "\n"][Math.floor(rnd() * 8)],
        ).join(""),
        "utf8",
      );
    default:
      return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  }
}

function someRecord(rnd: () => number): KeyValue {
  const key = someBytes(rnd, 24);
  return {
    key: key.length === 0 ? Buffer.from("k") : key,
    value: someBytes(rnd, 300),
    createRevision: Math.floor(rnd() * 1e9),
    modRevision: Math.floor(rnd() * 1e9),
    version: Math.floor(rnd() * 1000),
    lease: rnd() < 0.5 ? 0n : BigInt(Math.floor(rnd() * 2 ** 53)) * 1024n + 7n,
  };
}

const member = "8e9e05c52164694d";

/** Equal texts, or a failure naming the first difference (node's diff of long one-line texts takes minutes). */
function sameText(actual: string | undefined, expected: string, what: string): void {
  if (actual === expected) return;
  const a = actual ?? "";
  let i = 0;
  while (i < a.length && a[i] === expected[i]) i++;
  assert.fail(
    `${what}: texts differ at ${i}: ${JSON.stringify(a.slice(Math.max(0, i - 40), i + 40))} vs ${JSON.stringify(expected.slice(Math.max(0, i - 40), i + 40))}`,
  );
}

test("a key change's JSON text is JSON.stringify of its event, with and without its previous version", () =>
  withSeed("SEED", "test/feed/kv-event-json.test.ts", (seed) => {
    const rnd = mulberry32(seed);
    for (let i = 0; i < 2000; i++) {
      const kv = someRecord(rnd);
      const prev = rnd() < 0.7 ? someRecord(rnd) : undefined;
      const kind = rnd() < 0.8 ? "put" : "delete";
      const revision = 1 + Math.floor(rnd() * 1e9);
      const asked: Array<[Buffer, number]> = [];
      const change = new KvChange(revision, kind, kv, 1_700_000_000_000 + i, member, (key, rev) => {
        asked.push([key, rev]);
        return prev;
      });
      // written into the first queue, copied into the second: both hold the event's JSON
      for (const withPrev of [false, true]) {
        const expected = JSON.stringify({ events: [withPrev ? change.eventWithPrev() : change.event()] });
        for (const copy of ["written", "copied"]) {
          const queue = new EventQueue();
          change.queueIn(queue, withPrev);
          const [json] = queue.takeBatches(10);
          sameText(json?.toString("utf8"), expected, `change ${i}, prev ${withPrev}, ${copy}`);
        }
      }
      assert.equal(asked.length, 1, "the previous version is read once");
      assert.deepEqual(asked[0], [kv.key, revision - 1], "as of the revision before the change");
      assert.equal("prev" in change.eventWithPrev(), prev !== undefined, `change ${i}`);
    }
  }));

test("queued events come out as batches: the same JSON as the events' objects, in order, coalesced in place", () =>
  withSeed("SEED", "test/feed/kv-event-json.test.ts", (seed) => {
    const rnd = mulberry32(seed);
    for (let round = 0; round < 50; round++) {
      const queue = new EventQueue();
      // what JSON.stringify of the queued objects gives, with coalesced state events replaced where they stood
      const expected: FeedEvent[] = [];
      const coalescedAt = new Map<string, number>();
      const n = Math.floor(rnd() * 300);
      for (let i = 0; i < n; i++) {
        if (rnd() < 0.8) {
          const change = new KvChange(
            i + 1,
            "put",
            someRecord(rnd),
            1_700_000_000_000,
            member,
            () => undefined,
          );
          change.queueIn(queue, false);
          expected.push(change.event());
          continue;
        }
        const key = rnd() < 0.5 ? "raft.state" : undefined;
        const event: FeedEvent = { type: "snapshot", at: i, member, index: i, term: round };
        queue.push(event, key);
        const at = key === undefined ? undefined : coalescedAt.get(key);
        if (at !== undefined) expected[at] = event;
        else {
          if (key !== undefined) coalescedAt.set(key, expected.length);
          expected.push(event);
        }
      }
      assert.equal(queue.length, expected.length, `round ${round}`);
      const max = 1 + Math.floor(rnd() * 60);
      const batches = queue.takeBatches(max);
      assert.equal(queue.length, 0, "the queue is empty after a take");
      assert.equal(batches.length, Math.ceil(expected.length / max), `round ${round}`);
      batches.forEach((json, b) => {
        const events = expected.slice(b * max, (b + 1) * max);
        sameText(json.toString("utf8"), JSON.stringify({ events }), `round ${round}, batch ${b}`);
        assert.ok(FeedBatch.is(JSON.parse(json.toString("utf8"))), "and decodes as a batch");
      });
      // the queue is used again after a take: what comes next is a fresh batch
      queue.push({ type: "snapshot", at: 1, member, index: 1, term: 1 }, "raft.state");
      const change = new KvChange(7, "delete", someRecord(rnd), 5, member, () => undefined);
      change.queueIn(queue, false);
      const [again] = queue.takeBatches(max + 1);
      sameText(
        again?.toString("utf8"),
        JSON.stringify({ events: [{ type: "snapshot", at: 1, member, index: 1, term: 1 }, change.event()] }),
        `round ${round}, after a take`,
      );
    }
  }));
