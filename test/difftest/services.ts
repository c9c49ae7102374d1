// The differential tester's calls of the lock, election, cluster and maintenance services (beside KV, lease, watch
// and auth in runner.ts): the requests they send, what each side remembers of their answers (lock keys, leader keys,
// members added, session leases), and the normalization their answers need.
import { createHash } from "node:crypto";
import type {
  CallOptions,
  ChannelCredentials,
  ClientReadableStream,
  ClientUnaryCall,
  Metadata,
  ServiceError,
} from "@grpc/grpc-js";
import {
  ClusterClient,
  LeaseLeasesResponse,
  type Member,
  MemberAddResponse,
  type SnapshotResponse,
} from "../../src/gen/etcdserverpb/rpc.js";
import {
  CampaignResponse,
  ElectionClient,
  type LeaderKey,
  type LeaderResponse,
} from "../../src/gen/v3electionpb/v3election.js";
import { LockClient, LockResponse } from "../../src/gen/v3lockpb/v3lock.js";
import type { Bytes, LeaderRef, LeaseRef, LockRef, MemberRef, Op } from "./generator.js";
import { type ObserveOwes, windowOver } from "./held.js";
import type { LeaseNames, RpcFailure } from "./normalize.js";

/** The operation kinds this file serves. */
export const SERVICE_KINDS = new Set<Op["kind"]>([
  "lock",
  "unlock",
  "campaign",
  "proclaim",
  "leader",
  "resign",
  "observe",
  "memberList",
  "memberAdd",
  "memberUpdate",
  "memberRemove",
  "memberPromote",
  "hash",
  "defragment",
  "moveLeader",
  "snapshot",
]);
export type ServiceOp = Extract<
  Op,
  {
    kind:
      | "lock"
      | "unlock"
      | "campaign"
      | "proclaim"
      | "leader"
      | "resign"
      | "observe"
      | "memberList"
      | "memberAdd"
      | "memberUpdate"
      | "memberRemove"
      | "memberPromote"
      | "hash"
      | "defragment"
      | "moveLeader"
      | "snapshot";
  }
>;

export function isServiceOp(op: Op): op is ServiceOp {
  return SERVICE_KINDS.has(op.kind);
}

/** The gateway's paths of the unary calls among them (the runner reads Observe's and Snapshot's streams itself). */
export const SERVICE_PATHS: Partial<Record<Op["kind"], string>> = {
  lock: "/v3/lock/lock",
  unlock: "/v3/lock/unlock",
  campaign: "/v3/election/campaign",
  proclaim: "/v3/election/proclaim",
  leader: "/v3/election/leader",
  resign: "/v3/election/resign",
  memberList: "/v3/cluster/member/list",
  memberAdd: "/v3/cluster/member/add",
  memberUpdate: "/v3/cluster/member/update",
  memberRemove: "/v3/cluster/member/remove",
  memberPromote: "/v3/cluster/member/promote",
  hash: "/v3/maintenance/hash",
  defragment: "/v3/maintenance/defragment",
  moveLeader: "/v3/maintenance/transfer-leadership",
};

/**
 * One server's members by name: the serving one "M0", the ones added "M1", "M2", ... in order of addition. A member
 * id is random (etcd hashes the time into it), so ids are compared by these names; so are the serving member's own
 * URLs, whose ports differ between the two servers.
 */
export class MemberNames {
  selfId = 0n;
  selfPeerUrl = "";
  selfClientUrl = "";
  readonly added: bigint[] = [];

  name(id: bigint): string {
    if (id === this.selfId) return "M0";
    const i = this.added.indexOf(id);
    return i >= 0 ? `M${i + 1}` : `id:${id}`;
  }

  url(u: string): string {
    return u === this.selfPeerUrl ? "(own peer URL)" : u === this.selfClientUrl ? "(own client URL)" : u;
  }

