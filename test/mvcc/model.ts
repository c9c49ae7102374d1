// A small in-memory reference model of etcd's KV semantics, written independently of the
// store: full history per key, no index, no compaction of data (only of what may be read).

import {
  type Compare,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { type Event, Event_EventType, type KeyValue } from "../../src/gen/mvccpb/kv.js";

export class ModelError extends Error {}

interface Entry {
  rev: number;
  kv: KeyValue | null; // null = tombstone
}

const hdr = (revision: number) => ({ clusterId: 0n, memberId: 0n, revision, raftTerm: 0 });

function keyIn(k: Buffer, key: Buffer, end: Buffer): boolean {
  if (end.length === 0) return k.equals(key);
  if (end.length === 1 && end[0] === 0) return Buffer.compare(k, key) >= 0;
  return Buffer.compare(k, key) >= 0 && Buffer.compare(k, end) < 0;
}

export class KVModel {
  rev = 1;
  /** -1 until the first compaction, as etcd's compactMainRev (a compaction at 0 is then accepted once). */
  compactRev = -1;
  readonly history = new Map<string, Entry[]>();
  readonly commits: Array<[number, Event[]]> = [];
  private pending: Event[] | null = null;
  constructor(private readonly leases: Set<bigint>) {}

  private readRev(): number {
    return this.pending !== null && this.pending.length > 0 ? this.rev + 1 : this.rev;
  }

  private at(k: string, rev: number): KeyValue | undefined {
    const h = this.history.get(k) ?? [];
    let found: Entry | undefined;
    for (const e of h) if (e.rev <= rev) found = e;
    return found?.kv ?? undefined;
  }

  private liveAt(key: Buffer, end: Buffer, rev: number): KeyValue[] {
    const keys = [...this.history.keys()].map((k) => Buffer.from(k, "latin1")).sort(Buffer.compare);
    const out: KeyValue[] = [];
    for (const k of keys) {
      if (!keyIn(k, key, end)) continue;
      const kv = this.at(k.toString("latin1"), rev);
      if (kv) out.push({ ...kv });
    }
    return out;
  }

  private rawRange(key: Buffer, end: Buffer, revision: number): { kvs: KeyValue[]; rev: number } {
    const cur = this.readRev();
    if (revision > cur) throw new ModelError("mvcc: required revision is a future revision");
    const r = revision <= 0 ? cur : revision;
    if (r < this.compactRev) throw new ModelError("mvcc: required revision has been compacted");
    return { kvs: this.liveAt(key, end, r), rev: cur };
  }

  range(r: RangeRequest): RangeResponse {
    const { kvs: all, rev } = this.rawRange(r.key, r.rangeEnd, r.revision);
    const count = all.length;
    if (r.countOnly) return { header: hdr(rev), kvs: [], more: false, count };
    // etcd 3.4 quirk: the default ASCEND for a non-KEY target is decided after fetching, so with
    // order NONE, no filters and a limit, only the first limit+1 keys (key order) get sorted.
    const fetchAll =
      r.sortOrder !== RangeRequest_SortOrder.NONE ||
      r.minModRevision !== 0 ||
      r.maxModRevision !== 0 ||
      r.minCreateRevision !== 0 ||
      r.maxCreateRevision !== 0;
    let kvs = (!fetchAll && r.limit > 0 ? all.slice(0, r.limit + 1) : all).filter(
      (kv) =>
        (r.maxModRevision === 0 || kv.modRevision <= r.maxModRevision) &&
        (r.minModRevision === 0 || kv.modRevision >= r.minModRevision) &&
        (r.maxCreateRevision === 0 || kv.createRevision <= r.maxCreateRevision) &&
        (r.minCreateRevision === 0 || kv.createRevision >= r.minCreateRevision),
    );
    const order =
      r.sortOrder === RangeRequest_SortOrder.NONE && r.sortTarget !== RangeRequest_SortTarget.KEY
        ? RangeRequest_SortOrder.ASCEND
        : r.sortOrder;
    if (order !== RangeRequest_SortOrder.NONE) {
      const f = (kv: KeyValue): number | Buffer =>
        [kv.key, kv.version, kv.createRevision, kv.modRevision, kv.value][r.sortTarget] as number | Buffer;
      const cmp = (a: KeyValue, b: KeyValue) => {
        const x = f(a);
        const y = f(b);
        return typeof x === "number" ? x - (y as number) : Buffer.compare(x, y as Buffer);
      };
      kvs = kvs.sort((a, b) => (order === RangeRequest_SortOrder.DESCEND ? cmp(b, a) : cmp(a, b)));
    }
    const more = r.limit > 0 && kvs.length > r.limit;
    if (more) kvs = kvs.slice(0, r.limit);
    if (r.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
    return { header: hdr(rev), kvs, more, count };
  }

  private begin(): void {
    this.pending = [];
  }

  private end(): number {
    const evs = this.pending ?? [];
    this.pending = null;
    if (evs.length > 0) {
      this.rev++;
      this.commits.push([this.rev, evs]);
    }
    return this.rev;
  }

  private writePut(key: Buffer, value: Buffer, lease: bigint): number {
    const rev = this.rev + 1;
    const k = key.toString("latin1");
    const prev = this.at(k, rev);
    const kv: KeyValue = {
      key: Buffer.from(key),
      value: Buffer.from(value),
      createRevision: prev ? prev.createRevision : rev,
      modRevision: rev,
      version: prev ? prev.version + 1 : 1,
      lease,
    };
    const h = this.history.get(k) ?? [];
    h.push({ rev, kv });
    this.history.set(k, h);
    this.pending?.push({ type: Event_EventType.PUT, kv, prevKv: undefined });
    return rev;
  }

  private writeDelete(key: Buffer, end: Buffer): { deleted: number; rev: number } {
    const live = this.liveAt(key, end, this.readRev());
    const rev = this.rev + 1;
    for (const kv of live) {
      this.history.get(kv.key.toString("latin1"))?.push({ rev, kv: null });
      this.pending?.push({
        type: Event_EventType.DELETE,
        kv: {
          key: kv.key,
          createRevision: 0,
          modRevision: rev,
          version: 0,
          value: Buffer.alloc(0),
          lease: 0n,
        },
        prevKv: undefined,
      });
    }
    return { deleted: live.length, rev: this.readRev() };
  }

  private doPut(p: PutRequest): PutResponse {
    const prev = this.at(p.key.toString("latin1"), this.readRev());
    if ((p.ignoreValue || p.ignoreLease) && !prev) throw new ModelError("etcdserver: key not found");
    const rev = this.writePut(
      p.key,
      p.ignoreValue && prev ? prev.value : p.value,
      p.ignoreLease && prev ? prev.lease : p.lease,
    );
    return { header: hdr(rev), prevKv: p.prevKv && prev ? { ...prev } : undefined };
  }

  private doDelete(d: DeleteRangeRequest): DeleteRangeResponse {
    const prevKvs = d.prevKv ? this.liveAt(d.key, d.rangeEnd, this.readRev()) : [];
    const { deleted, rev } = this.writeDelete(d.key, d.rangeEnd);
    return { header: hdr(rev), deleted, prevKvs };
  }

  put(p: PutRequest): PutResponse {
    if (p.lease !== 0n && !this.leases.has(p.lease))
      throw new ModelError("etcdserver: requested lease not found");
    this.begin();
    try {
      return this.doPut(p);
    } finally {
      this.end();
    }
  }

  deleteRange(d: DeleteRangeRequest): DeleteRangeResponse {
    this.begin();
    const resp = this.doDelete(d);
    this.end();
    return resp;
  }

  private compare(c: Compare): boolean {
    const kvs = this.liveAt(c.key, c.rangeEnd, this.rev);
    const one = (kv: KeyValue | undefined): boolean => {
      let res = 0;
      const cmpN = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);
      if (c.target === Compare_CompareTarget.VALUE)
        res = Buffer.compare(kv?.value ?? Buffer.alloc(0), c.value ?? Buffer.alloc(0));
      if (c.target === Compare_CompareTarget.VERSION) res = cmpN(BigInt(kv?.version ?? 0), c.version ?? 0n);
      if (c.target === Compare_CompareTarget.CREATE)
        res = cmpN(BigInt(kv?.createRevision ?? 0), c.createRevision ?? 0n);
      if (c.target === Compare_CompareTarget.MOD)
        res = cmpN(BigInt(kv?.modRevision ?? 0), c.modRevision ?? 0n);
      if (c.target === Compare_CompareTarget.LEASE) res = cmpN(kv?.lease ?? 0n, c.lease ?? 0n);
      return [res === 0, res > 0, res < 0, res !== 0][c.result] ?? true;
    };
    if (kvs.length === 0) return c.target === Compare_CompareTarget.VALUE ? false : one(undefined);
    return kvs.every(one);
  }

  /** The ops of the branches that will run, nested ones included (decided before any write). */
  private plannedOps(t: TxnRequest): RequestOp[] {
    const ok = t.compare.every((c) => this.compare(c));
    return (ok ? t.success : t.failure).flatMap((op) =>
      op.requestTxn ? this.plannedOps(op.requestTxn) : [op],
    );
  }

  /** etcd checks every planned put first, then every planned range. */
  private precheck(t: TxnRequest, isWrite: boolean): void {
    const ops = this.plannedOps(t);
    if (isWrite) {
      for (const op of ops) {
        const p = op.requestPut;
        if (!p) continue;
        if ((p.ignoreValue || p.ignoreLease) && !this.at(p.key.toString("latin1"), this.rev)) {
          throw new ModelError("etcdserver: key not found");
        }
        if (p.lease !== 0n && !this.leases.has(p.lease))
          throw new ModelError("etcdserver: requested lease not found");
      }
    }
    for (const op of ops) {
      const r = op.requestRange;
      if (r && r.revision !== 0) {
        if (r.revision > this.rev) throw new ModelError("mvcc: required revision is a future revision");
        if (r.revision < this.compactRev) throw new ModelError("mvcc: required revision has been compacted");
      }
    }
  }

  private decide(t: TxnRequest): Array<{ ok: boolean; t: TxnRequest }> {
    // Decide every branch before executing (compares see the state before the txn).
    const out: Array<{ ok: boolean; t: TxnRequest }> = [];
    const walk = (tx: TxnRequest) => {
      const ok = tx.compare.every((c) => this.compare(c));
      out.push({ ok, t: tx });
      for (const op of ok ? tx.success : tx.failure) if (op.requestTxn) walk(op.requestTxn);
    };
    walk(t);
    return out;
  }

  txn(t: TxnRequest): TxnResponse {
    const writes = (ops: RequestOp[]): boolean =>
      ops.some(
        (o) =>
          o.requestPut ||
          o.requestDeleteRange ||
          (o.requestTxn && writes([...o.requestTxn.success, ...o.requestTxn.failure])),
      );
    const isWrite = writes([...t.success, ...t.failure]);
    this.precheck(t, isWrite);
    const decisions = new Map(this.decide(t).map((d) => [d.t, d.ok]));
    this.begin();
    const run = (tx: TxnRequest, top: boolean): TxnResponse => {
      const ok = decisions.get(tx) ?? false;
      const responses: ResponseOp[] = (ok ? tx.success : tx.failure).map((op) => {
        if (op.requestRange) return { responseRange: this.range(op.requestRange) };
        if (op.requestPut) return { responsePut: this.doPut(op.requestPut) };
        if (op.requestDeleteRange) return { responseDeleteRange: this.doDelete(op.requestDeleteRange) };
        if (op.requestTxn) return { responseTxn: run(op.requestTxn, false) };
        return {};
      });
      return { header: hdr(top ? -1 : 0), succeeded: ok, responses };
    };
    // A failure in the middle (ignore_value on a key deleted earlier in the same txn) undoes it all.
    const saved = new Map([...this.history].map(([k, h]) => [k, [...h]]));
    let resp: TxnResponse;
    try {
      resp = run(t, true);
    } catch (e) {
      this.pending = null;
      this.history.clear();
      for (const [k, h] of saved) this.history.set(k, h);
      throw e;
    }
    const rev = this.end();
    resp.header = hdr(rev);
    return resp;
  }

  compact(rev: number): void {
    if (rev <= this.compactRev) throw new ModelError("mvcc: required revision has been compacted");
    if (rev > this.rev) throw new ModelError("mvcc: required revision is a future revision");
    this.compactRev = rev;
  }
}
