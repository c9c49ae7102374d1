// The leader's cluster-version duty (etcd's monitorVersions): every 4 s, and at the first commit of
// its term, ask every member its server version and propose the cluster version they all support.
// The cluster version only goes up, and never above 3.4: a higher one would make etcd 3.4 members exit.
import { filter, interval, merge, mergeMap, type Observable } from "rxjs";
import { ETCD_VERSION } from "../config/defaults.js";
import { clusterVersionRequest, encodeV2Request } from "../membership/v2-request.js";
import { decideClusterVersion } from "../membership/versions.js";
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

/** "3.4.1" -> [3, 4]; undefined when not a version. */
function majorMinor(v: string | undefined): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)\./.exec(v ?? "");
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function lessThan(a: [number, number], b: [number, number]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
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
      const current = core.cluster.version();
      let next: string | undefined;
      if (current === undefined) next = decided ?? "3.0.0";
      else {
        const [c, n] = [majorMinor(current), majorMinor(decided)];
        if (c && n && lessThan(c, n)) next = decided;
      }
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
