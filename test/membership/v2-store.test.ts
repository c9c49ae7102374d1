import assert from "node:assert/strict";
import { test } from "node:test";
import { formatGoTime, GO_ZERO_TIME_NS, parseGoTime } from "../../src/membership/go-time.js";
import { V2ErrorCode, V2Store, V2StoreError, V2StoreFormatError } from "../../src/membership/v2-store.js";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof V2StoreError) return err.errorCode;
    throw err;
  }
  return undefined;
};

test("Go's time JSON: zero time, nanoseconds, zones", () => {
  assert.equal(formatGoTime(GO_ZERO_TIME_NS), "0001-01-01T00:00:00Z");
  assert.equal(parseGoTime("0001-01-01T00:00:00Z"), GO_ZERO_TIME_NS);
  assert.equal(parseGoTime("1970-01-01T00:00:00Z"), 0n);
  assert.equal(formatGoTime(1_700_000_000_123_456_789n), "2023-11-14T22:13:20.123456789Z");
  assert.equal(formatGoTime(1_700_000_000_120_000_000n), "2023-11-14T22:13:20.12Z");
  assert.equal(parseGoTime("2023-11-14T23:13:20.12+01:00"), 1_700_000_000_120_000_000n);
  assert.equal(parseGoTime("2000-02-29T00:00:00Z"), 951_782_400n * 1_000_000_000n);
  assert.equal(formatGoTime(-1n), "1969-12-31T23:59:59.999999999Z");
  for (let days = -719_000; days < 2_900_000; days += 12_345) {
    const ns = BigInt(days) * 86_400n * 1_000_000_000n + 4_321n;
    assert.equal(parseGoTime(formatGoTime(ns)), ns, `day ${days}`);
  }
  assert.throws(() => parseGoTime("yesterday"), /RFC 3339/);
});

test("writes move the index by one; creates make missing directories with the next index", () => {
  const s = V2Store.fresh();
  s.create("/0/members/a/raftAttributes", false, "x", false);
  assert.equal(s.currentIndex, 1);
  const dir = s.get("/0/members/a");
  assert.deepEqual([dir.createdIndex, dir.modifiedIndex, dir.children?.size], [1, 1, 1]);
  s.set("/0/members/a/attributes", false, "y");
  s.update("/0/members/a/raftAttributes", "z");
  const ra = s.get("/0/members/a/raftAttributes");
  assert.deepEqual([ra.value, ra.createdIndex, ra.modifiedIndex, s.currentIndex], ["z", 1, 3, 3]);
  s.set("/0/members/a/attributes", false, "y2");
  assert.equal(s.get("/0/members/a/attributes").createdIndex, 4, "set replaces the node");
  s.delete("/0/members/a", true, true);
  s.create("/0/removed_members/a", false, "", false);
  assert.equal(s.currentIndex, 6);
  assert.equal(s.find("/0/members/a"), undefined);
  assert.equal(s.get("/0/members").children?.size, 0, "the members directory stays");
});

test("the errors etcd's store gives, and what a failed create leaves behind", () => {
  const s = V2Store.fresh();
  s.set("/1/file", false, "v");
  assert.equal(
    code(() => s.create("/1/file", false, "v", false)),
    V2ErrorCode.NodeExist,
  );
  assert.equal(
    code(() => s.set("/0", true, "")),
    V2ErrorCode.RootReadOnly,
  );
  assert.equal(
    code(() => s.delete("/", true, true)),
    V2ErrorCode.RootReadOnly,
  );
  assert.equal(
    code(() => s.get("/1/file/below")),
    V2ErrorCode.NotDir,
  );
  assert.equal(
    code(() => s.get("/1/nothing")),
    V2ErrorCode.KeyNotFound,
  );
  assert.equal(
    code(() => s.update("/1/nothing", "v")),
    V2ErrorCode.KeyNotFound,
  );
  assert.equal(
    code(() => s.delete("/1", false, false)),
    V2ErrorCode.RootReadOnly,
  );
  s.create("/1/dir/inner", false, "v", false);
  assert.equal(
    code(() => s.delete("/1/dir", false, false)),
    V2ErrorCode.NotFile,
  );
  assert.equal(
    code(() => s.delete("/1/dir", true, false)),
    V2ErrorCode.DirNotEmpty,
  );
  assert.equal(
    code(() => s.set("/1/dir", false, "v")),
    V2ErrorCode.NotFile,
  );
  assert.equal(
    code(() => s.compareAndSwap("/1/file", "other", 0n, "w")),
    V2ErrorCode.TestFailed,
  );
  assert.equal(
    code(() => s.compareAndSwap("/1/dir", "", 0n, "w")),
    V2ErrorCode.NotFile,
  );
  const index = s.currentIndex;
  // the directories on the way of a create that then fails stay (at the index the create would have had)
  s.create("/1/new/x", false, "v", false);
  assert.equal(
    code(() => s.create("/1/new/x/y/z", false, "v", false)),
    V2ErrorCode.NotDir,
  );
  assert.equal(
    code(() => s.create("/1/made/x", false, "v", false)),
    undefined,
  );
  assert.equal(s.get("/1/made").createdIndex, index + 2);
  s.compareAndSwap("/1/file", "v", BigInt(s.get("/1/file").modifiedIndex), "w");
  assert.equal(s.get("/1/file").value, "w");
  s.compareAndDelete("/1/file", "w", 0n);
  assert.equal(s.find("/1/file"), undefined);
  // paths are cleaned as Go's path.Clean does
  s.set("//1/./a/../b", false, "cleaned");
  assert.equal(s.get("/1/b").value, "cleaned");
});

