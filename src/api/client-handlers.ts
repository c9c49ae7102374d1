// The client API as protocol-neutral handlers: one per unary RPC, keyed by its gRPC path, plus the
// streaming pieces. The gRPC services and the JSON gateway both call these, so a request behaves the
// same whichever way it arrives. Behaviour of etcd 3.4's v3rpc layer: request checks, header filling,
// TTL -1 for unknown leases, the snapshot stream framing, and answers for what ClientApi lacks.
import { createHash } from "node:crypto";
import {
  AuthService,
  ClusterService,
  KVService,
  type LeaseKeepAliveResponse,
  LeaseService,
  type LeaseTimeToLiveResponse,
  MaintenanceService,
  type ResponseHeader,
  type SnapshotResponse,
} from "../gen/etcdserverpb/rpc.js";
import { ElectionService, type LeaderRequest } from "../gen/v3electionpb/v3election.js";
import { LockService } from "../gen/v3lockpb/v3lock.js";
import { Errors, EtcdError, GrpcCode, isClientVisibleError } from "../rpctypes/errors.js";
import type { ClientApi, ClientAuthApi, RequestContext } from "../server/client-api.js";
import { lockElection } from "./lock-election.js";
import { checkDelete, checkPut, checkRange, checkTxn, isReadOnlyTxn } from "./request-checks.js";

/** Limits the client API enforces itself. */
export interface ClientLimits {
  /** --max-request-bytes: a proposal larger than this fails with "request is too large". */
  maxRequestBytes: number;
  /** --max-txn-ops. */
  maxTxnOps: number;
}

export const defaultClientLimits: ClientLimits = { maxRequestBytes: 1.5 * 1024 * 1024, maxTxnOps: 128 };

/** The part of a generated method definition the handlers need. */
export interface MethodDefinition<Req, Res> {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  requestSerialize(value: Req): Buffer;
  requestDeserialize(value: Buffer): Req;
  responseSerialize(value: Res): Buffer;
  responseDeserialize(value: Buffer): Res;
}

/** A unary RPC: its generated definition and what answers it. */
export interface UnaryHandler<Req = unknown, Res = unknown> {
  readonly definition: MethodDefinition<Req, Res>;
  /** True for the long waits (Lock, Campaign): only they are given a `signal`. */
  readonly waits: boolean;
  /**
   * `signal` aborts when the client goes away (given only to handlers that wait);
   * `ctx` carries the caller's credentials.
   */
  handle(request: Req, signal?: AbortSignal, ctx?: RequestContext): Promise<Res>;
}

/**
 * An upper bound of a decoded request's protobuf size, without encoding it: every scalar field at its
 * widest (a 2-byte tag and a 10-byte varint), every bytes, string or message field with a 2-byte tag,
 * a 5-byte length and its content (strings at 3 bytes a character).
 */
export function encodedSizeBound(value: unknown): number {
  if (value instanceof Uint8Array) return 7 + value.length;
  if (typeof value === "string") return 7 + 3 * value.length;
  if (Array.isArray(value)) {
    let n = 0;
    for (const v of value) n += encodedSizeBound(v);
    return n;
  }
  if (value !== null && typeof value === "object") {
    let n = 7;
    for (const key in value) n += encodedSizeBound((value as Record<string, unknown>)[key]);
    return n;
  }
  return 12;
}

/** Lease-not-found from any layer (the API answers it with TTL 0 / -1 instead of an error). */
function isLeaseNotFound(err: unknown): boolean {
  return isClientVisibleError(err) && err.grpcMessage === Errors.LeaseNotFound.grpcMessage;
}

/** The header every v3rpc handler fills: this member's ids and term; the revision only when unset. */
export function headerFiller(api: ClientApi): (h: ResponseHeader | undefined) => ResponseHeader {
  return (h) => {
    const now = api.header();
    return {
      clusterId: api.clusterId,
      memberId: api.memberId,
      raftTerm: now.raftTerm,
      revision: h?.revision ? h.revision : now.revision,
    };
  };
}

/** One LeaseKeepAlive answer: an unknown or expired lease answers TTL 0, not an error. */
export async function keepAliveResponse(
  api: ClientApi,
  id: bigint,
  ctx?: RequestContext,
): Promise<LeaseKeepAliveResponse> {
  const fill = headerFiller(api);
  try {
    const r = await api.leaseKeepAlive(id, ctx);
    return { header: fill(r.header), ID: id, TTL: r.ttl };
  } catch (err) {
    if (!isLeaseNotFound(err)) throw err;
    return { header: fill(undefined), ID: id, TTL: 0 };
  }
}

