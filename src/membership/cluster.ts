// The cluster as etcd 3.4 keeps it: the members it knows in memory (etcd's RaftCluster) and the v2
// store tree that is authoritative for validation and snapshots (§8). Every member applies the same
// entries to the same result here, so rxetcd and etcd members agree on ids, verdicts and bytes.
import type { Member as MemberPb } from "../gen/etcdserverpb/rpc.js";
import { type ConfChange, ConfChangeType } from "../gen/raftpb/raft.js";
import { downgradeProblem } from "./cluster-version.js";
import { clusterId, formatId, memberId, parseIdLikeGo } from "./ids.js";
import {
  decodeAttributesJson,
  decodeMemberJson,
  decodeRaftAttributesJson,
  encodeAttributesJson,
  encodeMemberJson,
  encodeRaftAttributesJson,
  type MemberJson,
  MemberJsonError,
} from "./member-json.js";
import { formatSemVer, parseSemVer, SemVerError } from "./semver.js";
import { type ResolveOptions, resolveDeadline, urlStringsEqual } from "./url-equality.js";
import type { V2Request } from "./v2-request.js";
import { cleanPath, PERMANENT, type TtlOptions, type V2Node, V2Store, V2StoreError } from "./v2-store.js";

export {
  bootstrapContext,
  memberAddContext,
  memberPromoteContext,
  memberUpdateContext,
} from "./conf-change-context.js";
export { newMemberId } from "./ids.js";
export type { MemberJson } from "./member-json.js";

