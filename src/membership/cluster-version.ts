// The cluster version: what the leader proposes (etcd 3.4's monitorVersions / decideClusterVersion)
// and the downgrade guard every member applies with it. Pure functions; the caller fetches /version.
import { compareSemVer, formatSemVer, majorMinor, parseSemVer, type SemVer, semVerLess } from "./semver.js";

/** The etcd release rxetcd speaks for (its /version `etcdserver`). */
export const SERVER_VERSION = "3.4.23";
/** The version proposed when the cluster has none and the members' versions are unknown. */
export const MIN_CLUSTER_VERSION = "3.0.0";
/** No cluster version above this is ever proposed: every 3.4 member exits on one. */
const HIGHEST_CLUSTER_VERSION = parseSemVer("3.4.0");

/** What a member answers on GET /version (only `etcdserver` is used here). */
export interface MemberVersions {
  etcdserver: string;
  etcdcluster?: string;
}

/**
 * The version the members support together: the lowest server version, as major.minor.0, or
 * undefined when any member's version is unknown (unreachable or unparseable).
 */
export function decideClusterVersion(
  localServerVersion: string,
  peerVersions: ReadonlyArray<MemberVersions | undefined>,
): string | undefined {
  let lowest: SemVer;
  try {
    lowest = parseSemVer(localServerVersion);
  } catch {
    return undefined;
  }
  for (const peer of peerVersions) {
    if (!peer) return undefined;
    let v: SemVer;
    try {
      v = parseSemVer(peer.etcdserver);
    } catch {
      return undefined;
    }
    if (semVerLess(v, lowest)) lowest = v;
  }
  const decided = majorMinor(lowest);
  return formatSemVer(semVerLess(HIGHEST_CLUSTER_VERSION, decided) ? HIGHEST_CLUSTER_VERSION : decided);
}

/**
 * What the leader proposes given the current cluster version and the decision: the decision (or
 * 3.0.0 when undecided) while the cluster has no version, later only an increase; undefined = nothing.
 */
export function clusterVersionToPropose(
  current: string | undefined,
  decided: string | undefined,
): string | undefined {
  if (current === undefined) return decided ?? MIN_CLUSTER_VERSION;
  if (decided === undefined) return undefined;
  return compareSemVer(parseSemVer(current), parseSemVer(decided)) < 0 ? decided : undefined;
}

/**
 * etcd's mustDetectDowngrade: a cluster version above this server's major.minor means this member
 * cannot serve the cluster (etcd exits). Returns the reason, or undefined when the version is fine.
 */
export function downgradeProblem(clusterVersion: SemVer, serverVersion = SERVER_VERSION): string | undefined {
  const local = majorMinor(parseSemVer(serverVersion));
  if (!semVerLess(local, clusterVersion)) return undefined;
  return `invalid downgrade; server version is lower than determined cluster version (current-server-version ${serverVersion}, determined-cluster-version ${clusterVersion.major}.${clusterVersion.minor})`;
}