/** A learner serves only Status and serializable Range (etcd's isRPCSupportedForLearner); no stream at all. */
export function checkLearner(api: ClientApi, path: string, req: unknown): void {
  if (!api.isLearner()) return;
  if (path === MaintenanceService.status.path) return;
  if (path === KVService.range.path && (req as { serializable?: boolean }).serializable === true) return;
  throw Errors.NotSupportedForLearner;
}

/** clientv3's `hasleader` metadata: the request needs a member that knows a leader. */
export function checkRequireLeader(api: ClientApi, requireLeader: boolean): void {
  if (requireLeader && !api.hasLeader()) throw Errors.NoLeader;
}

/** etcd's answer for an RPC this member does not serve (the text grpc-go gives an unknown method). */
export function unimplemented(path: string): EtcdError {
  const [, service, method] = path.split("/");
  return new EtcdError(GrpcCode.Unimplemented, `unknown method ${method} for service ${service}`);
}

/** Every unary RPC of the client port, by gRPC path ("/etcdserverpb.KV/Range"). */
export function unaryHandlers(api: ClientApi, limits: ClientLimits): Map<string, UnaryHandler> {
  const table = new Map<string, UnaryHandler>();
  const add = <Req, Res>(
    definition: MethodDefinition<Req, Res>,
    handle: (req: Req, signal?: AbortSignal, ctx?: RequestContext) => Promise<Res>,
    waits = false,
  ) => {
    // a learner serves only what etcd's interceptor lets through; a check that throws is a
    // rejection, as from an async function, without one more async frame on every call
    const checked = (req: Req, signal?: AbortSignal, ctx?: RequestContext): Promise<Res> => {
      try {
        checkLearner(api, definition.path, req);
        return handle(req, signal, ctx);
      } catch (err) {
        return Promise.reject(err);
      }
    };
    table.set(definition.path, { definition, handle: checked, waits } as UnaryHandler);
  };

  const fill = headerFiller(api);
  const fillHeader = <R extends { header: ResponseHeader | undefined }>(resp: R): R => {
    resp.header = fill(resp.header);
    return resp;
  };
  const withHeader = <R extends { header: ResponseHeader | undefined }>(p: Promise<R>): Promise<R> =>
    p.then(fillHeader);
  const tooLarge = <Req>(definition: MethodDefinition<Req, unknown>, req: Req) => {
    // Encoding a request only to measure it costs every write; a bound settles nearly all of them.
    if (encodedSizeBound(req) <= limits.maxRequestBytes) return;
    if (definition.requestSerialize(req).length > limits.maxRequestBytes) throw Errors.RequestTooLarge;
  };

  // (checked turns a throw of a check into a rejection: the KV handlers need no async frame)
  add(KVService.range, (req, _signal, ctx) => {
    checkRange(req);
    return withHeader(api.range(req, ctx));
  });
  add(KVService.put, (req, _signal, ctx) => {
    checkPut(req);
    tooLarge(KVService.put, req);
    // answered with the member's full header already (see ClientApi): no second pass over it
    return api.put(req, ctx);
  });
  add(KVService.deleteRange, (req, _signal, ctx) => {
    checkDelete(req);
    tooLarge(KVService.deleteRange, req);
    return withHeader(api.deleteRange(req, ctx));
  });
  add(KVService.txn, (req, _signal, ctx) => {
    checkTxn(req, limits.maxTxnOps);
    if (!isReadOnlyTxn(req)) tooLarge(KVService.txn, req);
    return api.txn(req, ctx);
  });
  add(KVService.compact, async (req, _signal, ctx) => withHeader(api.compact(req, ctx)));

  add(LeaseService.leaseGrant, async (req, _signal, ctx) => withHeader(api.leaseGrant(req, ctx)));
  add(LeaseService.leaseRevoke, async (req, _signal, ctx) => withHeader(api.leaseRevoke(req, ctx)));
  add(LeaseService.leaseTimeToLive, async (req, _signal, ctx) => {
    let resp: LeaseTimeToLiveResponse;
    try {
      resp = await api.leaseTimeToLive(req, ctx);
    } catch (err) {
      if (!isLeaseNotFound(err)) throw err;
      resp = { header: undefined, ID: req.ID, TTL: -1, grantedTTL: 0, keys: [] };
    }
    resp.header = fill(resp.header);
    return resp;
  });
  add(LeaseService.leaseLeases, async (_req, _signal, ctx) => withHeader(api.leaseLeases(ctx)));

  // Cluster answers carry ids and term but no revision (etcd's ClusterServer.header()).
  add(ClusterService.memberList, async (_req, _signal, ctx) => {
    const resp = await api.memberList(ctx);
    resp.header = { ...fill(undefined), revision: 0 };
    return resp;
  });
  const clusterHeader = async <R extends { header: ResponseHeader | undefined }>(p: Promise<R>) => {
    const resp = await p;
    resp.header = { ...fill(undefined), revision: 0 };
    return resp;
  };
  add(ClusterService.memberAdd, async (req, _signal, ctx) => clusterHeader(api.memberAdd(req, ctx)));
  add(ClusterService.memberRemove, async (req, _signal, ctx) => clusterHeader(api.memberRemove(req, ctx)));
  add(ClusterService.memberUpdate, async (req, _signal, ctx) => clusterHeader(api.memberUpdate(req, ctx)));
  add(ClusterService.memberPromote, async (req, _signal, ctx) => clusterHeader(api.memberPromote(req, ctx)));

  add(MaintenanceService.status, async (_req, _signal, ctx) => withHeader(api.status(ctx)));
  // etcd 3.4 answers Alarm, Defragment and MoveLeader without filling a header.
  add(MaintenanceService.alarm, async (req, _signal, ctx) => api.alarm(req, ctx));
  add(MaintenanceService.hash, async (_req, _signal, ctx) => withHeader(api.hash(ctx)));
  add(MaintenanceService.hashKv, async (req, _signal, ctx) => withHeader(api.hashKV(req, ctx)));
  add(MaintenanceService.defragment, async (_req, _signal, ctx) => {
    await api.defragment(ctx);
    return { header: undefined };
  });
  add(MaintenanceService.moveLeader, async (req, _signal, ctx) => api.moveLeader(req, ctx));

  if (api.auth) addAuthService(add, api.auth, fill);
  else addAuthAnswers(add, fill);

  // Lock and Election use the KV handlers above, so their headers are filled like any KV answer;
  // the recipes act with the caller's credentials.
  const kvAs = (ctx?: RequestContext) => {
    const call =
      <Req, Res>(d: MethodDefinition<Req, Res>) =>
      (req: Req) =>
        (table.get(d.path) as UnaryHandler<Req, Res>).handle(req, undefined, ctx);
    return {
      range: call(KVService.range),
      txn: call(KVService.txn),
      deleteRange: call(KVService.deleteRange),
    };
  };
  const internalKv = kvAs();
  const recipes = (ctx?: RequestContext) => lockElection(api, kvAs(ctx), ctx, internalKv);
  const anonymous = recipes();
  const recipe =
    <Req, Res>(pick: (r: ReturnType<typeof recipes>) => (req: Req, signal?: AbortSignal) => Promise<Res>) =>
    (req: Req, signal?: AbortSignal, ctx?: RequestContext) =>
      pick(ctx ? recipes(ctx) : anonymous)(req, signal);
  add(
    LockService.lock,
    recipe((r) => r.lock),
    true,
  );
  add(
    LockService.unlock,
    recipe((r) => r.unlock),
  );
  add(
    ElectionService.campaign,
    recipe((r) => r.campaign),
    true,
  );
  add(
    ElectionService.proclaim,
    recipe((r) => r.proclaim),
  );
  add(
    ElectionService.leader,
    recipe((r) => r.leader),
  );
  add(
    ElectionService.resign,
    recipe((r) => r.resign),
  );
  return table;
}