/** One member of the cluster: its raft attributes (peer URLs, learner) and its published attributes. */
export interface Member {
  readonly id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** A write to the backend's membership buckets, as etcd 3.4's membership/store.go makes it (undefined value = delete). */
export type RecordChange = readonly [bucket: string, key: Buffer, value: Buffer | undefined];

/** What an applied conf change did, for the transport (peers to add, update, remove) and the backend. */
export interface MembershipChange {
  kind: "add" | "promote" | "remove" | "update";
  id: bigint;
  /** The member after the change (before it, for a removal; absent if it was unknown). */
  member?: Member;
  records: RecordChange[];
}

/** What an applied v2 request did. */
export interface V2ApplyResult {
  kind: "attributes" | "version" | "other";
  /** attributes: the member the publish was for. */
  id?: bigint;
  /** attributes: the member after the update (absent when it was skipped for a removed member). */
  member?: Member;
  /** version: the cluster version now set. */
  version?: string;
  /** other: the v2 store's answer when the operation failed (the state is unchanged, as in etcd). */
  error?: V2StoreError;
  records: RecordChange[];
}

/**
 * A state etcd 3.4 answers with a panic or an exit: applying this entry cannot go on, and the member
 * must stop (its data is inconsistent with the log, or the cluster needs a newer server).
 */
export class MembershipFatalError extends Error {}

/** Validation verdicts of ValidateConfigurationChange (etcd's error texts). */
export const ErrIDRemoved = "membership: ID removed";
export const ErrIDExists = "membership: ID exists";
export const ErrIDNotFound = "membership: ID not found";
export const ErrPeerURLExists = "membership: peerURL exists";
export const ErrMemberNotLearner = "membership: can only promote a learner member";
export const ErrTooManyLearners = "membership: too many learner members in cluster";

/** At most this many learners at a time (etcd 3.4's maxLearners). */
export const MAX_LEARNERS = 1;

const MEMBERS_BUCKET = "members";
const REMOVED_BUCKET = "members_removed";
const CLUSTER_BUCKET = "cluster";
const MEMBERS_PREFIX = "/0/members";
const REMOVED_PREFIX = "/0/removed_members";
const VERSION_KEY = "/0/version";
/** etcd's storeMemberAttributeRegexp, unanchored as etcd uses it. */
const ATTRIBUTES_PATH = /\/0\/members\/[0-9A-Fa-f]{1,16}\/attributes/;

/** A member as etcd holds it: peer URLs keep Go's nil (`null`) apart from an empty list. */
interface MemberRecord {
  id: bigint;
  peerURLs: string[] | null;
  isLearner: boolean;
  name: string;
  clientURLs: string[] | null;
}

const byId = (a: { id: bigint }, b: { id: bigint }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function view(r: MemberRecord): Member {
  return {
    id: r.id,
    name: r.name,
    peerUrls: [...(r.peerURLs ?? [])],
    clientUrls: [...(r.clientURLs ?? [])],
    isLearner: r.isLearner,
  };
}

function recordJson(r: MemberRecord): MemberJson {
  return {
    id: r.id,
    peerURLs: r.peerURLs,
    isLearner: r.isLearner,
    name: r.name,
    ...(r.clientURLs ? { clientURLs: r.clientURLs } : {}),
  };
}

const memberKey = (id: bigint) => `${MEMBERS_PREFIX}/${formatId(id)}`;
const utf8 = (s: string) => Buffer.from(s, "utf8");

function memberRecordChange(r: MemberRecord): RecordChange {
  return [MEMBERS_BUCKET, utf8(formatId(r.id)), utf8(encodeMemberJson(recordJson(r)))];
}

/** Go's %v of a string slice: `[a b]`. */
const goList = (l: readonly string[] | null) => `[${(l ?? []).join(" ")}]`;
/** Go's %q of a string slice: `["a" "b"]`. */

/** Go's %+v of a *Member (etcd's RaftCluster.String). */
function goMemberPlusV(m: MemberRecord): string {
  return `&{ID:${formatId(m.id)} RaftAttributes:{PeerURLs:${goList(m.peerURLs)} IsLearner:${m.isLearner}} Attributes:{Name:${m.name} ClientURLs:${goList(m.clientURLs)}}}`;
}

/** Go's %v of a *Member. */
function goMemberV(m: MemberRecord): string {
  return `&{${formatId(m.id)} {${goList(m.peerURLs)} ${m.isLearner}} {${m.name} ${goList(m.clientURLs)}}}`;
}

function fatal(what: string, err: unknown): MembershipFatalError {
  return new MembershipFatalError(`${what}: ${err instanceof Error ? err.message : String(err)}`);
}

/** A v2 store write membership makes that etcd declares impossible ("should never fail"). */
function must<T>(what: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    throw fatal(what, err);
  }
}

/** A conf change context; etcd panics on one it cannot read, so this member must stop too. */
function parseContext(cc: ConfChange): MemberJson {
  try {
    return decodeMemberJson(Buffer.from(cc.context ?? []).toString("utf8"), "conf change context");
  } catch (err) {
    if (err instanceof MemberJsonError)
      throw fatal(`failed to unmarshal conf change context of ${formatId(cc.nodeId)}`, err);
    throw err;
  }
}

/** The member id at the end of a store path (etcd's MustParseMemberIDFromKey). */
function idFromKey(key: string): bigint {
  const base = cleanPath(key).split("/").pop() ?? "";
  const id = parseIdLikeGo(base);
  if (id === undefined)
    throw new MembershipFatalError(`unexpected parse member id error: ${JSON.stringify(base)} in ${key}`);
  return id;
}

/** The members etcd's validation sees: those of the v2 store, not the in-memory ones (membersFromStore). */
function membersFromStore(store: V2Store): { members: Map<bigint, MemberRecord>; removed: Set<bigint> } {
  const members = new Map<bigint, MemberRecord>();
  const removed = new Set<bigint>();
  const dir = must("failed to get members from store", () => store.find(MEMBERS_PREFIX));
  if (!dir) return { members, removed };
  for (const n of must("failed to get members from store", () => store.list(dir))) {
    const m = nodeToMember(store, n);
    members.set(m.id, m);
  }
  const removedDir = must("failed to get removed members from store", () => store.find(REMOVED_PREFIX));
  for (const n of removedDir ? store.list(removedDir) : []) removed.add(idFromKey(n.path));
  return { members, removed };
}

function nodeToMember(store: V2Store, n: V2Node): MemberRecord {
  const id = idFromKey(n.path);
  const raftKey = cleanPath(`${n.path}/raftAttributes`);
  const attrKey = cleanPath(`${n.path}/attributes`);
  let raft: string | undefined;
  let attrs: string | undefined;
  for (const child of store.list(n)) {
    if (child.path !== raftKey && child.path !== attrKey)
      throw new MembershipFatalError(
        `nodeToMember should never fail: unknown key ${JSON.stringify(child.path)}`,
      );
    if (child.children)
      throw new MembershipFatalError(`nodeToMember should never fail: ${child.path} is a directory`);
    if (child.path === raftKey) raft = child.value;
    else attrs = child.value;
  }
  if (raft === undefined)
    throw new MembershipFatalError(
      `nodeToMember should never fail: raftAttributes key doesn't exist under ${n.path}`,
    );
  try {
    const ra = decodeRaftAttributesJson(raft, raftKey);
    const a = attrs === undefined ? {} : decodeAttributesJson(attrs, attrKey);
    return {
      id,
      peerURLs: ra.peerURLs,
      isLearner: ra.isLearner === true,
      name: a.name ?? "",
      clientURLs: a.clientURLs ?? null,
    };
  } catch (err) {
    throw fatal("nodeToMember should never fail", err);
  }
}

/** A cluster version as etcd sets it: parsed, normalised, and not above this server's major.minor. */
function checkedVersion(text: string): string {
  let v: ReturnType<typeof parseSemVer>;
  try {
    v = parseSemVer(text);
  } catch (err) {
    if (err instanceof SemVerError) throw fatal(`invalid cluster version ${JSON.stringify(text)}`, err);
    throw err;
  }
  const problem = downgradeProblem(v);
  if (problem) throw new MembershipFatalError(problem);
  return formatSemVer(v);
}

/** etcd's Recover: members, removed ids and version from a v2 store. */
function recoveredState(store: V2Store): {
  members: Map<bigint, MemberRecord>;
  removed: Set<bigint>;
  version: string | undefined;
} {
  const { members, removed } = membersFromStore(store);
  const versionNode = must("failed to get cluster version from store", () => store.find(VERSION_KEY));
  if (versionNode?.children) throw new MembershipFatalError(`${VERSION_KEY} is a directory in the v2 store`);
  return { members, removed, version: versionNode ? checkedVersion(versionNode.value) : undefined };
}

/**
 * The cluster as this member knows it: id, members and their attributes, removed ids, the cluster
 * version. Changes arrive through applied raft entries only, so every member holds the same view at
 * the same applied index.
 */
export class RaftCluster {
  private members = new Map<bigint, MemberRecord>();
  private removed = new Set<bigint>();
  private clusterVersion: string | undefined;

