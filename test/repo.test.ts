import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Message, MessageType } from "../src/gen/raftpb/raft.js";

test("package.json names the rxetcd binary and requires Node 20", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    name: string;
    bin: Record<string, string>;
    engines: { node: string };
  };
  assert.equal(pkg.name, "rxetcd");
  assert.equal(pkg.bin.rxetcd, "bin/rxetcd.js");
  assert.equal(pkg.engines.node, ">=20");
});

test("raft messages round-trip through the generated protobuf code with etcd's field numbers", () => {
  const msg = Message.fromPartial({
    type: MessageType.MsgApp,
    to: 2n,
    from: 1n,
    term: 5,
    index: 7,
    commit: 3,
  });
  const bytes = Message.encode(msg).finish();
  // field 1 (type, varint) = 3, field 2 (to) = 2, field 3 (from) = 1, field 4 (term) = 5, field 6 (index) = 7, field 8 (commit) = 3
  assert.deepEqual([...bytes], [0x08, 3, 0x10, 2, 0x18, 1, 0x20, 5, 0x30, 7, 0x40, 3]);
  assert.deepEqual(Message.decode(bytes), msg);
});