  /**
   * A member list (as a Member or its JSON) with ids and own URLs by name. etcd lists members in the order of their
   * ids, which are random: the list is compared in the order of the names, with whether it was in id order.
   */
  members(value: unknown): unknown {
    const one = (m: unknown) => {
      if (typeof m !== "object" || m === null) return m;
      const x = m as Record<string, unknown>;
      const out: Record<string, unknown> = { ...x };
      if (x.ID !== undefined) out.ID = this.name(BigInt(x.ID as string | bigint));
      for (const f of ["peerURLs", "clientURLs"])
        if (Array.isArray(x[f])) out[f] = (x[f] as string[]).map((u) => this.url(u));
      return out;
    };
    if (typeof value !== "object" || value === null) return value;
    const v = { ...(value as Record<string, unknown>) };
    if (Array.isArray(v.members)) {
      const ids = v.members.map((m) => BigInt((m as { ID: string | bigint }).ID));
      v.membersInIdOrder = ids.every((id, i) => i === 0 || ids[i - 1] < id);
      v.members = v.members
        .map(one)
        .sort((a, b) => String((a as { ID: string }).ID).localeCompare(String((b as { ID: string }).ID)));
    }
    if (v.member !== undefined) v.member = one(v.member);
    return v;
  }
}

/** What one side remembers of the answers of these services. */
export class ServiceState {
  readonly members = new MemberNames();
  /** Keys Lock answered, in order. */
  readonly locks: Buffer[] = [];
  /** Leader keys Campaign answered, in order. */
  readonly leaders: LeaderKey[] = [];
  readonly lock: LockClient;
  readonly election: ElectionClient;
  readonly cluster: ClusterClient;

  constructor(address: string, creds: ChannelCredentials, options: Record<string, number>) {
    this.lock = new LockClient(address, creds, options);
    this.election = new ElectionClient(address, creds, options);
    this.cluster = new ClusterClient(address, creds, options);
  }

  close(): void {
    this.lock.close();
    this.election.close();
    this.cluster.close();
  }
}

/** How a request of these services is built: bytes and leases. */
export interface ServiceResolver {
  bytes(b: Bytes): Buffer;
  lease(ref: LeaseRef | null): bigint;
}

function lockKey(state: ServiceState, ref: LockRef, r: ServiceResolver): Buffer {
  if ("literal" in ref) return r.bytes(ref.literal);
  return state.locks.length === 0 ? Buffer.alloc(0) : state.locks[ref.acquired % state.locks.length];
}

function leaderKey(state: ServiceState, ref: LeaderRef): LeaderKey | undefined {
  if ("missing" in ref) return undefined;
  if ("byLease" in ref) {
    const lease = BigInt(ref.byLease);
    const won = [...state.leaders].reverse().find((l) => l.lease === lease);
    // none yet (the waiter has not won): the key it would have, at a revision no key was created at
    return won ?? { name: Buffer.from("el"), key: Buffer.from(`el/${lease.toString(16)}`), rev: 1, lease };
  }
  const won = state.leaders.length === 0 ? undefined : state.leaders[ref.won % state.leaders.length];
  // before any Campaign answered: a key of an election nobody leads
  const leader: LeaderKey = won ?? {
    name: Buffer.from("el"),
    key: Buffer.from("el/1"),
    rev: 1,
    lease: 1002n,
  };
  switch (ref.change) {
    case "key":
      return { ...leader, key: Buffer.concat([leader.key, Buffer.from("x")]) };
    case "rev":
      return { ...leader, rev: leader.rev + 1 };
    case "lease":
      return { ...leader, lease: 1001n };
    case "name":
      return { ...leader, name: Buffer.from("other") };
    case "noLease":
      return { ...leader, lease: 0n };
    default:
      return leader;
  }
}

function memberId(state: ServiceState, ref: MemberRef): bigint {
  const m = state.members;
  if ("self" in ref) return m.selfId;
  if ("id" in ref) return BigInt(ref.id);
  return m.added.length === 0 ? 0n : m.added[ref.added % m.added.length];
}

function peerUrls(state: ServiceState, urls: string[]): string[] {
  return urls.map((u) => (u === "self" ? state.members.selfPeerUrl : u));
}

/** The request of an operation of these services, as the generated types hold it (and the gateway takes it). */
export function serviceRequest(
  op: ServiceOp,
  state: ServiceState,
  r: ServiceResolver,
): Record<string, unknown> {
  switch (op.kind) {
    case "lock":
      return { name: r.bytes(op.name), lease: r.lease(op.lease) };
    case "unlock":
      return { key: lockKey(state, op.key, r) };
    case "campaign":
      return { name: r.bytes(op.name), lease: r.lease(op.lease), value: r.bytes(op.value) };
    case "proclaim":
      return { leader: leaderKey(state, op.leader), value: r.bytes(op.value) };
    case "resign":
      return { leader: leaderKey(state, op.leader) };
    case "leader":
    case "observe":
      return { name: r.bytes(op.name) };
    case "memberAdd":
      return { peerURLs: peerUrls(state, op.peerUrls), isLearner: op.learner };
    case "memberUpdate":
      return { ID: memberId(state, op.member), peerURLs: peerUrls(state, op.peerUrls) };
    case "memberRemove":
    case "memberPromote":
      return { ID: memberId(state, op.member) };
    case "moveLeader":
      return { targetID: memberId(state, op.member) };
    case "memberList":
    case "hash":
    case "defragment":
    case "snapshot":
      return {};
  }
}