  constructor(
    public id: bigint,
    readonly localId: bigint,
    private store: V2Store = V2Store.fresh(),
  ) {}

  /** The members of a brand-new cluster, ids derived as etcd derives them (§5), checked as etcd checks them. */
  static fromInitialCluster(
    name: string,
    initial: ReadonlyMap<string, readonly string[]>,
    token: string,
  ): RaftCluster {
    if (!initial.has(name))
      throw new Error(
        `couldn't find local name ${JSON.stringify(name)} in the initial cluster configuration`,
      );
    const members = new Map<bigint, MemberRecord>();
    let localId = 0n;
    for (const [n, urls] of initial) {
      const m: MemberRecord = {
        id: memberId(urls, token),
        peerURLs: [...urls].sort(),
        isLearner: false,
        name: n,
        clientURLs: null,
      };
      if (members.has(m.id)) throw new Error(`member exists with identical ID ${goMemberV(m)}`);
      if (m.id === 0n) throw new Error("cannot use 0 as member id");
      members.set(m.id, m);
      if (n === name) localId = m.id;
    }
    const cluster = new RaftCluster(clusterId([...members.keys()]), localId);
    cluster.members = members;
    return cluster;
  }

  /**
   * A member joining an existing cluster (§6.2): the local view from --initial-cluster must match the
   * members a peer's /members answered (same count, every remote member's peer URLs found locally);
   * then the remote ids and cluster id are adopted. Throws etcd's error texts.
   */
  static async forJoin(
    name: string,
    initial: ReadonlyMap<string, readonly string[]>,
    token: string,
    remote: { clusterId: bigint; members: MemberJson[] },
    resolve: Omit<ResolveOptions, "deadlineAt"> = {},
  ): Promise<RaftCluster> {
    const local = RaftCluster.fromInitialCluster(name, initial, token);
    const existing: MemberRecord[] = remote.members
      .map((m) => ({
        id: m.id,
        peerURLs: m.peerURLs,
        isLearner: m.isLearner === true,
        name: m.name ?? "",
        clientURLs: m.clientURLs ?? null,
      }))
      .sort(byId);
    const localMembers = [...local.members.values()].sort(byId);
    const problem = (why: string) =>
      new Error(
        `error validating peerURLs {ClusterID:${formatId(remote.clusterId)} Members:[${existing.map(goMemberPlusV).join(" ")}] RemovedMemberIDs:[]}: ${why}`,
      );
    if (existing.length !== localMembers.length) throw problem("member count is unequal");
    // host names are resolved as etcd resolves them, within one deadline for the whole check
    const options: ResolveOptions = { ...resolve, deadlineAt: resolveDeadline() };
    for (const e of existing) {
      let why: string | undefined;
      let match: MemberRecord | undefined;
      for (const l of localMembers) {
        const r = await urlStringsEqual(e.peerURLs ?? [], l.peerURLs ?? [], options);
        if (r.equal) {
          match = l;
          break;
        }
        why = r.why;
      }
      if (!match)
        throw problem(
          `PeerURLs: no match found for existing member (${formatId(e.id)}, ${goList(e.peerURLs)}), last resolver error (${why ?? "<nil>"})`,
        );
      match.id = e.id;
    }
    const self = localMembers.find((m) => m.name === name);
    const cluster = new RaftCluster(remote.clusterId, self?.id ?? 0n);
    for (const m of localMembers) cluster.members.set(m.id, m);
    return cluster;
  }

