import assert from "node:assert/strict";
import { test } from "node:test";
import { from, lastValueFrom, toArray } from "rxjs";
import type { EventOf, FeedEvent, KeyValueProps } from "../../src/feed/protocol.js";
import { redactValues } from "../../src/operators/redact-values.js";

const kv = (key: KeyValueProps["key"], value: string): KeyValueProps => ({
  key,
  value,
  createRevision: 2,
  modRevision: 3,
  version: 2,
  lease: "0",
});
const change = (key: KeyValueProps["key"], kind: "put" | "delete", prev?: KeyValueProps): EventOf<"kv"> => ({
  type: "kv",
  at: 1,
  member: "1",
  revision: 3,
  kind,
  ...kv(key, kind === "put" ? "v" : ""),
  ...(prev ? { prev } : {}),
});

const run = (events: FeedEvent[]) =>
  lastValueFrom(from(events).pipe(redactValues({ prefixes: ["secret/", Buffer.from([0xff])] }), toArray()));

test("values under the prefixes are hidden in key changes, previous values and snapshots; the rest is untouched", async () => {
  const binaryKey = { base64: Buffer.from([0xff, 0x01]).toString("base64") };
  const [put, del, other, bin, snap, raft] = await run([
    change("secret/a", "put", kv("secret/a", "old")),
    change("secret/a", "delete", kv("secret/a", "v")),
    change("secretary", "put", kv("secretary", "old")),
    change(binaryKey, "put"),
    {
      type: "kv.snapshot",
      at: 1,
      member: "1",
      range: 0,
      revision: 3,
      more: false,
      kvs: [kv("public/x", "shown"), kv("secret/b", "hidden")],
    },
    {
      type: "raft.state",
      at: 1,
      member: "1",
      role: "leader",
      term: 2,
      leader: "1",
      commitIndex: 5,
      appliedIndex: 5,
    },
  ]);
  assert.deepEqual(put.type === "kv" && [put.value, put.prev?.value, put.revision, put.version], [
    "[redacted]",
    "[redacted]",
    3,
    2,
  ]);
  assert.deepEqual(del.type === "kv" && [del.value, del.prev?.value], ["", "[redacted]"]);
  assert.deepEqual(other.type === "kv" && [other.value, other.prev?.value], ["v", "old"]);
  assert.equal(bin.type === "kv" && bin.value, "[redacted]", "prefixes compare raw bytes");
  assert.deepEqual(snap.type === "kv.snapshot" && snap.kvs.map((k) => k.value), ["shown", "[redacted]"]);
  assert.equal(raft.type, "raft.state");
});
