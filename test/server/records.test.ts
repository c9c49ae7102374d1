// The server's view of the record buckets: what the applier writes lands in etcd's encodings.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AlarmMember } from "../../src/gen/etcdserverpb/rpc.js";
import { ServerRecords } from "../../src/server/records.js";
import { b, openTempStore } from "../mvcc/helpers.js";

function fixedAlarm(member: bigint, alarm: number): Buffer {
  const k = Buffer.alloc(12);
  k.writeBigUInt64BE(member, 0);
  k.writeInt32BE(alarm, 8);
  return k;
}

test("alarms are stored as etcd keys them (AlarmMember protobuf, empty value) and listed as the applier wrote them", async () => {
  const t = openTempStore();
  try {
    const records = new ServerRecords(t.store);
    const nospace = fixedAlarm(0x8e9e05c52164694dn, 1);
    const corrupt = fixedAlarm(0x10n, 2);
    records.write(1, [
      ["alarm", nospace, nospace],
      ["alarm", corrupt, corrupt],
    ]);
    const stored = t.store.records("alarm");
    assert.deepEqual(
      stored.map(([k, v]) => [AlarmMember.decode(k), v.length]),
      [
        [{ memberID: 0x10n, alarm: 2 }, 0],
        [{ memberID: 0x8e9e05c52164694dn, alarm: 1 }, 0],
      ],
    );
    assert.equal(stored[0][0].toString("hex"), "08101002", "gogo's bytes for {memberID: 16, alarm: CORRUPT}");
    assert.deepEqual(records.list("alarm"), [
      [corrupt, corrupt],
      [nospace, nospace],
    ]);
    records.write(2, [["alarm", nospace, undefined]]);
    assert.deepEqual(records.list("alarm"), [[corrupt, corrupt]]);
    assert.equal(t.store.consistentIndex(), 2);
  } finally {
    await t.cleanup();
  }
});

test("other buckets pass through; unknown buckets are refused", async () => {
  const t = openTempStore();
  try {
    const records = new ServerRecords(t.store);
    records.write(1, [["members", b("8e9e05c52164694d"), b("{}")]]);
    assert.deepEqual(records.list("members"), [[b("8e9e05c52164694d"), b("{}")]]);
    t.store.write(2, (tx) => {
      tx.put(b("k"), b("v"), 0n);
      records.stage([["cluster", b("clusterVersion"), b("3.4.0")]]);
    });
    assert.deepEqual(t.store.records("cluster"), [[b("clusterVersion"), b("3.4.0")]]);
    assert.throws(() => records.write(3, [["nope", b("k"), b("v")]]), /no record bucket nope/);
  } finally {
    await t.cleanup();
  }
});