  /**
   * A cluster rebuilt from a raft snapshot's Data (the v2 store JSON written by rxetcd or etcd 3.4).
   * Throws V2StoreFormatError or MembershipFatalError on data etcd could not recover from either.
   */
  static fromSnapshotData(localId: bigint, clusterId: bigint, data: Uint8Array): RaftCluster {
    const cluster = new RaftCluster(clusterId, localId);
    cluster.restore(data);
    return cluster;
  }

  /** Replaces the whole state with a received snapshot's Data (etcd's applySnapshot: store, then Recover). */
  restore(data: Uint8Array): void {
    const store = V2Store.fromJson(Buffer.from(data).toString("utf8"));
    const state = recoveredState(store);
    this.store = store;
    this.members = state.members;
    this.removed = state.removed;
    this.clusterVersion = state.version;
  }

  /** The raft snapshot Data: the v2 store as JSON (§8.2). */
  toSnapshotData(): Buffer {
    return Buffer.from(this.store.toJson(), "utf8");
  }

  /** One ConfChange{ID 0, AddNode, NodeID, Context} per member of a new cluster, ascending id (§6.1). */
  bootstrapConfChanges(): Array<{ id: bigint; context: Buffer }> {
    return [...this.members.values()].sort(byId).map((m) => ({
      id: m.id,
      context: Buffer.from(encodeMemberJson(recordJson(m)), "utf8"),
    }));
  }

  /** etcd's isMemberBootstrapped: a peer's /members lists this member with client URLs (it published). */
  alreadyBootstrappedIn(remoteMembers: readonly MemberJson[]): string | undefined {
    const m = remoteMembers.find((r) => r.id === this.localId);
    return m?.clientURLs && m.clientURLs.length > 0
      ? `member ${formatId(this.localId)} has already been bootstrapped`
      : undefined;
  }

  /** Peer URLs of every member but the named one, sorted (where a new member asks for /members). */
  remotePeerUrls(localName: string): string[] {
    return [...this.members.values()]
      .filter((m) => m.name !== localName)
      .flatMap((m) => m.peerURLs ?? [])
      .sort();
  }

  member(id: bigint): Member | undefined {
    const m = this.members.get(id);
    return m ? view(m) : undefined;
  }

  /** Whether `id` is a learner (false for no member): without the copy member() makes, for every request. */
  isLearner(id: bigint): boolean {
    return this.members.get(id)?.isLearner === true;
  }

