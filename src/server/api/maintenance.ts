import type { AuthInfo, RequestContext } from "../../auth/context.js";
import { unmappedAuthError } from "../../auth/errors.js";
import { ETCD_VERSION } from "../../config/defaults.js";
import {
  type AlarmRequest,
  type AlarmResponse,
  AlarmType,
  type HashKVRequest,
  type HashKVResponse,
  type HashResponse,
  type MoveLeaderRequest,
  type MoveLeaderResponse,
  type StatusResponse,
} from "../../gen/etcdserverpb/rpc.js";
import { Errors, EtcdError, GrpcCode } from "../../rpctypes/errors.js";
import type { ApplyResult } from "../apply.js";
import type { BackendSnapshot } from "../client-api.js";
import type { ServerCore } from "../server-core.js";
import { proposer, withAuthInfo } from "./authorize.js";
import { untilDeadline } from "./client-deadline.js";

/**
 * Maintenance: status, alarms, hashes, defragmentation, leader transfer, snapshots and health.
 * Hashes, defragmentation and snapshots are root's only (etcd 3.4's authMaintenanceServer).
 */
export class MaintenanceApi {
  constructor(private readonly core: ServerCore) {}

  private async admin(ctx: RequestContext | undefined): Promise<void> {
    try {
      await withAuthInfo(this.core, ctx, async (ai) => this.core.auth.checkAdmin(ai));
    } catch (err) {
      throw unmappedAuthError(err);
    }
  }

  async status(): Promise<StatusResponse> {
    const { core } = this;
    const st = core.raft.node.basicStatus();
    return {
      header: core.header(),
      version: ETCD_VERSION,
      dbSize: core.store.backend.size(),
      leader: st.softState.lead,
      raftIndex: st.hardState.commit,
      raftTerm: st.hardState.term,
      raftAppliedIndex: core.appliedIndex.index,
      // etcd lists "no leader" first, then the alarms
      errors: [
        ...(st.softState.lead === 0n ? [Errors.NoLeader.grpcMessage] : []),
        ...core.alarms().map((a) => `memberID:${a.memberID} alarm:${AlarmType[a.alarm]} `),
      ],
      dbSizeInUse: core.store.backend.sizeInUse(),
      isLearner: core.cluster.member(core.memberId)?.isLearner ?? false,
    };
  }

  /**
   * Every alarm action, GET included, is a raft entry (etcd 3.4); answered without a response header.
   * etcd 3.4's Alarm passes a bad token's error on unmapped (code Unknown, "auth: invalid auth token").
   */
  async alarm(req: AlarmRequest, ctx?: RequestContext): Promise<AlarmResponse> {
    let ai: AuthInfo | undefined;
    try {
      ai = await this.core.auth.authInfo(ctx);
    } catch (err) {
      throw unmappedAuthError(err);
    }
    let r: ApplyResult;
    try {
      r = await this.core.propose({ alarm: req, ...proposer(ai) }, ctx?.deadline);
    } catch (err) {
      // etcd's Alarm hands the server's errors to grpc-go unmapped: code Unknown, the same text
      const unmapped = unmappedAuthError(err);
      throw unmapped instanceof EtcdError && unmapped.code !== GrpcCode.Unknown
        ? new EtcdError(GrpcCode.Unknown, unmapped.message)
        : unmapped;
    }
    return { ...(r.resp as AlarmResponse), header: undefined };
  }

  async hash(ctx?: RequestContext): Promise<HashResponse> {
    await this.admin(ctx);
    return { header: this.core.header(), hash: this.core.store.hashKV(0).hash };
  }

  async hashKV(req: HashKVRequest, ctx?: RequestContext): Promise<HashKVResponse> {
    await this.admin(ctx);
    // the store's compact revision is -1 until the first compaction, as etcd reports it
    const h = this.core.store.hashKV(req.revision);
    return { header: this.core.header(h.currentRevision), hash: h.hash, compactRevision: h.compactRevision };
  }

  async defragment(ctx?: RequestContext): Promise<void> {
    await this.admin(ctx);
    const started = performance.now();
    await this.core.exclusive(() => this.core.store.backend.defragment());
    this.core.log.info(
      { took: `${(performance.now() - started).toFixed(1)}ms` },
      "finished defragmenting the backend",
    );
  }

  /**
   * etcd 3.4's MoveLeader: a learner is no transferee; the call waits until the transferee leads (or the client's
   * deadline passes), and its answer has no header.
   */
  async moveLeader(req: MoveLeaderRequest, ctx?: RequestContext): Promise<MoveLeaderResponse> {
    const { core } = this;
    if (!core.raft.leadership$.value.isLeader) throw Errors.NotLeader;
    const target = core.cluster.member(req.targetID);
    if (!target || target.isLearner || req.targetID === 0n) throw Errors.BadLeaderTransferee;
    if (req.targetID !== core.memberId) {
      core.raft.node.transferLeader(req.targetID);
      core.raft.kick();
      await untilDeadline(this.leadBy(req.targetID), ctx?.deadline, Errors.TimeoutLeaderTransfer);
    }
    return { header: undefined };
  }

  /** Resolves once `id` leads, looking every tick as etcd does. */
  private async leadBy(id: bigint): Promise<void> {
    const { core } = this;
    while (core.raft.lead !== id) await new Promise((r) => setTimeout(r, core.cfg.tickMs));
  }

  async snapshot(ctx?: RequestContext): Promise<BackendSnapshot> {
    await this.admin(ctx);
    const revision = this.core.store.currentRev();
    await this.core.store.sync();
    const snap = await this.core.store.backend.snapshot();
    return { size: snap.totalBytes, revision, chunks: snap.chunks };
  }

  async health(): Promise<{ health: boolean; reason?: string }> {
    const { core } = this;
    if (core.alarms().length > 0) return { health: false, reason: "ALARM" };
    if (!core.raft.hasLeader) return { health: false, reason: "RAFT NO LEADER" };
    try {
      await core.reads.waitReadable();
      return { health: true };
    } catch {
      return { health: false, reason: "QGET ERROR" };
    }
  }
}
