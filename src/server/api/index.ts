import type { ClientApi } from "../client-api.js";
import type { ServerCore } from "../server-core.js";
import { ClusterApi } from "./cluster.js";
import { KvApi } from "./kv.js";
import { LeaseApi } from "./lease.js";
import { MaintenanceApi } from "./maintenance.js";
import { WatchApi } from "./watch.js";

/** The member's client API, one part per etcd service, each bound to the running member. */
export function createClientApi(core: ServerCore): ClientApi {
  const kv = new KvApi(core);
  const lease = new LeaseApi(core);
  const watch = new WatchApi(core);
  const cluster = new ClusterApi(core);
  const maintenance = new MaintenanceApi(core);
  return {
    clusterId: core.clusterId,
    memberId: core.memberId,
    header: () => core.header(),
    range: (r) => kv.range(r),
    put: (r) => kv.put(r),
    deleteRange: (r) => kv.deleteRange(r),
    txn: (r) => kv.txn(r),
    compact: (r) => kv.compact(r),
    leaseGrant: (r) => lease.leaseGrant(r),
    leaseRevoke: (r) => lease.leaseRevoke(r),
    leaseKeepAlive: (id) => lease.leaseKeepAlive(id),
    leaseTimeToLive: (r) => lease.leaseTimeToLive(r),
    leaseLeases: () => lease.leaseLeases(),
    watchStream: () => watch.watchStream(),
    memberList: () => cluster.memberList(),
    status: () => maintenance.status(),
    alarm: (r) => maintenance.alarm(r),
    hash: () => maintenance.hash(),
    hashKV: (r) => maintenance.hashKV(r),
    defragment: () => maintenance.defragment(),
    moveLeader: (r) => maintenance.moveLeader(r),
    snapshot: () => maintenance.snapshot(),
    health: () => maintenance.health(),
    metrics: core.serverMetrics.registry,
  };
}
