// The leader's cluster-version duty (etcd's monitorVersions): every 4 s, and at the first commit of
// its term, ask every member its server version and propose the cluster version they all support.
// The cluster version only goes up, and never above 3.4: a higher one would make etcd 3.4 members exit.
import { filter, interval, merge, mergeMap, type Observable } from "rxjs";
import { ETCD_VERSION } from "../config/defaults.js";
import { clusterVersionToPropose, decideClusterVersion } from "../membership/cluster-version.js";
import { clusterVersionRequest, encodeV2Request } from "../membership/v2-request.js";
import { fetchVersion } from "../transport/peer-client.js";
import type { ServerCore } from "./server-core.js";

/** etcd's monitorVersionInterval. */
export const MONITOR_VERSION_INTERVAL_MS = 4000;

export interface ClusterVersionDeps {
  core: ServerCore;
  /** Emits when this member's first entry of a new term is applied (its leadership is settled). */
  firstCommitInTerm$: Observable<unknown>;
  /** Proposes bare v2 request bytes under an id and waits until applied. */
  proposeV2(id: bigint, data: Buffer): Promise<unknown>;
  peerTimeoutMs: number;
}

export function clusterVersion$(d: ClusterVersionDeps): Observable<unknown> {
  const { core } = d;
  return merge(interval(MONITOR_VERSION_INTERVAL_MS), d.firstCommitInTerm$).pipe(
    filter(() => core.raft.leadership$.value.isLeader),
    mergeMap(async () => {
      const others = core.cluster.list().filter((m) => m.id !== core.memberId);
      const peers = await Promise.all(
        others.map(async (m) => {
          for (const url of m.peerUrls) {
            const v = await fetchVersion(url, d.peerTimeoutMs, core.cfg.peerTls).catch(() => undefined);
            if (v) return v;
          }
          return undefined;
        }),
      );
      const decided = decideClusterVersion(ETCD_VERSION, peers);
      const next = clusterVersionToPropose(core.cluster.version(), decided);
      if (next === undefined) return;
      const id = core.idGen.next();
      try {
        await d.proposeV2(id, encodeV2Request(clusterVersionRequest(id, next)));
      } catch (err) {
        core.log.warn({ err, version: next }, "failed to update the cluster version");
      }
    }, 1),
  );
}
