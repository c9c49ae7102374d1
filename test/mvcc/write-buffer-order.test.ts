// The order of the backend's commits when one fails: a batch goes to LMDB only once the batch before
// it has committed, so a failed commit is never followed by a later one (the file would otherwise hold
// a consistent index past history it lacks, and a restart's WAL replay would skip that history).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Database } from "lmdb";
import { WriteBuffer } from "../../src/mvcc/write-buffer.js";

/** A table whose commits the test settles by hand, one per written change. */
function fakeTable() {
  const written: string[] = [];
  const settle: Array<{ ok: () => void; fail: (err: Error) => void }> = [];
  const db = {
    put(key: string) {
      written.push(key);
      return new Promise<boolean>((resolve, reject) =>
        settle.push({ ok: () => resolve(true), fail: (err) => reject(err) }),
      );
    },
    remove(key: string) {
      return this.put(key);
    },
    getBinaryFast: () => undefined,
    getBinary: () => undefined,
  };
  return { db: db as unknown as Database<Buffer, string>, written, settle };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("the backend's write buffer sends one batch at a time", () => {
  it("a batch flushed while the one before it is in flight goes only after that one committed", async () => {
    const failures: unknown[] = [];
    const buffer = new WriteBuffer((err) => failures.push(err), { intervalMs: 0, limit: 1, maxBytes: 1 });
    const t = fakeTable();
    const table = buffer.table(t.db, (k) => k);
    const write = (key: string) => {
      buffer.begin();
      table.put(key, Buffer.from("v"));
      buffer.finish();
    };
    write("a");
    write("b");
    await tick();
    assert.deepEqual(t.written, ["a"], "b waits for a's commit");
    assert.equal(table.get("b")?.toString(), "v", "a waiting batch is read from the buffer");
    t.settle[0].ok();
    await tick();
    assert.deepEqual(t.written, ["a", "b"]);
    t.settle[1].ok();
    await buffer.whenCommitted();
    assert.equal(buffer.pending, false);
    assert.deepEqual(failures, []);
  });

  it("after a failed commit, no later batch reaches LMDB and the failure is told once", async () => {
    const failures: unknown[] = [];
    const buffer = new WriteBuffer((err) => failures.push(err), { intervalMs: 0, limit: 1, maxBytes: 1 });
    const t = fakeTable();
    const table = buffer.table(t.db, (k) => k);
    for (const key of ["a", "b", "c"]) {
      buffer.begin();
      table.put(key, Buffer.from("v"));
      buffer.finish();
    }
    await tick();
    t.settle[0].fail(new Error("MDB_MAP_FULL"));
    await assert.rejects(buffer.whenCommitted(), /MDB_MAP_FULL/);
    await tick();
    assert.deepEqual(t.written, ["a"], "nothing after the failed batch was written");
    assert.equal(failures.length, 1);
    assert.throws(() => buffer.begin(), /an earlier commit failed/);
  });
});
