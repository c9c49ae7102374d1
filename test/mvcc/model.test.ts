// Model-based property test: random request sequences against the store (through the
// applier) and against the reference model; every response, error, revision and commit event
// must agree, and the store must read back the same after a reopen.

import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import {
  CompactionRequest,
  type Compare,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  type RequestOp,
  TxnRequest,
} from "../../src/gen/etcdserverpb/rpc.js";
import type { Event } from "../../src/gen/mvccpb/kv.js";
import { KVApplier } from "../../src/mvcc/apply.js";
import { checkTxn } from "../../src/mvcc/checks.js";
import { b, openTempStore } from "./helpers.js";
import { KVModel } from "./model.js";

type Op =
  | { kind: "put"; req: PutRequest }
  | { kind: "delete"; req: DeleteRangeRequest }
  | { kind: "range"; req: RangeRequest }
  | { kind: "txn"; req: TxnRequest }
  | { kind: "compact"; rev: number };

const LEASES = new Set([1n, 2n]);
const keyArb = fc.constantFrom("a", "b", "c", "ab", "b\0", "\xff", "\0", "a\xff");
const endArb = fc.oneof(fc.constant(""), fc.constant("\0"), keyArb);
const valueArb = fc.constantFrom("", "x", "y", "zz");
const leaseArb = fc.constantFrom(0n, 0n, 0n, 1n, 2n, 9n);

const putArb = fc
  .record({ key: keyArb, value: valueArb, lease: leaseArb, prevKv: fc.boolean(), ign: fc.nat(9) })
  .map(({ key, value, lease, prevKv, ign }) =>
    PutRequest.fromPartial({
      key: b(key),
      value: ign === 0 ? Buffer.alloc(0) : b(value),
      lease: ign === 1 ? 0n : lease,
      prevKv,
      ignoreValue: ign === 0,
      ignoreLease: ign === 1,
    }),
  );
const deleteArb = fc
  .record({ key: keyArb, end: endArb, prevKv: fc.boolean() })
  .map(({ key, end, prevKv }) => DeleteRangeRequest.fromPartial({ key: b(key), rangeEnd: b(end), prevKv }));
const rangeArb = fc
  .record({
    key: keyArb,
    end: endArb,
    limit: fc.constantFrom(0, 0, 1, 2),
    revision: fc.constantFrom(0, 0, 0, 1, 2, 3, 5, 8, 13, 40),
    sortOrder: fc.constantFrom(0, 0, 1, 2),
    sortTarget: fc.constantFrom(0, 0, 1, 2, 3, 4),
    keysOnly: fc.boolean(),
    countOnly: fc.nat(5).map((n) => n === 0),
    minMod: fc.constantFrom(0, 0, 0, 3),
    maxMod: fc.constantFrom(0, 0, 0, 6),
    minCreate: fc.constantFrom(0, 0, 0, 2),
    maxCreate: fc.constantFrom(0, 0, 0, 5),
  })
  .map((r) =>
    RangeRequest.fromPartial({
      key: b(r.key),
      rangeEnd: b(r.end),
      limit: r.limit,
      revision: r.revision,
      sortOrder: r.sortOrder,
      sortTarget: r.sortTarget,
      keysOnly: r.keysOnly,
      countOnly: r.countOnly,
      minModRevision: r.minMod,
      maxModRevision: r.maxMod,
      minCreateRevision: r.minCreate,
      maxCreateRevision: r.maxCreate,
    }),
  );
const compareArb: fc.Arbitrary<Compare> = fc
  .record({
    key: keyArb,
    end: fc.oneof(fc.constant(""), fc.constant(""), endArb),
    target: fc.integer({ min: 0, max: 4 }),
    result: fc.integer({ min: 0, max: 3 }),
    n: fc.constantFrom(0n, 1n, 2n, 3n, 5n),
    value: valueArb,
  })
  .map((c) => ({
    key: b(c.key),
    rangeEnd: b(c.end),
    target: c.target,
    result: c.result,
    version: c.target === 0 ? c.n : undefined,
    createRevision: c.target === 1 ? c.n : undefined,
    modRevision: c.target === 2 ? c.n : undefined,
    value: c.target === 3 ? b(c.value) : undefined,
    lease: c.target === 4 ? c.n : undefined,
  }));

