import type { ClientApi } from "../client-api.js";
import type { ServerCore } from "../server-core.js";
import { AuthApi } from "./auth.js";
import { ClusterApi } from "./cluster.js";
import { KvApi } from "./kv.js";
import { leaderLoss } from "./leader-loss.js";
import { LeaseApi } from "./lease.js";
import { MaintenanceApi } from "./maintenance.js";
import { QuotaGuard } from "./quota-guard.js";
import { WatchApi } from "./watch.js";

/** The member's client API, one part per etcd service, each bound to the running member. */
export function createClientApi(core: ServerCore): ClientApi {
  const quota = new QuotaGuard(core);
  const kv = new KvApi(core, quota);
  const lease = new LeaseApi(core, quota);
  const watch = new WatchApi(core);
  const cluster = new ClusterApi(core);
  const maintenance = new MaintenanceApi(core);
  return {
    clusterId: core.clusterId,
    memberId: core.memberId,
    header: () => core.header(),
    range: (r, ctx) => kv.range(r, ctx),
    put: (r, ctx) => kv.put(r, ctx),
    deleteRange: (r, ctx) => kv.deleteRange(r, ctx),
    txn: (r, ctx) => kv.txn(r, ctx),
    compact: (r, ctx) => kv.compact(r, ctx),
    leaseGrant: (r, ctx) => lease.leaseGrant(r, ctx),
    leaseRevoke: (r, ctx) => lease.leaseRevoke(r, ctx),
    leaseKeepAlive: (id) => lease.leaseKeepAlive(id),
    leaseTimeToLive: (r, ctx) => lease.leaseTimeToLive(r, ctx),
    leaseLeases: () => lease.leaseLeases(),
    watchStream: (ctx, options) => watch.watchStream(ctx, options),
    memberList: () => cluster.memberList(),
    memberAdd: (r, ctx) => cluster.memberAdd(r, ctx),
    memberRemove: (r, ctx) => cluster.memberRemove(r, ctx),
    memberUpdate: (r, ctx) => cluster.memberUpdate(r, ctx),
    memberPromote: (r, ctx) => cluster.memberPromote(r, ctx),
    isLearner: () => core.cluster.isLearner(core.memberId),
    hasLeader: () => core.raft.hasLeader,
    leaderLoss$: leaderLoss(core.raft.leadership$, core.cfg.tickMs * core.cfg.electionTicks),
    status: () => maintenance.status(),
    alarm: (r, ctx) => maintenance.alarm(r, ctx),
    hash: (ctx) => maintenance.hash(ctx),
    hashKV: (r, ctx) => maintenance.hashKV(r, ctx),
    defragment: (ctx) => maintenance.defragment(ctx),
    moveLeader: (r, ctx) => maintenance.moveLeader(r, ctx),
    snapshot: (ctx) => maintenance.snapshot(ctx),
    health: () => maintenance.health(),
    clusterVersion: () => core.cluster.version(),
    auth: new AuthApi(core),
    metrics: core.serverMetrics.registry,
  };
}
