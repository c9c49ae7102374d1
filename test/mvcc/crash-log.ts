// The deterministic raft log the crash test replays: entry i is always the same request, so
// a restarted store can replay from the start and must skip what it applied before.

import {
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  TxnRequest,
} from "../../src/gen/etcdserverpb/rpc.js";
import type { KVApplier } from "../../src/mvcc/apply.js";
import type { KVModel } from "./model.js";

export const LOG_LENGTH = 1100;
const KEYS = 37;

export type Entry =
  | { kind: "put"; req: PutRequest }
  | { kind: "delete"; req: DeleteRangeRequest }
  | { kind: "txn"; req: TxnRequest }
  | { kind: "compact"; behind: number };

function key(n: number): Buffer {
  return Buffer.from(`k${(n % KEYS).toString().padStart(2, "0")}`);
}

/** A small deterministic generator per entry index. */
function rand(i: number, salt: number): number {
  let x = (i * 2654435761 + salt * 40503) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 0x5bd1e995) >>> 0;
  x ^= x >>> 15;
  return x;
}

export function entry(i: number): Entry {
  if (i % 50 === 0) return { kind: "compact", behind: 25 };
  const r = rand(i, 1) % 100;
  const a = rand(i, 2);
  const value = Buffer.from(`v${i}`);
  if (r < 60) return { kind: "put", req: PutRequest.fromPartial({ key: key(a), value }) };
  if (r < 75) {
    const from = a % KEYS;
    return {
      kind: "delete",
      req: DeleteRangeRequest.fromPartial({ key: key(from), rangeEnd: key(Math.min(KEYS - 1, from + 3)) }),
    };
  }
  return {
    kind: "txn",
    req: TxnRequest.fromPartial({
      compare: [
        {
          key: key(a),
          target: Compare_CompareTarget.VERSION,
          result: Compare_CompareResult.GREATER,
          version: 1n,
        },
      ],
      success: [{ requestPut: { key: key(a + 1), value } }, { requestPut: { key: key(a + 2), value } }],
      failure: [{ requestDeleteRange: { key: key(a + 5), rangeEnd: key(a + 5 + 2) } }],
    }),
  };
}

export function compactTarget(currentRev: number, behind: number): number {
  return Math.max(1, currentRev - behind);
}

/** Applies entry i through the applier; returns the compaction promise if it compacted. */
export function applyToStore(applier: KVApplier, i: number): Promise<void> | undefined {
  const e = entry(i);
  switch (e.kind) {
    case "put":
      applier.put(e.req, i);
      return undefined;
    case "delete":
      applier.deleteRange(e.req, i);
      return undefined;
    case "txn":
      applier.txn(e.req, i);
      return undefined;
    case "compact": {
      if (applier.isApplied(i)) return undefined;
      const rev = compactTarget(applier.store.currentRev(), e.behind);
      if (rev <= applier.store.compactRev()) {
        applier.store.setConsistentIndex(i);
        return undefined;
      }
      return applier.compact({ revision: rev, physical: false }, i)?.done;
    }
  }
}

export function applyToModel(model: KVModel, i: number): void {
  const e = entry(i);
  switch (e.kind) {
    case "put":
      model.put(e.req);
      return;
    case "delete":
      model.deleteRange(e.req);
      return;
    case "txn":
      model.txn(e.req);
      return;
    case "compact": {
      const rev = compactTarget(model.rev, e.behind);
      if (rev > model.compactRev) model.compact(rev);
      return;
    }
  }
}