function txnArb(depth: number): fc.Arbitrary<TxnRequest> {
  const leaf: fc.Arbitrary<RequestOp> = fc.oneof(
    putArb.map((p) => ({ requestPut: p })),
    deleteArb.map((d) => ({ requestDeleteRange: d })),
    rangeArb.map((r) => ({ requestRange: r })),
  );
  const opArb: fc.Arbitrary<RequestOp> =
    depth > 0
      ? fc.oneof(
          { arbitrary: leaf, weight: 4 },
          { arbitrary: txnArb(depth - 1).map((t) => ({ requestTxn: t })), weight: 1 },
        )
      : leaf;
  return fc
    .record({
      compare: fc.array(compareArb, { maxLength: 2 }),
      success: fc.array(opArb, { maxLength: 3 }),
      failure: fc.array(opArb, { maxLength: 3 }),
    })
    .map((t) => TxnRequest.fromPartial(t));
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: putArb.map((req) => ({ kind: "put" as const, req })), weight: 5 },
  { arbitrary: deleteArb.map((req) => ({ kind: "delete" as const, req })), weight: 2 },
  { arbitrary: rangeArb.map((req) => ({ kind: "range" as const, req })), weight: 3 },
  { arbitrary: txnArb(2).map((req) => ({ kind: "txn" as const, req })), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 25 }).map((rev) => ({ kind: "compact" as const, rev })), weight: 1 },
);