/** The Auth service of a member with an auth store; headers filled like every v3rpc answer. */
function addAuthService(
  add: <Req, Res>(
    d: MethodDefinition<Req, Res>,
    h: (req: Req, signal?: AbortSignal, ctx?: RequestContext) => Promise<Res>,
  ) => void,
  auth: ClientAuthApi,
  fill: (h: ResponseHeader | undefined) => ResponseHeader,
): void {
  const filled = async <R extends { header: ResponseHeader | undefined }>(p: Promise<R>): Promise<R> => {
    const resp = await p;
    resp.header = fill(resp.header);
    return resp;
  };
  add(AuthService.authEnable, (_req, _s, ctx) => filled(auth.authEnable(ctx)));
  add(AuthService.authDisable, (_req, _s, ctx) => filled(auth.authDisable(ctx)));
  add(AuthService.authenticate, (req, _s, ctx) => filled(auth.authenticate(req, ctx)));
  add(AuthService.userAdd, (req, _s, ctx) => filled(auth.userAdd(req, ctx)));
  add(AuthService.userGet, (req, _s, ctx) => filled(auth.userGet(req, ctx)));
  add(AuthService.userList, (_req, _s, ctx) => filled(auth.userList(ctx)));
  add(AuthService.userDelete, (req, _s, ctx) => filled(auth.userDelete(req, ctx)));
  add(AuthService.userChangePassword, (req, _s, ctx) => filled(auth.userChangePassword(req, ctx)));
  add(AuthService.userGrantRole, (req, _s, ctx) => filled(auth.userGrantRole(req, ctx)));
  add(AuthService.userRevokeRole, (req, _s, ctx) => filled(auth.userRevokeRole(req, ctx)));
  add(AuthService.roleAdd, (req, _s, ctx) => filled(auth.roleAdd(req, ctx)));
  add(AuthService.roleGet, (req, _s, ctx) => filled(auth.roleGet(req, ctx)));
  add(AuthService.roleList, (_req, _s, ctx) => filled(auth.roleList(ctx)));
  add(AuthService.roleDelete, (req, _s, ctx) => filled(auth.roleDelete(req, ctx)));
  add(AuthService.roleGrantPermission, (req, _s, ctx) => filled(auth.roleGrantPermission(req, ctx)));
  add(AuthService.roleRevokePermission, (req, _s, ctx) => filled(auth.roleRevokePermission(req, ctx)));
}

