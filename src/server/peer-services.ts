// What this member answers on the peer port besides raft traffic: the member list, its version, lease
// keep-alives and time-to-live forwarded by followers, learner promotion forwarded by non-leaders, the
// corruption check's hash, and the merged snapshots a leader sends.
import { ETCD_VERSION } from "../config/defaults.js";
import type { Message } from "../gen/raftpb/raft.js";
import type { MemberJson } from "../membership/member-json.js";
import { Errors, isClientVisibleError } from "../rpctypes/errors.js";
import { PeerServiceError, type PeerServices } from "../transport/transport.js";
import type { ServerCore } from "./server-core.js";

export interface PeerServicesDeps {
  core: ServerCore;
  /** Where received snapshot dbs are saved before raft sees their message. */
  snapshotDir: string;
  /** Steps a received snapshot message into raft; resolves once raft took it. */
  stepSnapshot(msg: Message, dbFile: string): Promise<void>;
  /** Promotes a learner (leader: checks and proposes; others: forward to the leader). */
  promoteMember(id: bigint): Promise<MemberJson[]>;
}

/** The cluster's members as etcd's `/members` lists them. */
export function membersJson(core: ServerCore): MemberJson[] {
  return core.cluster.list().map((m) => ({
    id: m.id,
    peerURLs: [...m.peerUrls],
    ...(m.isLearner ? { isLearner: true } : {}),
    ...(m.name ? { name: m.name } : {}),
    ...(m.clientUrls.length > 0 ? { clientURLs: [...m.clientUrls] } : {}),
  }));
}

/** Maps a client-API error to the status etcd's peer handlers answer with. */
function asPeerError(err: unknown, status: number): unknown {
  if (isClientVisibleError(err)) return new PeerServiceError(status, err.grpcMessage);
  return err;
}

export function createPeerServices(d: PeerServicesDeps): PeerServices {
  const { core } = d;
  return {
    clusterId: () => core.clusterId,
    localId: () => core.memberId,
    members: () => membersJson(core),
    isRemoved: (id) => core.cluster.isRemoved(id),
    version: () => ({ etcdserver: ETCD_VERSION, etcdcluster: core.cluster.version() ?? "not_decided" }),
    promoteMember: (id) => d.promoteMember(id),
    hashKV: async (revision) => {
      try {
        const h = core.store.hashKV(revision);
        return {
          revision: h.currentRevision,
          hash: h.hash,
          compactRevision: h.compactRevision === 0 ? -1 : h.compactRevision,
        };
      } catch (err) {
        throw asPeerError(err, 400);
      }
    },
    leaseRenew: async (id) => {
      if (!core.raft.leadership$.value.isLeader) throw new PeerServiceError(400, "not a primary lessor");
      try {
        return core.lessor.renew(id);
      } catch (err) {
        if (isClientVisibleError(err) && err.grpcMessage === Errors.LeaseNotFound.grpcMessage)
          throw new PeerServiceError(404, "lease not found");
        throw err;
      }
    },
    leaseTimeToLive: async (id, keys) => {
      if (!core.raft.leadership$.value.isLeader) throw new PeerServiceError(400, "not a primary lessor");
      const t = core.lessor.timeToLive(id);
      if (!t) throw new PeerServiceError(404, "lease not found");
      return { ttl: t.ttl, grantedTtl: t.grantedTtl, keys: keys ? t.keys : [] };
    },
    waitAppliedCaughtUp: async (timeoutMs) => {
      const commit = core.raft.node.basicStatus().hardState.commit;
      if (core.appliedIndex.index >= commit) return true;
      const timer = new Promise<false>((r) => setTimeout(() => r(false), timeoutMs).unref());
      return Promise.race([core.appliedIndex.wait(commit).then(() => true as const), timer]);
    },
    receiveSnapshot: (msg, dbFile) => d.stepSnapshot(msg, dbFile),
    snapshotDir: () => d.snapshotDir,
  };
}