function outcome<T>(f: () => T): { ok: T } | { error: string } {
  try {
    return { ok: f() };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function eventSummary(events: Array<[number, Event[]]>): unknown {
  return events.map(([rev, evs]) => [rev, evs.map((e) => [e.type, e.kv])]);
}

async function runSequence(ops: Op[], batched: boolean): Promise<void> {
  const t = openTempStore({ compactionBatchLimit: 3 });
  try {
    const store = t.store;
    const applier = new KVApplier(store, { leaseExists: (id) => LEASES.has(id) });
    const model = new KVModel(LEASES);
    const commits: Array<[number, Event[]]> = [];
    store.onCommit((events, rev) => commits.push([rev, events]));
    let raftIndex = 0;
    // Writes run either one LMDB transaction each or grouped into batches (as an apply loop
    // that commits one Ready at a time would); compactions always run alone.
    const applyOne = (i: number, op: Exclude<Op, { kind: "compact" }>): void => {
      raftIndex++;
      const at = `op ${i} ${op.kind}`;
      switch (op.kind) {
        case "put":
          assert.deepEqual(
            outcome(() => applier.put(op.req, raftIndex)),
            outcome(() => model.put(op.req)),
            at,
          );
          break;
        case "delete":
          assert.deepEqual(
            outcome(() => applier.deleteRange(op.req, raftIndex)),
            outcome(() => model.deleteRange(op.req)),
            at,
          );
          break;
        case "range":
          assert.deepEqual(
            outcome(() => applier.range(op.req)),
            outcome(() => model.range(op.req)),
            at,
          );
          break;
        case "txn": {
          if (checkTxn(op.req) !== undefined) break;
          assert.deepEqual(
            outcome(() => applier.txn(op.req, raftIndex)),
            outcome(() => model.txn(op.req)),
            at,
          );
          break;
        }
      }
      assert.equal(store.currentRev(), model.rev, at);
    };
    let group: Array<[number, Exclude<Op, { kind: "compact" }>]> = [];
    const flush = () => {
      if (group.length === 0) return;
      const g = group;
      group = [];
      const applyGroup = () => {
        for (const [i, op] of g) applyOne(i, op);
      };
      if (batched) store.batch(applyGroup);
      else applyGroup();
    };
    for (const [i, op] of ops.entries()) {
      if (op.kind !== "compact") {
        group.push([i, op]);
        if (group.length >= 5) flush();
        continue;
      }
      flush();
      raftIndex++;
      const at = `op ${i} ${op.kind}`;
      switch (op.kind) {
        case "compact": {
          const mine = outcome(() =>
            applier.compact(CompactionRequest.fromPartial({ revision: op.rev }), raftIndex),
          );
          const theirs = outcome(() => model.compact(op.rev));
          assert.deepEqual("error" in mine ? mine : "ok", "error" in theirs ? theirs : "ok", at);
          if ("ok" in mine && mine.ok !== undefined) {
            const early = store.hashKV(0);
            await mine.ok.done;
            // As in etcd, compacted records are skipped only when some key is live (its "keep"
            // set is not empty); then the hash must not depend on the physical removal.
            if (store.range(b("\0"), b("\0"), { countOnly: true }).count > 0) {
              assert.deepEqual(store.hashKV(0), early, `${at}: hash changed by physical compaction`);
            }
          }
          break;
        }
      }
      assert.equal(store.currentRev(), model.rev, at);
      assert.equal(store.compactRev(), model.compactRev, at);
    }
    flush();
    assert.deepEqual(eventSummary(commits), eventSummary(model.commits), "commit events");
    await store.compactionsDone();
    // History read back through eventsBetween matches the model's commits after the compaction.
    const fromRev = model.compactRev + 1;
    const want = model.commits
      .filter(([rev]) => rev >= fromRev)
      .flatMap(([, evs]) => evs.map((e) => [e.type, e.kv]));
    const got = store.eventsBetween(b("\0"), b("\0"), fromRev, store.currentRev()).map((e) => [e.type, e.kv]);
    assert.deepEqual(got, want, "eventsBetween");
    // Every readable revision reads the same after a reopen.
    const all = (rev: number) => RangeRequest.fromPartial({ key: b("\0"), rangeEnd: b("\0"), revision: rev });
    const before = [];
    for (let rev = Math.max(1, model.compactRev); rev <= model.rev; rev++) {
      const r = applier.range(all(rev));
      assert.deepEqual(r, model.range(all(rev)), `full range at ${rev}`);
      before.push(r);
    }
    const hash = store.hashKV(0);
    const reopened = await t.reopen();
    assert.equal(reopened.currentRev(), model.rev);
    assert.equal(reopened.compactRev(), model.compactRev);
    assert.equal(reopened.consistentIndex() <= raftIndex, true);
    assert.deepEqual(reopened.hashKV(0), hash, "hash after reopen");
    const again = new KVApplier(reopened);
    const afterReopen = [];
    for (let rev = Math.max(1, model.compactRev); rev <= model.rev; rev++)
      afterReopen.push(again.range(all(rev)));
    assert.deepEqual(afterReopen, before, "reads after reopen");
  } finally {
    await t.cleanup();
  }
}

describe("KV store against the reference model", () => {
  const seed = process.env.MVCC_SEED !== undefined ? Number(process.env.MVCC_SEED) : Date.now() % 2 ** 31;
  const path = process.env.MVCC_PATH;
  let failed = false;
  let failedPath: string | undefined;
  after(() => {
    if (failed) {
      console.log(
        `replay: MVCC_SEED=${seed} MVCC_PATH=${failedPath ?? path ?? ""} node --import tsx --test test/mvcc/model.test.ts`,
      );
    }
  });

  it("random put/delete/range/txn/compact sequences agree with the model", async () => {
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.boolean(), runSequence),
        {
          seed,
          path,
          numRuns: Number(process.env.MVCC_RUNS ?? 80),
          includeErrorInReport: true,
        },
      );
    } catch (e) {
      failed = true;
      failedPath = /path: "([^"]*)"/.exec(String((e as Error).message))?.[1];
      throw e;
    }
  });
});
