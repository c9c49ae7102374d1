// v3lockpb.Lock and v3electionpb.Election as etcd 3.4 serves them: built on the KV, Lease and Watch
// API with the recipe of etcd's concurrency package (owner = the key of the prefix with the lowest
// create revision; a waiter watches the next older key until it is deleted).
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
  type ResponseHeader,
  TxnRequest,
  type TxnResponse,
  type WatchResponse,
} from "../gen/etcdserverpb/rpc.js";
import { Event_EventType } from "../gen/mvccpb/kv.js";
import type {
  CampaignRequest,
  CampaignResponse,
  LeaderKey,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
} from "../gen/v3electionpb/v3election.js";
import type { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from "../gen/v3lockpb/v3lock.js";
import { Errors, EtcdError, GrpcCode, isClientVisibleError } from "../rpctypes/errors.js";
import type { ClientApi, RequestContext } from "../server/client-api.js";

/** The KV calls the recipes use, with headers filled as clients see them. */
export interface KvCalls {
  range(r: RangeRequest): Promise<RangeResponse>;
  txn(r: TxnRequest): Promise<TxnResponse>;
  deleteRange(r: DeleteRangeRequest): Promise<DeleteRangeResponse>;
}

/** concurrency.DefaultSessionTTL: the lease granted when a request brings none. */
const sessionTtl = 60;

// Errors of etcd's election recipe; they reach clients as Unknown with this text.
const electionNotLeader = () => new EtcdError(GrpcCode.Unknown, "election: not leader");
const electionNoLeader = () => new EtcdError(GrpcCode.Unknown, "election: no leader");
const missingLeaderKey = () => new EtcdError(GrpcCode.Unknown, '"leader" field must be provided');
const canceled = () => new EtcdError(GrpcCode.Canceled, "context canceled");

/** The end of the range of keys starting with `prefix` (clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

const withSlash = (name: Buffer) => Buffer.concat([name, Buffer.from("/")]);
const leaseKey = (prefix: Buffer, lease: bigint) => Buffer.concat([prefix, Buffer.from(lease.toString(16))]);

/** The oldest (first created) key under a prefix. */
const firstCreated = (prefix: Buffer) =>
  RangeRequest.fromPartial({
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortOrder: RangeRequest_SortOrder.ASCEND,
    sortTarget: RangeRequest_SortTarget.CREATE,
    limit: 1,
  });

const createdAt = (key: Buffer, rev: number) => ({
  key,
  target: Compare_CompareTarget.CREATE,
  result: Compare_CompareResult.EQUAL,
  createRevision: BigInt(rev),
});

/**
 * The recipes for one caller: `kv` and the lease and watch calls act with the caller's credentials. `internalKv`
 * acts with none: etcd's recipes give up a waiter's place in the queue through their internal client's own context,
 * which carries no token, so with auth enabled that delete is refused ("user name is empty") and the key stays
 * until its lease ends.
 */
export function lockElection(api: ClientApi, kv: KvCalls, ctx?: RequestContext, internalKv: KvCalls = kv) {
  const sessionLease = async (lease: bigint) =>
    lease !== 0n ? lease : (await api.leaseGrant({ TTL: sessionTtl, ID: 0n }, ctx)).ID;

  /** Resolves when `key` is deleted at or after `rev`. */
  const waitDelete = (key: Buffer, rev: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      const stream = api.watchStream(ctx);
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        stream.close();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => settle(canceled());
      if (signal?.aborted) return settle(canceled());
      signal?.addEventListener("abort", onAbort);
      stream.onResponse((resp) => {
        if (resp.events.some((e) => e.type === Event_EventType.DELETE)) settle();
        else if (resp.canceled)
          settle(resp.compactRevision > 0 ? Errors.Compacted : new Error("lost watcher waiting for delete"));
      });
      stream.request({
        createRequest: {
          key,
          rangeEnd: Buffer.alloc(0),
          startRevision: rev,
          progressNotify: false,
          filters: [],
          prevKv: false,
          watchId: 0,
          fragment: false,
        },
      });
    });

  /** Waits until no key under `prefix` older than `maxCreateRev` is left; the header of the last read. */
  const waitDeletes = async (
    prefix: Buffer,
    maxCreateRev: number,
    signal?: AbortSignal,
  ): Promise<ResponseHeader> => {
    for (;;) {
      const resp = await kv.range(
        RangeRequest.fromPartial({
          key: prefix,
          rangeEnd: prefixEnd(prefix),
          sortOrder: RangeRequest_SortOrder.DESCEND,
          sortTarget: RangeRequest_SortTarget.CREATE,
          limit: 1,
          maxCreateRevision: maxCreateRev,
        }),
      );
      if (resp.kvs.length === 0) return resp.header as ResponseHeader;
      await waitDelete(resp.kvs[0].key, resp.header?.revision ?? 0, signal);
    }
  };

  const put = (key: Buffer, value: Buffer, lease: bigint) => ({
    requestPut: { key, value, lease, prevKv: false, ignoreValue: false, ignoreLease: false },
  });

  async function lock(req: LockRequest, signal?: AbortSignal): Promise<LockResponse> {
    const lease = await sessionLease(req.lease);
    const prefix = withSlash(req.name);
    const myKey = leaseKey(prefix, lease);
    const resp = await kv.txn(
      TxnRequest.fromPartial({
        compare: [createdAt(myKey, 0)],
        success: [put(myKey, Buffer.alloc(0), lease), { requestRange: firstCreated(prefix) }],
        failure: [
          { requestRange: RangeRequest.fromPartial({ key: myKey }) },
          { requestRange: firstCreated(prefix) },
        ],
      }),
    );
    let myRev = resp.header?.revision ?? 0;
    if (!resp.succeeded) myRev = resp.responses[0].responseRange?.kvs[0]?.createRevision ?? myRev;
    const owner = resp.responses[1].responseRange?.kvs ?? [];
    if (owner.length === 0 || owner[0].createRevision === myRev) return { header: resp.header, key: myKey };
    try {
      return { header: await waitDeletes(prefix, myRev - 1, signal), key: myKey };
    } catch (err) {
      // Give up the place in the queue whatever ended the wait, as etcd's mutex does (without credentials).
      await internalKv
        .deleteRange({ key: myKey, rangeEnd: Buffer.alloc(0), prevKv: false })
        .catch(() => undefined);
      throw err;
    }
  }

  async function unlock(req: UnlockRequest): Promise<UnlockResponse> {
    const resp = await kv.deleteRange({ key: req.key, rangeEnd: Buffer.alloc(0), prevKv: false });
    return { header: resp.header };
  }

  async function proclaimAs(leader: LeaderKey, value: Buffer): Promise<ResponseHeader | undefined> {
    const resp = await kv.txn(
      TxnRequest.fromPartial({
        compare: [createdAt(leader.key, leader.rev)],
        success: [put(leader.key, value, leader.lease)],
      }),
    );
    if (!resp.succeeded) throw electionNotLeader();
    return resp.header;
  }

  async function resignAs(leader: LeaderKey, through: KvCalls = kv): Promise<ResponseHeader | undefined> {
    const resp = await through.txn(
      TxnRequest.fromPartial({
        compare: [createdAt(leader.key, leader.rev)],
        success: [{ requestDeleteRange: { key: leader.key, rangeEnd: Buffer.alloc(0), prevKv: false } }],
      }),
    );
    return resp.header;
  }

  async function campaign(req: CampaignRequest, signal?: AbortSignal): Promise<CampaignResponse> {
    const lease = await sessionLease(req.lease);
    const prefix = withSlash(req.name);
    const key = leaseKey(prefix, lease);
    const resp = await kv.txn(
      TxnRequest.fromPartial({
        compare: [createdAt(key, 0)],
        success: [put(key, req.value, lease)],
        failure: [{ requestRange: RangeRequest.fromPartial({ key }) }],
      }),
    );
    const leader: LeaderKey = { name: req.name, key, rev: resp.header?.revision ?? 0, lease };
    if (!resp.succeeded) {
      const kvs = resp.responses[0].responseRange?.kvs[0];
      leader.rev = kvs?.createRevision ?? leader.rev;
      if (kvs && !kvs.value.equals(req.value)) {
        try {
          await proclaimAs(leader, req.value);
        } catch (err) {
          await resignAs(leader).catch(() => undefined);
          throw err;
        }
      }
    }
    try {
      await waitDeletes(prefix, leader.rev - 1, signal);
    } catch (err) {
      // etcd's election resigns only when the caller left or its deadline passed, and without credentials
      if (signal?.aborted) await resignAs(leader, internalKv).catch(() => undefined);
      throw err;
    }
    return { header: resp.header, leader };
  }

  // Proclaim and Resign resume the election in a session of the leader key's lease, as etcd's election server
  // does: a key that names no lease (0) gets a new session lease, and Proclaim puts the value with that lease.
  async function proclaim(req: ProclaimRequest): Promise<ProclaimResponse> {
    if (!req.leader) throw missingLeaderKey();
    const lease = await sessionLease(req.leader.lease);
    return { header: await proclaimAs({ ...req.leader, lease }, req.value) };
  }

  async function leader(req: LeaderRequest): Promise<LeaderResponse> {
    const resp = await kv.range(firstCreated(withSlash(req.name)));
    if (resp.kvs.length === 0) throw electionNoLeader();
    return { header: resp.header, kv: resp.kvs[0] };
  }

  async function resign(req: ResignRequest): Promise<ResignResponse> {
    if (!req.leader) throw missingLeaderKey();
    await sessionLease(req.leader.lease);
    return { header: await resignAs(req.leader) };
  }

  /** The answers of one watch, as an async sequence that ends when `signal` aborts. */
  async function* watchAnswers(key: Buffer, rangeEnd: Buffer, startRevision: number, signal: AbortSignal) {
    const stream = api.watchStream(ctx);
    const queue: WatchResponse[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      wake?.();
      wake = undefined;
    };
    stream.onResponse((resp) => {
      queue.push(resp);
      notify();
    });
    signal.addEventListener("abort", notify);
    stream.request({
      createRequest: {
        key,
        rangeEnd,
        startRevision,
        progressNotify: false,
        filters: [],
        prevKv: false,
        watchId: 0,
        fragment: false,
      },
    });
    try {
      while (!signal.aborted) {
        const next = queue.shift();
        if (!next) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        if (next.canceled) return;
        yield next;
      }
    } finally {
      signal.removeEventListener("abort", notify);
      stream.close();
    }
  }

  /**
   * Election.Observe: the current leader, then every change of its value; when it resigns, the next
   * leader (waiting for one if there is none), until the client leaves.
   */
  async function* observe(req: LeaderRequest, signal: AbortSignal): AsyncGenerator<LeaderResponse> {
    const prefix = withSlash(req.name);
    while (!signal.aborted) {
      let resp: RangeResponse;
      try {
        resp = await kv.range(firstCreated(prefix));
      } catch {
        // etcd's election closes its observation on any error of its read: the stream ends without one
        return;
      }
      let header = resp.header;
      let current = resp.kvs[0];
      if (!current) {
        for await (const answer of watchAnswers(
          prefix,
          prefixEnd(prefix),
          resp.header?.revision ?? 0,
          signal,
        )) {
          const put = answer.events.find((e) => e.type === Event_EventType.PUT);
          if (put?.kv) {
            current = put.kv;
            header = answer.header && { ...answer.header, revision: put.kv.modRevision };
            break;
          }
        }
        if (!current) return;
      }
      yield { header, kv: current };
      const from = (header?.revision ?? 0) + 1;
      let deleted = false;
      for await (const answer of watchAnswers(current.key, Buffer.alloc(0), from, signal)) {
        for (const event of answer.events) {
          if (event.type === Event_EventType.DELETE) {
            deleted = true;
            break;
          }
          yield { header: answer.header, kv: event.kv };
        }
        if (deleted) break;
      }
      if (!deleted) return;
    }
  }

  // etcd serves these through an internal client; a failed inner call reaches the caller as
  // Unknown with the inner error's text.
  const inner =
    <Req, Res>(fn: (req: Req, signal?: AbortSignal) => Promise<Res>) =>
    async (req: Req, signal?: AbortSignal): Promise<Res> => {
      try {
        return await fn(req, signal);
      } catch (err) {
        if (isClientVisibleError(err) && err.code !== GrpcCode.Canceled && err.code !== GrpcCode.Unknown) {
          throw new EtcdError(GrpcCode.Unknown, err.grpcMessage);
        }
        throw err;
      }
    };
  return {
    lock: inner(lock),
    unlock: inner(unlock),
    campaign: inner(campaign),
    proclaim: inner(proclaim),
    leader: inner(leader),
    resign: inner(resign),
    observe,
  };
}