/** A unary method of a generated gRPC client. */
export type UnaryMethod<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

/** A unary call of a generated client, as the runner's Side makes it. */
export type UnaryCaller = <Req, Res>(
  method: UnaryMethod<Req, Res>,
  req: Req,
  deadlineMs?: number,
) => Promise<{ ok: Res } | { error: RpcFailure }>;

type Unary = UnaryMethod<unknown, unknown>;

/**
 * A waiting Lock or Campaign whose deadline passed gives up its place in the queue (deletes its key, a write) after
 * the client has its answer: time for both servers to have done so before the next operation.
 */
export const AFTER_DEADLINE_MS = 300;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A unary call of these services over gRPC: the answer, not normalized yet. */
export async function serviceUnary(
  op: ServiceOp,
  state: ServiceState,
  req: Record<string, unknown>,
  call: UnaryCaller,
): Promise<{ ok: unknown } | { error: RpcFailure }> {
  const bound = (client: object, method: string): Unary =>
    (client as Record<string, Unary>)[method].bind(client);
  switch (op.kind) {
    case "lock":
    case "campaign": {
      const res = await call(
        op.kind === "lock" ? bound(state.lock, "lock") : bound(state.election, "campaign"),
        req,
        op.deadlineMs,
      );
      if ("error" in res) await sleep(AFTER_DEADLINE_MS);
      return res;
    }
    case "unlock":
      return call(bound(state.lock, "unlock"), req);
    case "proclaim":
    case "leader":
    case "resign":
      return call(bound(state.election, op.kind), req);
    case "memberList":
    case "memberAdd":
    case "memberUpdate":
    case "memberRemove":
    case "memberPromote":
      return call(bound(state.cluster, op.kind), req);
    default:
      throw new Error(`${op.kind} is not a unary call of these services`);
  }
}

/** Maintenance calls live on the runner's maintenance client. */
export function maintenanceMethod(op: ServiceOp): string | undefined {
  return op.kind === "hash" || op.kind === "defragment" || op.kind === "moveLeader" ? op.kind : undefined;
}

/**
 * What a side remembers of an answer (gRPC or the gateway's JSON): the lock key, the leader key, the member added.
 * Returns the session lease's key when the server granted one (a Lock or Campaign sent without a lease).
 */
