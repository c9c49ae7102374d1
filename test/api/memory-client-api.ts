// TEST DOUBLE for the transport layer: a small in-memory, map-backed ClientApi so the client port
// (gRPC, gateway, HTTP endpoints) can be tested without Raft, WAL or MVCC. It keeps revisions, a
// history for watches and compaction, leases and alarms well enough for protocol tests; it is not
// the server and makes no claim to match etcd's storage semantics beyond that.
import { Registry } from "prom-client";
import { Subject } from "rxjs";
import {
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  type AlarmResponse,
  type CompactionRequest,
  type CompactionResponse,
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type HashKVRequest,
  type HashKVResponse,
  type HashResponse,
  type LeaseGrantRequest,
  type LeaseGrantResponse,
  type LeaseLeasesResponse,
  type LeaseRevokeRequest,
  type LeaseRevokeResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type MemberAddResponse,
  type MemberListResponse,
  type MemberPromoteResponse,
  type MemberRemoveResponse,
  type MemberUpdateResponse,
  type MoveLeaderRequest,
  type MoveLeaderResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  RangeRequest_SortOrder,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
  type WatchRequest,
  type WatchResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import { type Event, Event_EventType, type KeyValue } from "../../src/gen/mvccpb/kv.js";
import { Errors } from "../../src/rpctypes/errors.js";
import type {
  BackendSnapshot,
  ClientApi,
  ClientWatchStream,
  KeepAliveResult,
} from "../../src/server/client-api.js";

interface Lease {
  ttl: number;
  expiresAt: number;
  keys: Set<string>;
}

const keyOf = (b: Buffer) => b.toString("latin1");

function inRange(key: Buffer, start: Buffer, end: Buffer): boolean {
  if (end.length === 0) return key.equals(start);
  if (end.length === 1 && end[0] === 0) return Buffer.compare(key, start) >= 0;
  return Buffer.compare(key, start) >= 0 && Buffer.compare(key, end) < 0;
}

export class MemoryClientApi implements ClientApi {
  readonly clusterId = 324952591200643719n;
  readonly memberId = 3319814642761637952n;
  readonly metrics = new Registry();
  /** Set by tests to make /health fail. */
  healthy = true;
  /** Bytes Snapshot() serves. */
  snapshotBytes = Buffer.alloc(0);
  /** Set by tests: whether this member knows a leader. */
  leaderKnown = true;
  /** Plays a learner member (what the stream and unary checks refuse on one). */
  learner = false;
  /** Tests emit here to play the member's long loss of its leader. */
  readonly leaderLoss$ = new Subject<void>();

  private rev = 1;
  private compacted = 0;
  private readonly kvs = new Map<string, KeyValue>();
  private readonly history: { rev: number; events: Event[] }[] = [];
  private readonly leases = new Map<bigint, Lease>();
  private readonly watchers = new Set<(rev: number, events: Event[]) => void>();
  private alarms: AlarmResponse["alarms"] = [];
  private nextLease = 0x694d7a3b2e1c0001n;

  header(): ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: this.rev, raftTerm: 2 };
  }

  private hdr(revision = this.rev): ResponseHeader {
    return { ...this.header(), revision };
  }

  private rangeAt(req: RangeRequest): RangeResponse {
    if (req.revision > this.rev) throw Errors.FutureRev;
    if (req.revision > 0 && req.revision <= this.compacted) throw Errors.Compacted;
    const inKeyRange = [...this.kvs.values()].filter((kv) => inRange(kv.key, req.key, req.rangeEnd));
    const all = inKeyRange
      .filter(
        (kv) =>
          (req.minCreateRevision === 0 || kv.createRevision >= req.minCreateRevision) &&
          (req.maxCreateRevision === 0 || kv.createRevision <= req.maxCreateRevision) &&
          (req.minModRevision === 0 || kv.modRevision >= req.minModRevision) &&
          (req.maxModRevision === 0 || kv.modRevision <= req.maxModRevision),
      )
      .sort((a, b) => {
        const byTarget = [
          Buffer.compare(a.key, b.key),
          a.version - b.version,
          a.createRevision - b.createRevision,
          a.modRevision - b.modRevision,
          Buffer.compare(a.value, b.value),
        ][req.sortTarget];
        return req.sortOrder === RangeRequest_SortOrder.DESCEND ? -byTarget : byTarget;
      });
    const limited = req.limit > 0 ? all.slice(0, req.limit) : all;
    const kvs = req.countOnly
      ? []
      : limited.map((kv) => (req.keysOnly ? { ...kv, value: Buffer.alloc(0) } : { ...kv }));
    return { header: this.hdr(), kvs, more: limited.length < all.length, count: all.length };
  }

  async range(req: RangeRequest): Promise<RangeResponse> {
    return this.rangeAt(req);
  }

  private applyPut(req: PutRequest, rev: number, events: Event[]): PutResponse {
    const k = keyOf(req.key);
    const prev = this.kvs.get(k);
    if ((req.ignoreValue || req.ignoreLease) && !prev) throw Errors.KeyNotFound;
    const lease = req.ignoreLease ? (prev?.lease ?? 0n) : req.lease;
    if (lease !== 0n && !this.leases.has(lease)) throw Errors.LeaseNotFound;
    const kv: KeyValue = {
      key: req.key,
      value: req.ignoreValue && prev ? prev.value : req.value,
      createRevision: prev ? prev.createRevision : rev,
      modRevision: rev,
      version: prev ? prev.version + 1 : 1,
      lease,
    };
    this.kvs.set(k, kv);
    if (lease !== 0n) this.leases.get(lease)?.keys.add(k);
    events.push({ type: Event_EventType.PUT, kv, prevKv: prev });
    return { header: this.hdr(rev), prevKv: req.prevKv ? prev : undefined };
  }

  private applyDelete(req: DeleteRangeRequest, rev: number, events: Event[]): DeleteRangeResponse {
    const victims = [...this.kvs.values()].filter((kv) => inRange(kv.key, req.key, req.rangeEnd));
    for (const kv of victims) {
      this.kvs.delete(keyOf(kv.key));
      events.push({
        type: Event_EventType.DELETE,
        kv: {
          key: kv.key,
          value: Buffer.alloc(0),
          createRevision: 0,
          modRevision: rev,
          version: 0,
          lease: 0n,
        },
        prevKv: kv,
      });
    }
    return { header: this.hdr(rev), deleted: victims.length, prevKvs: req.prevKv ? victims : [] };
  }

  /** Runs `fn` as one write: one revision if anything changed, events delivered to watchers. */
  private write<T>(fn: (rev: number, events: Event[]) => T): T {
    const events: Event[] = [];
    const result = fn(this.rev + 1, events);
    if (events.length > 0) {
      this.rev++;
      this.history.push({ rev: this.rev, events });
      for (const w of this.watchers) w(this.rev, events);
    }
    return result;
  }

  async put(req: PutRequest): Promise<PutResponse> {
    return this.write((rev, events) => this.applyPut(req, rev, events));
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    return this.write((rev, events) => {
      const resp = this.applyDelete(req, rev, events);
      if (events.length === 0) resp.header = this.hdr();
      return resp;
    });
  }

  private compare(c: Compare): boolean {
    const kv = this.kvs.get(keyOf(c.key));
    const cmp = (a: bigint | number | Buffer, b: bigint | number | Buffer): number =>
      Buffer.isBuffer(a) && Buffer.isBuffer(b)
        ? Buffer.compare(a, b)
        : Number(BigInt(a as bigint) - BigInt(b as bigint));
    let r: number;
    switch (c.target) {
      case Compare_CompareTarget.VERSION:
        r = cmp(kv?.version ?? 0, c.version ?? 0n);
        break;
      case Compare_CompareTarget.CREATE:
        r = cmp(kv?.createRevision ?? 0, c.createRevision ?? 0n);
        break;
      case Compare_CompareTarget.MOD:
        r = cmp(kv?.modRevision ?? 0, c.modRevision ?? 0n);
        break;
      case Compare_CompareTarget.LEASE:
        r = cmp(kv?.lease ?? 0n, c.lease ?? 0n);
        break;
      default:
        if (!kv) return false;
        r = cmp(kv.value, c.value ?? Buffer.alloc(0));
    }
    switch (c.result) {
      case Compare_CompareResult.EQUAL:
        return r === 0;
      case Compare_CompareResult.GREATER:
        return r > 0;
      case Compare_CompareResult.LESS:
        return r < 0;
      default:
        return r !== 0;
    }
  }

  private applyTxn(req: TxnRequest, rev: number, events: Event[]): TxnResponse {
    const succeeded = req.compare.every((c) => this.compare(c));
    const responses: ResponseOp[] = (succeeded ? req.success : req.failure).map((op: RequestOp) => {
      // Nested answers carry only a revision, as etcd's do.
      const nested = <T extends { header: ResponseHeader | undefined }>(r: T): T => ({
        ...r,
        header: { clusterId: 0n, memberId: 0n, raftTerm: 0, revision: r.header?.revision ?? 0 },
      });
      if (op.requestRange) return { responseRange: nested(this.rangeAt(op.requestRange)) };
      if (op.requestPut) return { responsePut: nested(this.applyPut(op.requestPut, rev, events)) };
      if (op.requestDeleteRange)
        return { responseDeleteRange: nested(this.applyDelete(op.requestDeleteRange, rev, events)) };
      return { responseTxn: this.applyTxn(op.requestTxn as TxnRequest, rev, events) };
    });
    return { header: this.hdr(events.length > 0 ? rev : this.rev), succeeded, responses };
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    return this.write((rev, events) => this.applyTxn(req, rev, events));
  }

  async compact(req: CompactionRequest): Promise<CompactionResponse> {
    if (req.revision > this.rev) throw Errors.FutureRev;
    if (req.revision <= this.compacted) throw Errors.Compacted;
    this.compacted = req.revision;
    return { header: this.hdr() };
  }

  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    if (req.TTL > 9_000_000_000) throw Errors.LeaseTTLTooLarge;
    const id = req.ID !== 0n ? req.ID : this.nextLease++;
    if (this.leases.has(id)) throw Errors.LeaseExist;
    const ttl = Math.max(req.TTL, 2);
    this.leases.set(id, { ttl, expiresAt: Date.now() + ttl * 1000, keys: new Set() });
    return { header: this.hdr(), ID: id, TTL: ttl, error: "" };
  }

  async leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    const lease = this.leases.get(req.ID);
    if (!lease) throw Errors.LeaseNotFound;
    this.leases.delete(req.ID);
    return this.write((rev, events) => {
      for (const k of lease.keys) {
        if (this.kvs.get(k)?.lease === req.ID)
          this.applyDelete(
            { key: Buffer.from(k, "latin1"), rangeEnd: Buffer.alloc(0), prevKv: false },
            rev,
            events,
          );
      }
      return { header: this.hdr(events.length > 0 ? rev : this.rev) };
    });
  }

  async leaseKeepAlive(id: bigint): Promise<KeepAliveResult> {
    const lease = this.leases.get(id);
    if (!lease) return { header: this.hdr(), id, ttl: 0 };
    lease.expiresAt = Date.now() + lease.ttl * 1000;
    return { header: this.hdr(), id, ttl: lease.ttl };
  }

  async leaseTimeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    const lease = this.leases.get(req.ID);
    if (!lease) return { header: this.hdr(), ID: req.ID, TTL: -1, grantedTTL: 0, keys: [] };
    return {
      header: this.hdr(),
      ID: req.ID,
      TTL: Math.max(0, Math.ceil((lease.expiresAt - Date.now()) / 1000)),
      grantedTTL: lease.ttl,
      keys: req.keys ? [...lease.keys].map((k) => Buffer.from(k, "latin1")) : [],
    };
  }

  async leaseLeases(): Promise<LeaseLeasesResponse> {
    return { header: this.hdr(), leases: [...this.leases.keys()].map((ID) => ({ ID })) };
  }

  watchStream(): ClientWatchStream {
    let listener: (resp: WatchResponse) => void = () => {};
    let nextId = 0;
    const cancels = new Map<number, () => void>();
    const send = (r: Partial<WatchResponse>) =>
      listener({
        header: this.hdr(),
        watchId: 0,
        created: false,
        canceled: false,
        compactRevision: 0,
        cancelReason: "",
        fragment: false,
        events: [],
        ...r,
      });
    return {
      request: (req: WatchRequest) => {
        if (req.createRequest) {
          const c = req.createRequest;
          const id = c.watchId !== 0 ? c.watchId : nextId++;
          const key = c.key.length === 0 ? Buffer.from([0]) : c.key;
          const pick = (events: Event[]) =>
            events
              .filter((e) => inRange(e.kv?.key ?? Buffer.alloc(0), key, c.rangeEnd))
              .map((e) => ({ ...e, prevKv: c.prevKv ? e.prevKv : undefined }));
          send({ watchId: id, created: true });
          if (c.startRevision > 0 && c.startRevision <= this.compacted) {
            send({ watchId: id, canceled: true, compactRevision: this.compacted + 1 });
            return;
          }
          if (c.startRevision > 0) {
            for (const h of this.history) {
              const events = h.rev >= c.startRevision ? pick(h.events) : [];
              if (events.length > 0) send({ header: this.hdr(h.rev), watchId: id, events });
            }
          }
          const onWrite = (rev: number, events: Event[]) => {
            const mine = pick(events);
            if (mine.length > 0) send({ header: this.hdr(rev), watchId: id, events: mine });
          };
          this.watchers.add(onWrite);
          cancels.set(id, () => this.watchers.delete(onWrite));
        } else if (req.cancelRequest) {
          const id = req.cancelRequest.watchId;
          cancels.get(id)?.();
          cancels.delete(id);
          send({ watchId: id, canceled: true });
        } else if (req.progressRequest) {
          send({ watchId: -1 });
        }
      },
      onResponse: (l) => {
        listener = l;
      },
      close: () => {
        for (const c of cancels.values()) c();
        cancels.clear();
      },
    };
  }

  async memberList(): Promise<MemberListResponse> {
    return {
      header: this.hdr(),
      members: [
        {
          ID: this.memberId,
          name: "default",
          peerURLs: ["http://127.0.0.1:2380"],
          clientURLs: ["http://127.0.0.1:2379"],
          isLearner: false,
        },
      ],
    };
  }

  /** A single member with no peers: every change to the membership is refused as etcd refuses it. */
  async memberAdd(): Promise<MemberAddResponse> {
    throw Errors.MemberBadURLs;
  }

  async memberRemove(): Promise<MemberRemoveResponse> {
    throw Errors.MemberNotFound;
  }

  async memberUpdate(): Promise<MemberUpdateResponse> {
    throw Errors.MemberNotFound;
  }

  async memberPromote(): Promise<MemberPromoteResponse> {
    throw Errors.MemberNotFound;
  }

  isLearner(): boolean {
    return this.learner;
  }

  hasLeader(): boolean {
    return this.leaderKnown;
  }

  async status(): Promise<StatusResponse> {
    return {
      header: this.hdr(),
      version: "3.4.23",
      dbSize: 20480,
      leader: this.memberId,
      raftIndex: this.rev + 3,
      raftTerm: 2,
      raftAppliedIndex: this.rev + 3,
      errors: [],
      dbSizeInUse: 16384,
      isLearner: false,
    };
  }

  async alarm(req: AlarmRequest): Promise<AlarmResponse> {
    if (req.action === AlarmRequest_AlarmAction.ACTIVATE) {
      this.alarms.push({ memberID: req.memberID, alarm: req.alarm });
      return { header: undefined, alarms: [{ memberID: req.memberID, alarm: req.alarm }] };
    }
    if (req.action === AlarmRequest_AlarmAction.DEACTIVATE) {
      const gone = this.alarms.filter((a) => a.memberID === req.memberID && a.alarm === req.alarm);
      this.alarms = this.alarms.filter((a) => !gone.includes(a));
      return { header: undefined, alarms: gone };
    }
    return { header: undefined, alarms: [...this.alarms] };
  }

  async hash(): Promise<HashResponse> {
    return { header: this.hdr(), hash: 2148887896 };
  }

  async hashKV(_req: HashKVRequest): Promise<HashKVResponse> {
    return { header: this.hdr(), hash: 1084519789, compactRevision: this.compacted };
  }

  async defragment(): Promise<void> {}

  async moveLeader(_req: MoveLeaderRequest): Promise<MoveLeaderResponse> {
    throw Errors.BadLeaderTransferee;
  }

  async snapshot(): Promise<BackendSnapshot> {
    const bytes = this.snapshotBytes;
    return {
      size: bytes.length,
      revision: this.rev,
      // Uneven pieces, so the API's re-chunking into 32 KiB blobs is exercised.
      chunks: (async function* () {
        for (let i = 0; i < bytes.length; i += 10_000) yield bytes.subarray(i, i + 10_000);
      })(),
    };
  }

  async health(): Promise<{ health: boolean; reason?: string }> {
    return { health: this.healthy && this.alarms.length === 0 };
  }

  /** The cluster version /version reports; tests unset it to see a member before the decision. */
  decidedClusterVersion: string | undefined = "3.4.0";
  clusterVersion(): string | undefined {
    return this.decidedClusterVersion;
  }
}