test("in-order keys are zero-padded indexes", () => {
  const s = V2Store.fresh();
  const a = s.create("/1/q", false, "a", true);
  const b = s.create("/1/q", false, "b", true);
  assert.equal(a.path, "/1/q/00000000000000000001");
  assert.equal(b.path, "/1/q/00000000000000000002");
});

test("TTLs: expiring in order, one index each; times before 2000 mean none; refresh keeps the value", () => {
  const s = V2Store.fresh();
  const t0 = 1_800_000_000_000_000_000n;
  s.set("/1/early", false, "v", { expireTime: t0 });
  s.set("/1/late", false, "v", { expireTime: t0 + 10n });
  s.set("/1/old", false, "v", { expireTime: 1n });
  assert.equal(s.get("/1/old").expireTime, GO_ZERO_TIME_NS);
  s.set("/1/early", false, "ignored", { expireTime: t0 + 5n, refresh: true });
  assert.equal(s.get("/1/early").value, "v");
  const index = s.currentIndex;
  s.deleteExpiredKeys(t0 + 5n);
  assert.equal(s.currentIndex, index + 1);
  assert.equal(s.find("/1/early"), undefined);
  assert.ok(s.hasTtlKeys());
  s.update("/1/late", "w", { expireTime: GO_ZERO_TIME_NS });
  assert.equal(s.hasTtlKeys(), false, "an update without TTL makes the key permanent");
  s.deleteExpiredKeys(t0 + 100n);
  assert.equal(s.get("/1/late").value, "w");
  assert.equal(
    code(() => s.set("/1/none", false, "", { expireTime: t0, refresh: true })),
    V2ErrorCode.KeyNotFound,
  );
});

test("JSON: etcd's node layout, keys sorted, and back", () => {
  const s = V2Store.fresh();
  s.create("/0/members/b/raftAttributes", false, '{"peerURLs":["http://b:1"]}', false);
  s.create("/0/members/a/raftAttributes", false, '{"peerURLs":["<&>"]}', false);
  s.set("/1/ttl", false, "v", { expireTime: 1_800_000_000_000_000_001n });
  const json = s.toJson();
  assert.ok(
    json.startsWith(
      '{"Root":{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"0":{"Path":"/0",',
    ),
  );
  assert.ok(json.indexOf('"a":{"Path":"/0/members/a"') < json.indexOf('"b":{"Path":"/0/members/b"'));
  assert.ok(json.includes('"Value":"{\\"peerURLs\\":[\\"\\u003c\\u0026\\u003e\\"]}","Children":null'));
  assert.ok(json.includes('"ExpireTime":"2027-01-15T08:00:00.000000001Z"'));
  assert.ok(json.endsWith('"CurrentIndex":3,"CurrentVersion":2}'));
  const back = V2Store.fromJson(json);
  assert.equal(back.toJson(), json);
  assert.ok(back.hasTtlKeys());
});

test("recovery merges into a fresh store as Go's json.Unmarshal does, and refuses what is not a store", () => {
  const minimal = V2Store.fromJson(
    '{"Root":{"Path":"/","Children":{"0":{"Path":"/0","Children":{"version":{"Path":"/0/version","Value":"3.4.0"}}}}},"CurrentIndex":7}',
  );
  assert.equal(minimal.currentIndex, 7);
  assert.equal(minimal.get("/0/version").value, "3.4.0");
  assert.equal(minimal.get("/1").children?.size, 0, "a missing /1 stays the fresh one");
  assert.equal(minimal.get("/0/version").expireTime, GO_ZERO_TIME_NS);
  for (const bad of [
    "",
    "[]",
    "5",
    '{"Root":5}',
    '{"Root":{"Children":{"0":null}}}',
    '{"Root":{"ExpireTime":"soon"}}',
    '{"CurrentIndex":-1}',
    '{"CurrentIndex":1.5}',
  ]) {
    assert.throws(() => V2Store.fromJson(bad), V2StoreFormatError, bad);
  }
});