  list(): Member[] {
    return [...this.members.values()].sort(byId).map(view);
  }

  voterIds(): bigint[] {
    return this.list()
      .filter((m) => !m.isLearner)
      .map((m) => m.id);
  }

  learnerIds(): bigint[] {
    return this.list()
      .filter((m) => m.isLearner)
      .map((m) => m.id);
  }

  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  removedIds(): bigint[] {
    return [...this.removed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** The cluster version ("3.4.0") once set; undefined while not decided. */
  version(): string | undefined {
    return this.clusterVersion;
  }

  /** Whether the v2 store has keys with a TTL (then the leader proposes SYNC every 500 ms). */
  hasTtlKeys(): boolean {
    return this.store.hasTtlKeys();
  }

  toProto(): MemberPb[] {
    return this.list().map((m) => ({
      ID: m.id,
      name: m.name,
      peerURLs: m.peerUrls,
      clientURLs: m.clientUrls,
      isLearner: m.isLearner,
    }));
  }

  /**
   * etcd's ValidateConfigurationChange: undefined when the change is valid, else the error text.
   * An invalid change is applied to raft with NodeID 0 (a no-op) by the caller; every member reaches
   * the same verdict. Throws MembershipFatalError where etcd panics (unreadable context, unknown type).
   */
  validateConfChange(cc: ConfChange): string | undefined {
    const { members, removed } = membersFromStore(this.store);
    const id = cc.nodeId;
    if (removed.has(id)) return ErrIDRemoved;
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode: {
        const ctx = parseContext(cc);
        const existing = members.get(id);
        if (ctx.isPromote) {
          if (!existing) return ErrIDNotFound;
          if (!existing.isLearner) return ErrMemberNotLearner;
          return undefined;
        }
        if (existing) return ErrIDExists;
        const used = new Set([...members.values()].flatMap((m) => m.peerURLs ?? []));
        if ((ctx.peerURLs ?? []).some((u) => used.has(u))) return ErrPeerURLExists;
        if (ctx.isLearner) {
          const learners = [...members.values()].filter((m) => m.isLearner).length;
          if (learners + 1 > MAX_LEARNERS) return ErrTooManyLearners;
        }
        return undefined;
      }
      case ConfChangeType.ConfChangeRemoveNode:
        return members.has(id) ? undefined : ErrIDNotFound;
      case ConfChangeType.ConfChangeUpdateNode: {
        if (!members.has(id)) return ErrIDNotFound;
        const used = new Set(
          [...members.values()].filter((m) => m.id !== id).flatMap((m) => m.peerURLs ?? []),
        );
        const ctx = parseContext(cc);
        return (ctx.peerURLs ?? []).some((u) => used.has(u)) ? ErrPeerURLExists : undefined;
      }
      default:
        throw new MembershipFatalError(`unknown ConfChange type ${cc.type}`);
    }
  }

  /**
   * Applies a conf change that validateConfChange found valid (§7.5): the member is added, promoted,
   * removed or has its raft attributes replaced (an update also clears isLearner, as in etcd 3.4).
   */
  applyConfChange(cc: ConfChange): MembershipChange {
    const verdict = this.validateConfChange(cc);
    if (verdict !== undefined)
      throw new Error(
        `conf change for ${formatId(cc.nodeId)} is invalid (${verdict}): apply it to raft with NodeID 0`,
      );
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode: {
        const ctx = parseContext(cc);
        if (ctx.id !== cc.nodeId)
          throw new MembershipFatalError(
            `got different member ID: ${formatId(cc.nodeId)} in the conf change, ${formatId(ctx.id)} in its context`,
          );
        return ctx.isPromote ? this.promoteMember(ctx.id) : this.addMember(ctx);
      }
      case ConfChangeType.ConfChangeRemoveNode:
        return this.removeMember(cc.nodeId);
      case ConfChangeType.ConfChangeUpdateNode: {
        const ctx = parseContext(cc);
        if (ctx.id !== cc.nodeId)
          throw new MembershipFatalError(
            `got different member ID: ${formatId(cc.nodeId)} in the conf change, ${formatId(ctx.id)} in its context`,
          );
        return this.updateRaftAttributes(ctx.id, ctx.peerURLs, ctx.isLearner === true);
      }
      default:
        throw new MembershipFatalError(`unknown ConfChange type ${cc.type}`);
    }
  }

