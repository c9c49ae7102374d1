// The store's record buckets: written with the consistent index, staged inside key writes (committed or
// undone with them), kept across reopen, and migrated from the schema-1 layout.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { open } from "lmdb";
import { AlarmMember } from "../../src/gen/etcdserverpb/rpc.js";
import { Lease } from "../../src/gen/leasepb/lease.js";
import { BACKEND_SCHEMA_VERSION } from "../../src/mvcc/backend.js";
import { KVStore } from "../../src/mvcc/kvstore.js";
import { b, openTempStore, tempDir } from "./helpers.js";

describe("record buckets", () => {
  test("writeRecords commits the records with the consistent index; an applied index is a no-op", async () => {
    const t = openTempStore();
    try {
      t.store.writeRecords(5, [
        ["lease", b("k2"), b("v2")],
        ["lease", b("k1"), b("v1")],
        ["members", b("m"), b("{}")],
      ]);
      assert.equal(t.store.consistentIndex(), 5);
      assert.deepEqual(t.store.records("lease"), [
        [b("k1"), b("v1")],
        [b("k2"), b("v2")],
      ]);
      t.store.writeRecords(5, [["lease", b("k1"), undefined]]);
      assert.equal(t.store.records("lease").length, 2, "entry 5 was applied already");
      t.store.writeRecords(6, [["lease", b("k1"), undefined]]);
      const store = await t.reopen();
      assert.deepEqual(store.records("lease"), [[b("k2"), b("v2")]]);
      assert.deepEqual(store.records("members"), [[b("m"), b("{}")]]);
      assert.deepEqual(store.records("alarm"), []);
      assert.equal(store.consistentIndex(), 6);
    } finally {
      await t.cleanup();
    }
  });

  test("records staged in a key write commit with it", async () => {
    const t = openTempStore();
    try {
      t.store.write(3, (tx) => {
        tx.put(b("a"), b("1"), 0n);
        t.store.stageRecords([["lease", b("l"), b("x")]]);
      });
      const store = await t.reopen();
      assert.deepEqual(store.records("lease"), [[b("l"), b("x")]]);
      assert.equal(store.consistentIndex(), 3);
    } finally {
      await t.cleanup();
    }
  });

  for (const mode of ["alone", "in a batch"] as const) {
    test(`records staged in a key write that throws are dropped; in one that changes no key they commit (${mode})`, async () => {
      const t = openTempStore();
      try {
        t.store.writeRecords(1, [["lease", b("kept"), b("old")]]);
        // in a batch the writes share one transaction that goes on committing after the failed write
        const run = (fn: () => void) => (mode === "alone" ? fn() : t.store.batch(fn));
        run(() => {
          assert.throws(
            () =>
              t.store.write(2, (tx) => {
                tx.put(b("a"), b("1"), 0n);
                t.store.stageRecords([
                  ["lease", b("kept"), b("new")],
                  ["lease", b("added"), b("x")],
                ]);
                throw new Error("refused");
              }),
            /refused/,
          );
          // no key changes, a record does (a lease revoked without keys): the record's change commits
          t.store.write(3, () => {
            t.store.stageRecords([["lease", b("kept"), undefined]]);
          });
          t.store.write(4, (tx) => {
            tx.put(b("b"), b("2"), 0n);
          });
        });
        assert.equal(t.store.range(b("a"), undefined).count, 0);
        assert.equal(t.store.range(b("b"), undefined).count, 1);
        assert.deepEqual(t.store.records("lease"), []);
        const store = await t.reopen();
        assert.deepEqual(store.records("lease"), []);
        assert.equal(store.consistentIndex(), 4);
      } finally {
        await t.cleanup();
      }
    });
  }

  test("staging outside a write is refused", async () => {
    const t = openTempStore();
    try {
      assert.throws(() => t.store.stageRecords([["lease", b("l"), b("x")]]), /staged outside a write/);
    } finally {
      await t.cleanup();
    }
  });

  test("a schema-1 backend is migrated on open: etcd's lease, alarm and member keys, one table per bucket", async () => {
    const dir = tempDir();
    const file = path.join(dir, "member", "snap", "db");
    mkdirSync(path.dirname(file), { recursive: true });
    const num = (n: number) => {
      const v = Buffer.alloc(8);
      v.writeBigUInt64BE(BigInt(n));
      return v;
    };
    // the schema-1 layout, written the way that version wrote it
    const env = open({ path: file, noSubdir: true, maxDbs: 4 });
    env.openDB<Buffer, Buffer>({ name: "key", keyEncoding: "binary", encoding: "binary" });
    const meta = env.openDB<Buffer, string>({ name: "meta", encoding: "binary" });
    const leaseId = 0x694d_0000_1234_5678n;
    const lease = Buffer.alloc(24);
    lease.writeBigInt64BE(leaseId, 0);
    lease.writeBigInt64BE(600n, 8);
    lease.writeBigInt64BE(0n, 16);
    const alarm = Buffer.alloc(12);
    alarm.writeBigUInt64BE(0x8e9e05c52164694dn, 0);
    alarm.writeInt32BE(1, 8); // NOSPACE
    const memberKey = Buffer.alloc(8);
    memberKey.writeBigUInt64BE(0x8e9e05c52164694dn);
    env.transactionSync(() => {
      meta.put("schemaVersion", num(1));
      meta.put("consistent_index", num(9));
      meta.put(`rec/lease/${leaseId.toString(16).padStart(16, "0")}`, lease);
      meta.put(`rec/alarm/${alarm.toString("hex")}`, alarm);
      meta.put(`rec/members/${memberKey.toString("hex")}`, b('{"id":"8e9e05c52164694d"}'));
    });
    await env.close();

    const store = KVStore.open(file);
    try {
      assert.equal(store.backend.getMetaNumber("schemaVersion"), BACKEND_SCHEMA_VERSION);
      assert.equal(store.consistentIndex(), 9);
      const [[leaseKey, leaseValue]] = store.records("lease");
      assert.equal(leaseKey.readBigInt64BE(0), leaseId);
      assert.deepEqual(Lease.decode(leaseValue), { ID: leaseId, TTL: 600, RemainingTTL: 0 });
      const [[alarmKey, alarmValue]] = store.records("alarm");
      assert.deepEqual(AlarmMember.decode(alarmKey), { memberID: 0x8e9e05c52164694dn, alarm: 1 });
      assert.equal(alarmValue.length, 0);
      assert.deepEqual(store.records("members"), [[b("8e9e05c52164694d"), b('{"id":"8e9e05c52164694d"}')]]);
      const leftovers = [...store.backend.meta.getKeys({ start: "rec/", end: "rec/\uffff" })];
      assert.deepEqual(leftovers, []);
    } finally {
      await store.close();
    }
  });
});