/**
 * Auth as a member without an auth store answers it: authentication is off, there are no users
 * or roles, and anything that would create one is not served.
 */
function addAuthAnswers(
  add: <Req, Res>(d: MethodDefinition<Req, Res>, h: (req: Req) => Promise<Res>) => void,
  fill: (h: ResponseHeader | undefined) => ResponseHeader,
): void {
  const ok = async () => ({ header: fill(undefined) });
  add(AuthService.authDisable, ok);
  add(AuthService.authEnable, async () => {
    throw Errors.RootUserNotExist;
  });
  add(AuthService.authenticate, async () => {
    throw Errors.AuthNotEnabled;
  });
  add(AuthService.userList, async () => ({ header: fill(undefined), users: [] }));
  add(AuthService.roleList, async () => ({ header: fill(undefined), roles: [] }));
  const noUser = async (req: { name?: string; user?: string }) => {
    if ((req.name ?? req.user) === "") throw Errors.UserEmpty;
    throw Errors.UserNotFound;
  };
  add(AuthService.userGet, noUser);
  add(AuthService.userDelete, noUser);
  add(AuthService.userChangePassword, noUser);
  add(AuthService.userGrantRole, noUser);
  add(AuthService.userRevokeRole, noUser);
  const noRole = async (req: { name?: string; role?: string }) => {
    if ((req.role ?? req.name) === "") throw Errors.RoleEmpty;
    throw Errors.RoleNotFound;
  };
  add(AuthService.roleGet, noRole);
  add(AuthService.roleDelete, noRole);
  add(AuthService.roleGrantPermission, noRole);
  add(AuthService.roleRevokePermission, noRole);
  for (const d of [AuthService.userAdd, AuthService.roleAdd]) {
    add(d as MethodDefinition<unknown, unknown>, async () => {
      throw unimplemented(d.path);
    });
  }
}

/** Election.Observe over the KV handlers (headers filled like any KV answer). */
export function leaderObserver(api: ClientApi, handlers: Map<string, UnaryHandler>) {
  return (req: LeaderRequest, signal: AbortSignal, ctx?: RequestContext) => {
    const call =
      <Req, Res>(d: MethodDefinition<Req, Res>) =>
      (r: Req) =>
        (handlers.get(d.path) as UnaryHandler<Req, Res>).handle(r, undefined, ctx);
    return lockElection(
      api,
      { range: call(KVService.range), txn: call(KVService.txn), deleteRange: call(KVService.deleteRange) },
      ctx,
    ).observe(req, signal);
  };
}

/** etcd's snapshot send buffer: every message but the last two carries exactly this much. */
export const snapshotChunkBytes = 32 * 1024;

/**
 * The Snapshot stream as etcd 3.4 sends it: the backend in 32 KiB blobs with the bytes still to
 * come, then one message whose blob is the SHA-256 of everything sent (remaining_bytes 0).
 */
export async function* snapshotMessages(
  api: ClientApi,
  ctx?: RequestContext,
): AsyncGenerator<SnapshotResponse> {
  const snap = await api.snapshot(ctx);
  const sha = createHash("sha256");
  let pending: Buffer = Buffer.alloc(0);
  let sent = 0;
  const message = (blob: Buffer): SnapshotResponse => {
    sent += blob.length;
    sha.update(blob);
    return { header: undefined, remainingBytes: Math.max(0, snap.size - sent), blob };
  };
  for await (const chunk of snap.chunks) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= snapshotChunkBytes) {
      yield message(pending.subarray(0, snapshotChunkBytes));
      pending = pending.subarray(snapshotChunkBytes);
    }
  }
  if (pending.length > 0) yield message(pending);
  yield { header: undefined, remainingBytes: 0, blob: sha.digest() };
}
