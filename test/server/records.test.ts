// The server's view of the record buckets: records pass through in etcd's own encodings.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AlarmMember, AlarmType } from "../../src/gen/etcdserverpb/rpc.js";
import { alarmOfRecordKey, alarmRecordKey } from "../../src/server/alarm-records.js";
import { ServerRecords } from "../../src/server/records.js";
import { b, openTempStore } from "../mvcc/helpers.js";

test("alarms are keyed as etcd keys them (AlarmMember protobuf, empty value), unknown alarm types included", async () => {
  const t = openTempStore();
  try {
    const records = new ServerRecords(t.store);
    const alarms = [
      { memberID: 0x8e9e05c52164694dn, alarm: AlarmType.NOSPACE },
      { memberID: 0x10n, alarm: AlarmType.CORRUPT },
      // types etcd 3.4 stores without knowing them; the old fixed-width form misread these after a reload
      { memberID: 5n, alarm: 256 as AlarmType },
      { memberID: 5n, alarm: -1 as AlarmType },
      { memberID: 0n, alarm: 0x01000000 as AlarmType },
    ];
    records.write(
      1,
      alarms.map((a) => ["alarm", alarmRecordKey(a.memberID, a.alarm), Buffer.alloc(0)] as const),
    );
    const stored = t.store.records("alarm");
    assert.equal(
      alarmRecordKey(0x10n, AlarmType.CORRUPT).toString("hex"),
      "08101002",
      "gogo's bytes for {memberID: 16, alarm: CORRUPT}",
    );
    assert.equal(
      alarmRecordKey(5n, -1 as AlarmType).toString("hex"),
      "080510ffffffffffffffffff01",
      "a negative enum is a sign-extended varint, as gogo writes it",
    );
    assert.ok(stored.every(([, v]) => v.length === 0));
    const listed = records.list("alarm").map(([k]) => alarmOfRecordKey(k));
    const byKey = (x: AlarmMember, y: AlarmMember) =>
      alarmRecordKey(x.memberID, x.alarm).compare(alarmRecordKey(y.memberID, y.alarm));
    assert.deepEqual(listed, [...alarms].sort(byKey));
    records.write(2, [["alarm", alarmRecordKey(5n, 256 as AlarmType), undefined]]);
    assert.equal(records.list("alarm").length, alarms.length - 1);
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