export function remember(op: ServiceOp, state: ServiceState, ok: unknown, json: boolean): Buffer | undefined {
  switch (op.kind) {
    case "lock": {
      const res = json ? LockResponse.fromJSON(ok) : (ok as LockResponse);
      state.locks.push(res.key);
      return res.key;
    }
    case "campaign": {
      const res = json ? CampaignResponse.fromJSON(ok) : (ok as CampaignResponse);
      if (res.leader) state.leaders.push(res.leader);
      return res.leader?.key;
    }
    case "memberAdd": {
      const res = json ? MemberAddResponse.fromJSON(ok) : (ok as MemberAddResponse);
      if (res.member) state.members.added.push(res.member.ID);
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Whether the server grants a session lease for this request: a Lock or Campaign of no lease, a Proclaim or Resign
 * of a leader key of none.
 */
export function grantsSession(op: ServiceOp, req: Record<string, unknown>): boolean {
  if (op.kind === "lock" || op.kind === "campaign") return req.lease === 0n;
  if (op.kind === "proclaim" || op.kind === "resign")
    return (req.leader as LeaderKey | undefined)?.lease === 0n;
  return false;
}

/** Leases a server holds that the side has no name for (granted by the server for a Lock or Campaign). */
export async function unnamedLeases(call: UnaryCaller, lease: object, leases: LeaseNames): Promise<bigint[]> {
  const res = await call(
    (lease as Record<string, Unary>).leaseLeases.bind(lease) as Unary,
    {} as Record<string, never>,
  );
  if (!("ok" in res)) return [];
  const ids = LeaseLeasesResponse.fromPartial(res.ok as object).leases.map((l) => l.ID);
  return ids.filter((id) => !leases.granted.includes(id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * An answer with what must differ taken out. Member ids and the serving member's URLs by name (ids are random, ports
 * differ). Hash: the hash of the whole backend covers the member ids, the cluster id and the raft index stored in
 * it, none of which two servers share, so only its header is compared.
 */
export function serviceAnswer(op: ServiceOp, state: ServiceState, ok: unknown): unknown {
  if (op.kind.startsWith("member")) return state.members.members(ok);
  if (op.kind === "hash" && typeof ok === "object" && ok !== null) {
    const { hash: _dropped, ...rest } = ok as Record<string, unknown>;
    return rest;
  }
  return ok;
}

/** The serving member's id and URLs, from the first MemberList of a run. */
export async function learnSelf(state: ServiceState, call: UnaryCaller): Promise<void> {
  const res = await call(
    (state.cluster as unknown as Record<string, Unary>).memberList.bind(state.cluster) as Unary,
    {},
  );
  if (!("ok" in res)) throw new Error(`MemberList failed: ${res.error.message}`);
  const self = (res.ok as { members: Member[] }).members[0];
  state.members.selfId = self.ID;
  state.members.selfPeerUrl = self.peerURLs[0] ?? "";
  state.members.selfClientUrl = self.clientURLs[0] ?? "";
}

/**
 * Observe for `windowMs`: every answer the stream gave in that time, then the client leaves. The header of an answer
 * from a watch event carries the revision of the event, so the list is the same on two servers in lockstep.
 */
export function observeWindow(
  state: ServiceState,
  req: Record<string, unknown>,
  md: Metadata,
  windowMs: number,
  owes: () => Promise<ObserveOwes>,
): Promise<{ ok: unknown } | { error: RpcFailure }> {
  return new Promise((resolve) => {
    const answers: LeaderResponse[] = [];
    const stream = (
      state.election as unknown as {
        observe(req: unknown, md: Metadata): ClientReadableStream<LeaderResponse>;
      }
    ).observe(req, md);
    let done = false;
    const finish = (out: { ok: unknown } | { error: RpcFailure }) => {
      if (done) return;
      done = true;
      stream.cancel();
      resolve(out);
    };
    void windowOver(
      windowMs,
      () => answers.length,
      () => done,
      owes,
    ).then(() => finish({ ok: { answers, open: true } }));
    stream.on("data", (resp: LeaderResponse) => answers.push(resp));
    stream.on("error", (err: ServiceError) =>
      finish(
        err.code === 1 && done
          ? { ok: { answers } }
          : { ok: { answers, end: { code: err.code, message: err.details } } },
      ),
    );
    stream.on("end", () => finish({ ok: { answers, end: "closed" } }));
  });
}

/**
 * A snapshot's stream: what of it is deterministic. The bytes are each server's backend file (its page layout, its
 * member and cluster ids), so they are not compared; compared are whether the stream ends well, the last chunk's
 * remaining-bytes count, and whether its last 32 bytes are the SHA-256 of the rest (the trailer etcdctl checks).
 */
export function snapshotStream(
  maintenance: object,
  md: Metadata,
  timeoutMs: number,
): Promise<{ ok: unknown } | { error: RpcFailure }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let last: SnapshotResponse | undefined;
    let firstHeader: unknown;
    let headers = 0;
    const stream = (
      maintenance as { snapshot(req: unknown, md: Metadata): ClientReadableStream<SnapshotResponse> }
    ).snapshot({}, md);
    stream.on("data", (resp: SnapshotResponse) => {
      chunks.push(resp.blob);
      if (resp.header) {
        headers++;
        firstHeader ??= resp.header;
      }
      last = resp;
    });
    const timer = setTimeout(() => stream.cancel(), timeoutMs);
    stream.on("error", (err: ServiceError) => {
      clearTimeout(timer);
      resolve({ error: { code: err.code, message: err.details } });
    });
    stream.on("end", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const body = all.subarray(0, Math.max(0, all.length - 32));
      const trailer = all.subarray(body.length);
      const sum = createHash("sha256").update(body).digest();
      resolve({
        ok: {
          nonEmpty: all.length > 32,
          lastRemainingBytes: last?.remainingBytes ?? null,
          checksumMatches: trailer.length === 32 && sum.equals(trailer),
          boltMagic: all.subarray(16, 20).toString("hex"),
          everyChunkHasHeader: headers === chunks.length,
          firstHeader: firstHeader ?? null,
        },
      });
    });
  });
}