  private raftAttributesValue(m: MemberRecord): string {
    return encodeRaftAttributesJson({ peerURLs: m.peerURLs, isLearner: m.isLearner });
  }

  private addMember(ctx: MemberJson): MembershipChange {
    const m: MemberRecord = {
      id: ctx.id,
      peerURLs: ctx.peerURLs,
      isLearner: ctx.isLearner === true,
      name: ctx.name ?? "",
      clientURLs: ctx.clientURLs ?? null,
    };
    must("create raftAttributes should never fail", () =>
      this.store.create(`${memberKey(m.id)}/raftAttributes`, false, this.raftAttributesValue(m), false),
    );
    this.members.set(m.id, m);
    return { kind: "add", id: m.id, member: view(m), records: [memberRecordChange(m)] };
  }

  private known(id: bigint): MemberRecord {
    const m = this.members.get(id);
    if (!m)
      throw new MembershipFatalError(`member ${formatId(id)} is in the v2 store but not in the cluster`);
    return m;
  }

  private promoteMember(id: bigint): MembershipChange {
    const m = this.known(id);
    m.isLearner = false;
    must("update raftAttributes should never fail", () =>
      this.store.update(`${memberKey(id)}/raftAttributes`, this.raftAttributesValue(m)),
    );
    return { kind: "promote", id, member: view(m), records: [memberRecordChange(m)] };
  }

  private updateRaftAttributes(id: bigint, peerURLs: string[] | null, isLearner: boolean): MembershipChange {
    const m = this.known(id);
    m.peerURLs = peerURLs;
    m.isLearner = isLearner;
    must("update raftAttributes should never fail", () =>
      this.store.update(`${memberKey(id)}/raftAttributes`, this.raftAttributesValue(m)),
    );
    return { kind: "update", id, member: view(m), records: [memberRecordChange(m)] };
  }

  private removeMember(id: bigint): MembershipChange {
    must("delete member should never fail", () => this.store.delete(memberKey(id), true, true));
    must("create removedMember should never fail", () =>
      this.store.create(`${REMOVED_PREFIX}/${formatId(id)}`, false, "", false),
    );
    const m = this.members.get(id);
    this.members.delete(id);
    this.removed.add(id);
    const key = utf8(formatId(id));
    return {
      kind: "remove",
      id,
      ...(m ? { member: view(m) } : {}),
      records: [
        [MEMBERS_BUCKET, key, undefined],
        [REMOVED_BUCKET, key, utf8("removed")],
      ],
    };
  }

  /**
   * Applies a v2 request as etcd's applierV2store does (§7.3): an unconditional PUT of a member's
   * attributes or of /0/version updates the cluster; everything else is an operation on the v2 store.
   * Throws MembershipFatalError where etcd panics or exits (attributes of an unknown member, a
   * cluster version above 3.4, unreadable values).
   */
  applyV2(req: V2Request): V2ApplyResult {
    const ttl: TtlOptions = {
      expireTime: req.Expiration !== 0n ? req.Expiration : PERMANENT.expireTime,
      refresh: req.Refresh === true,
    };
    const other = (op: () => unknown): V2ApplyResult => {
      try {
        op();
        return { kind: "other", records: [] };
      } catch (err) {
        if (err instanceof V2StoreError) return { kind: "other", error: err, records: [] };
        throw err;
      }
    };
    const s = this.store;
    const conditional = req.PrevIndex > 0n || req.PrevValue !== "";
    switch (req.Method) {
      case "POST":
        return other(() => s.create(req.Path, req.Dir, req.Val, true, ttl));
      case "PUT":
        if (req.PrevExist !== undefined) {
          if (!req.PrevExist) return other(() => s.create(req.Path, req.Dir, req.Val, false, ttl));
          if (!conditional) return other(() => s.update(req.Path, req.Val, ttl));
          return other(() => s.compareAndSwap(req.Path, req.PrevValue, req.PrevIndex, req.Val, ttl));
        }
        if (conditional)
          return other(() => s.compareAndSwap(req.Path, req.PrevValue, req.PrevIndex, req.Val, ttl));
        if (ATTRIBUTES_PATH.test(req.Path)) return this.updateAttributes(req);
        if (req.Path === VERSION_KEY) return this.setVersion(req.Val);
        return other(() => s.set(req.Path, req.Dir, req.Val, ttl));
      case "DELETE":
        if (conditional) return other(() => s.compareAndDelete(req.Path, req.PrevValue, req.PrevIndex));
        return other(() => s.delete(req.Path, req.Dir, req.Recursive));
      case "QGET":
        return other(() => s.get(req.Path));
      case "SYNC":
        return other(() => s.deleteExpiredKeys(req.Time));
      default:
        return { kind: "other", records: [] };
    }
  }

