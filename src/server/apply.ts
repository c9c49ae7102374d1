import type { Logger } from "pino";
import {
  type AuthStore,
  applyAuthRequest,
  checkAppliedRequest,
  isAuthRequest,
  passwordToHash,
} from "../auth/index.js";
import type { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import {
  type AlarmMember,
  type AlarmRequest,
  AlarmRequest_AlarmAction,
  AlarmType,
  type ResponseHeader,
} from "../gen/etcdserverpb/rpc.js";
import { ConfChange, ConfChangeType, type Entry, EntryType } from "../gen/raftpb/raft.js";
import { encodeLeaseRecord, type Lessor, leaseKey } from "../lease/lessor.js";
import type { MembershipChange, RaftCluster } from "../membership/cluster.js";
import { formatId } from "../membership/ids.js";
import { decodeEntryData, type EntryRequest, type V2Request } from "../membership/v2-request.js";
import type { KVStore } from "../mvcc/kvstore.js";
import { Errors, isClientVisibleError } from "../rpctypes/errors.js";
import { alarmOfRecordKey, alarmRecordKey } from "./alarm-records.js";
import { membershipError } from "./cluster-ops.js";
import type { KvRequests } from "./kv-requests.js";
import type { ProposedRequests } from "./proposed-requests.js";
import { BackendQuota, requestCost } from "./quota.js";
import type { RaftNode } from "./raft-node.js";
import { decodePutEntry } from "./raft-request.js";
import { type RecordChange, ServerRecords } from "./records.js";

/** The outcome of one applied entry, handed to the proposer waiting on `id`. */
export interface ApplyResult {
  id?: bigint;
  resp?: unknown;
  err?: Error;
  /** Physical compaction finishing, for `compact --physical`. */
  done?: Promise<void>;
}

export interface ApplierDeps {
  store: KVStore;
  lessor: Lessor;
  auth: AuthStore;
  cluster: RaftCluster;
  kv: KvRequests;
  raft: RaftNode;
  log: Logger;
  /** Backend size above which writes fail with NOSPACE. */
  quota: () => number;
  /** Whether applied lease checkpoints are written to the backend (else they live in memory only, as 3.4). */
  persistLeaseCheckpoints: boolean;
  /** Told of every applied membership change (the transport follows the members). */
  onMembershipChange?: (change: MembershipChange) => void;
  /** This member's own proposals, applied without decoding their bytes again. */
  proposed?: ProposedRequests;
}

/** A committed entry ready to apply: its data decoded once, and the hash of a password it carries in clear. */
export interface PreparedEntry {
  entry: Entry;
  /** Undefined for entries without a request, or whose data does not decode (the apply reports that). */
  decoded?: EntryRequest;
  hashed?: Buffer;
}

const zeroHeader = (revision: number): ResponseHeader => ({
  clusterId: 0n,
  memberId: 0n,
  revision,
  raftTerm: 0,
});

/**
 * Applies committed raft entries to the member's state, in log order, each exactly once:
 * an entry at or below the store's consistent index was applied before a restart and is skipped
 * (conf changes still reach raft, which needs every one of them).
 */
export class EntryApplier {
  private readonly alarmList: AlarmMember[] = [];
  private readonly records: ServerRecords;
  private readonly quota: BackendQuota;
  /** The keys a lease holds, for the permission checks of a revoke (one function for every apply). */
  private readonly leaseKeys = (id: bigint): Buffer[] => this.d.lessor.timeToLive(id)?.keys ?? [];

  constructor(private readonly d: ApplierDeps) {
    this.records = new ServerRecords(d.store);
    this.quota = new BackendQuota(d.quota, () => d.store.backend.size());
    this.reloadAlarms();
  }

  /** Reads the raised alarms from the backend (at start, and after a snapshot replaced it). */
  reloadAlarms(): void {
    this.alarmList.splice(0);
    for (const [key] of this.records.list("alarm")) this.alarmList.push(alarmOfRecordKey(key));
  }

  alarms(): AlarmMember[] {
    return [...this.alarmList];
  }

  /**
   * Decodes a batch and hashes, in log order, the clear passwords its UserAdd / UserChangePassword
   * entries carry (etcd 3.4 hashes them when applying, with bcrypt at --bcrypt-cost: tens of
   * milliseconds each, so it runs here, asynchronously, and the batch is applied only once every
   * hash is ready: applies stay FIFO and the apply transaction never waits on bcrypt).
   */
  prepare(entries: Entry[]): PreparedEntry[] | Promise<PreparedEntry[]> {
    // pushed into a literal, not mapped: map() makes an empty batch's array one of another map (small
    // integers), which deoptimized the apply path the first time a run met one
    const prepared: PreparedEntry[] = [];
    for (const entry of entries) prepared.push({ entry, decoded: this.decode(entry) });
    let toHash: PreparedEntry[] | undefined;
    for (const p of prepared) if (this.needsHash(p)) (toHash ??= []).push(p);
    if (toHash === undefined) return prepared;
    return (async () => {
      for (const p of toHash) {
        const password = passwordToHash((p.decoded as { req: InternalRaftRequest }).req) as Buffer;
        p.hashed = await this.d.auth.hasher.hash(password);
      }
      return prepared;
    })();
  }

  private decode(entry: Entry): EntryRequest | undefined {
    if (entry.type !== EntryType.EntryNormal || entry.data.length === 0) return undefined;
    const own = this.d.proposed?.take(entry.data);
    if (own !== undefined) return { kind: "v3", req: own };
    const put = decodePutEntry(entry.data);
    if (put !== undefined) return { kind: "v3", req: put };
    try {
      return decodeEntryData(entry.data);
    } catch {
      return undefined;
    }
  }

  /**
   * Whether an entry's password is hashed ahead: not for an entry applied before a restart, nor for
   * one its proposer may not make (as etcd, which checks admin rights before hashing; should an earlier
   * entry of the batch change that, the apply hashes then).
   */
  private needsHash(p: PreparedEntry): boolean {
    if (p.decoded?.kind !== "v3" || passwordToHash(p.decoded.req) === undefined) return false;
    if (this.d.store.isApplied(p.entry.index)) return false;
    try {
      checkAppliedRequest(this.d.auth, p.decoded.req, () => []);
      return true;
    } catch {
      return false;
    }
  }

  apply(p: PreparedEntry): ApplyResult {
    const { entry } = p;
    switch (entry.type) {
      case EntryType.EntryNormal:
        return this.applyNormal(p);
      case EntryType.EntryConfChange:
        return this.applyConfChange(entry);
      default:
        this.d.log.warn({ index: entry.index, type: entry.type }, "ignoring entry of an unsupported type");
        this.d.store.setConsistentIndex(entry.index);
        return {};
    }
  }

  private applyNormal({ entry, decoded: ahead, hashed }: PreparedEntry): ApplyResult {
    const { store } = this.d;
    if (entry.data.length === 0) {
      // the empty entry a new leader appends
      store.setConsistentIndex(entry.index);
      return {};
    }
    const decoded = ahead ?? decodeEntryData(entry.data);
    // v2 requests (publish, cluster version) are applied again after a restart, as etcd re-applies
    // them: membership is rebuilt from the snapshot and the entries after it
    if (decoded.kind === "v2") return this.applyV2Request(decoded.req, entry.index);
    const req = decoded.req;
    const id = req.header?.ID ?? req.ID;
    if (store.isApplied(entry.index)) return { id };
    try {
      // every result dispatch gives is a fresh object: the id goes in, without a copy of it
      const result: ApplyResult = this.dispatch(req, entry.index, hashed);
      result.id = id;
      return result;
    } catch (err) {
      if (isClientVisibleError(err)) {
        // a request the state machine refuses: nothing changed, the index still counts as applied
        store.setConsistentIndex(entry.index);
        return { id, err: err as unknown as Error };
      }
      throw err;
    }
  }

  /** While NOSPACE is raised, requests that add data are refused (etcd's capped applier). */
  private noSpace(req: InternalRaftRequest): boolean {
    return requestCost(req) > 0 && this.alarmList.some((a) => a.alarm === AlarmType.NOSPACE);
  }

  /** With CORRUPT raised, etcd's corrupt applier refuses every KV and lease request. */
  private corrupt(req: InternalRaftRequest): boolean {
    const kvOrLease =
      req.put !== undefined ||
      req.deleteRange !== undefined ||
      req.txn !== undefined ||
      req.compaction !== undefined ||
      req.leaseGrant !== undefined ||
      req.leaseRevoke !== undefined;
    return kvOrLease && this.alarmList.some((a) => a.alarm === AlarmType.CORRUPT);
  }

  private dispatch(req: InternalRaftRequest, index: number, hashed?: Buffer): Omit<ApplyResult, "id"> {
    const { kv, store, lessor } = this.d;
    if (this.corrupt(req)) throw Errors.Corrupt;
    if (this.noSpace(req)) throw Errors.NoSpace;
    checkAppliedRequest(this.d.auth, req, this.leaseKeys);
    if (isAuthRequest(req)) return this.applyAuth(req, index, hashed);
    // as etcd's quota applier: a write past the quota is applied, and answered "database space exceeded"
    const fits = req.put || req.txn ? this.quota.available(req) : true;
    if (req.put) {
      // the request was decoded from the entry (or is the proposal's own, decoded alike): its buffers are its own
      const resp = kv.applier.put(req.put, index, true);
      return fits ? { resp } : { resp, err: Errors.NoSpace };
    }
    if (req.deleteRange) return { resp: kv.applier.deleteRange(req.deleteRange, index) };
    if (req.txn) {
      const resp = kv.applier.txn(req.txn, index);
      return fits ? { resp } : { resp, err: Errors.NoSpace };
    }
    if (req.compaction) {
      const r = kv.applier.compact(req.compaction, index);
      if (!r) return {};
      const rev = req.compaction.revision;
      this.d.log.info({ "compact-revision": rev }, "scheduled compaction");
      r.done.then(
        () => this.d.log.info({ "compact-revision": rev }, "finished scheduled compaction"),
        (err: unknown) => this.d.log.warn({ err, "compact-revision": rev }, "compaction failed"),
      );
      return { resp: r.response, done: r.done };
    }
    if (req.leaseGrant) {
      const granted = lessor.grant(req.leaseGrant.ID, req.leaseGrant.TTL);
      const rec = encodeLeaseRecord(granted);
      this.writeRecords(index, [["lease", rec.key, rec.value]]);
      return {
        resp: { header: zeroHeader(store.currentRev()), ID: granted.id, TTL: granted.ttl, error: "" },
      };
    }
    if (req.leaseRevoke) {
      const keys = lessor.revoke(req.leaseRevoke.ID);
      const record: RecordChange[] = [["lease", leaseKey(req.leaseRevoke.ID), undefined]];
      // the keys and the lease record go in one transaction (the record alone when no key is left)
      store.write(index, (tx) => {
        for (const k of keys) tx.deleteRange(k, undefined);
        this.records.stage(record);
      });
      return { resp: { header: zeroHeader(store.currentRev()) } };
    }
    if (req.alarm) return { resp: this.applyAlarm(req.alarm, index) };
    if (req.leaseCheckpoint) {
      const changes: RecordChange[] = [];
      for (const cp of req.leaseCheckpoint.checkpoints) {
        const rec = lessor.checkpoint(cp.ID, cp.remainingTTL);
        if (rec && this.d.persistLeaseCheckpoints) {
          const { key, value } = encodeLeaseRecord(rec);
          changes.push(["lease", key, value]);
        }
      }
      if (changes.length > 0) this.writeRecords(index, changes);
      else store.setConsistentIndex(index);
      return { resp: { header: zeroHeader(store.currentRev()) } };
    }
    this.d.log.warn({ index }, "ignoring a request this member does not know");
    store.setConsistentIndex(index);
    return {};
  }

  /** Auth requests change only the auth records (or nothing: gets and lists go through raft too). */
  private applyAuth(req: InternalRaftRequest, index: number, hashed?: Buffer): Omit<ApplyResult, "id"> {
    const applied = applyAuthRequest(this.d.auth, req, index, hashed);
    if (applied.changes.length > 0) this.writeRecords(index, applied.changes);
    else this.d.store.setConsistentIndex(index);
    return { resp: { ...applied.resp, header: zeroHeader(this.d.store.currentRev()) } };
  }

  private applyAlarm(a: AlarmRequest, index: number) {
    const key = alarmRecordKey(a.memberID, a.alarm);
    const at = this.alarmList.findIndex((x) => x.memberID === a.memberID && x.alarm === a.alarm);
    const changed: AlarmMember[] = [];
    if (a.action === AlarmRequest_AlarmAction.ACTIVATE && a.alarm !== AlarmType.NONE) {
      if (at < 0) {
        this.alarmList.push({ memberID: a.memberID, alarm: a.alarm });
        this.d.log.warn({ "member-id": formatId(a.memberID), alarm: AlarmType[a.alarm] }, "alarm raised");
      }
      changed.push({ memberID: a.memberID, alarm: a.alarm });
      this.writeRecords(index, [["alarm", key, Buffer.alloc(0)]]);
    } else if (a.action === AlarmRequest_AlarmAction.DEACTIVATE) {
      if (at >= 0) {
        const [removed] = this.alarmList.splice(at, 1);
        changed.push(removed);
        this.d.log.info({ "member-id": formatId(a.memberID), alarm: AlarmType[a.alarm] }, "alarm cleared");
        this.writeRecords(index, [["alarm", key, undefined]]);
      } else {
        // as etcd: clearing an alarm that is not raised writes nothing (member 0 with alarm NONE
        // would even be an empty record key, which the backend cannot hold)
        this.d.store.setConsistentIndex(index);
      }
    } else {
      // GET lists the alarms of the type asked for (every type for NONE), whichever member raised them
      if (a.action === AlarmRequest_AlarmAction.GET) {
        changed.push(...this.alarmList.filter((x) => a.alarm === AlarmType.NONE || x.alarm === a.alarm));
      }
      this.d.store.setConsistentIndex(index);
    }
    return { header: zeroHeader(this.d.store.currentRev()), alarms: changed };
  }

  /** A v2 request: member attributes (publish), the cluster version, or a plain v2 store write. */
  private applyV2Request(req: V2Request, index: number): ApplyResult {
    const r = this.d.cluster.applyV2(req);
    if (r.kind === "attributes" && r.id !== undefined) {
      const m = this.d.cluster.member(r.id);
      if (m)
        this.d.log.info(
          { "member-id": formatId(m.id), name: m.name, "client-urls": m.clientUrls },
          "member published its attributes",
        );
    }
    if (r.kind === "version") this.d.log.info({ "cluster-version": r.version }, "set the cluster version");
    if (!this.d.store.isApplied(index)) {
      if (r.records.length > 0) this.writeRecords(index, r.records);
      else this.d.store.setConsistentIndex(index);
    }
    return { id: req.ID, resp: {} };
  }

  /**
   * A membership change: every member reaches the same verdict on the same log, and an invalid change
   * is applied to raft as a no-op (node 0) so that raft's configuration stays equal everywhere.
   */
  private applyConfChange(entry: Entry): ApplyResult {
    const cc = ConfChange.decode(entry.data);
    const { cluster, raft, store, log } = this.d;
    const applied = store.isApplied(entry.index);
    const verdict = cluster.validateConfChange(cc);
    if (verdict !== undefined) {
      raft.confState = raft.node.applyConfChange({ ...cc, nodeId: 0n });
      if (!applied) store.setConsistentIndex(entry.index);
      log.warn(
        { "node-id": formatId(cc.nodeId), type: ConfChangeType[cc.type], verdict },
        "refused a membership change",
      );
      return { id: cc.id, err: membershipError(verdict) ?? new Error(verdict) };
    }
    raft.confState = raft.node.applyConfChange(cc);
    const change = cluster.applyConfChange(cc);
    if (!applied) {
      if (change.records.length > 0) this.writeRecords(entry.index, change.records);
      else store.setConsistentIndex(entry.index);
    }
    log.info(
      { change: change.kind, "member-id": formatId(change.id), "peer-urls": change.member?.peerUrls },
      "applied a membership change",
    );
    this.d.onMembershipChange?.(change);
    return { id: cc.id };
  }

  /** Server records (leases, members, alarms) committed with the entry's consistent index. */
  private writeRecords(index: number, changes: RecordChange[]): void {
    this.records.write(index, changes);
  }
}