  private updateAttributes(req: V2Request): V2ApplyResult {
    // Go's path.Dir: everything up to the last slash (then the id is its last element)
    const id = idFromKey(req.Path.slice(0, req.Path.lastIndexOf("/") + 1));
    let attrs: ReturnType<typeof decodeAttributesJson>;
    try {
      attrs = decodeAttributesJson(req.Val, `attributes of ${formatId(id)}`);
    } catch (err) {
      throw fatal(`failed to unmarshal ${JSON.stringify(req.Val)}`, err);
    }
    const m = this.members.get(id);
    if (!m) {
      if (this.removed.has(id)) return { kind: "attributes", id, records: [] };
      throw new MembershipFatalError(`failed to update attributes; member ${formatId(id)} is unknown`);
    }
    m.name = attrs.name ?? "";
    m.clientURLs = attrs.clientURLs ?? null;
    must("update attributes should never fail", () =>
      this.store.set(
        `${memberKey(id)}/attributes`,
        false,
        encodeAttributesJson({ name: m.name, clientURLs: m.clientURLs }),
      ),
    );
    return { kind: "attributes", id, member: view(m), records: [memberRecordChange(m)] };
  }

  private setVersion(text: string): V2ApplyResult {
    const version = checkedVersion(text);
    this.clusterVersion = version;
    must("save cluster version should never fail", () => this.store.set(VERSION_KEY, false, version));
    return { kind: "version", version, records: [[CLUSTER_BUCKET, utf8("clusterVersion"), utf8(version)]] };
  }

  // ---- kept for the server code that predates the v2 store; they change memory only ----

  /** @deprecated apply the conf change with applyConfChange instead. */
  add(m: Member): void {
    this.members.set(m.id, {
      id: m.id,
      peerURLs: [...m.peerUrls],
      isLearner: m.isLearner,
      name: m.name,
      clientURLs: m.clientUrls.length > 0 ? [...m.clientUrls] : null,
    });
  }

  /** @deprecated apply the conf change with applyConfChange instead. */
  remove(id: bigint): void {
    this.members.delete(id);
    this.removed.add(id);
  }

  /** @deprecated apply the conf change with applyConfChange instead. */
  markRemoved(id: bigint): void {
    this.removed.add(id);
  }

  /** @deprecated apply the publish request with applyV2 instead. */
  setAttributes(id: bigint, name: string, clientUrls: string[]): void {
    const m = this.members.get(id);
    if (m) {
      m.name = name;
      m.clientURLs = clientUrls.length > 0 ? [...clientUrls] : null;
    }
  }
}

/** A member as etcd's `members` bucket holds it (etcd's Member JSON). */
export function encodeMember(m: Member): Buffer {
  return Buffer.from(
    encodeMemberJson({
      id: m.id,
      peerURLs: m.peerUrls,
      isLearner: m.isLearner,
      name: m.name,
      clientURLs: m.clientUrls,
    }),
    "utf8",
  );
}

/** A `members` bucket value or a conf change context (etcd's Member JSON). */
export function decodeMember(bytes: Uint8Array): Member {
  const j = decodeMemberJson(Buffer.from(bytes).toString("utf8"));
  return {
    id: j.id,
    name: j.name ?? "",
    peerUrls: j.peerURLs ?? [],
    clientUrls: j.clientURLs ?? [],
    isLearner: j.isLearner === true,
  };
}
