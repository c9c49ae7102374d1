// The version handshake on every /raft* request: etcd compares major.minor of the caller's server
// version and minimum cluster version with its own, then the cluster id (as a string).
import type { IncomingHttpHeaders } from "node:http";
import { ETCD_VERSION } from "../config/defaults.js";
import { formatId } from "../membership/ids.js";

/** The server version this member announces (X-Server-Version). */
export const SERVER_VERSION = ETCD_VERSION;
/** The oldest cluster version this member can run in (X-Min-Cluster-Version). */
export const MIN_CLUSTER_VERSION = "3.0.0";

/** The version etcd assumes when a header is absent. */
const ABSENT_VERSION = "2.0.0";

export interface Semver {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** `X.Y.Z` with an optional pre-release and build suffix, as go-semver accepts it. */
export function parseSemver(text: string): Semver | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/.exec(text);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

/** Compares major.minor only. */
export function compareMajorMinor(a: Semver, b: Semver): number {
  if (a.major !== b.major) return a.major < b.major ? -1 : 1;
  if (a.minor !== b.minor) return a.minor < b.minor ? -1 : 1;
  return 0;
}

/** A header's first value, as Go's Header.Get reads it ("" when absent). */
export function header(headers: IncomingHttpHeaders, name: string): string {
  const v = headers[name.toLowerCase()];
  return (Array.isArray(v) ? v[0] : v) ?? "";
}

export type Compatibility = "ok" | "incompatible version" | "cluster ID mismatch" | "malformed version";

/**
 * The check etcd runs on pipeline, snapshot and stream requests. "malformed version" is a header
 * that is not semver: etcd's handler panics on it and the connection is dropped.
 */
export function checkCompatibility(headers: IncomingHttpHeaders, localClusterId: bigint): Compatibility {
  const server = parseSemver(header(headers, "X-Server-Version") || ABSENT_VERSION);
  const minCluster = parseSemver(header(headers, "X-Min-Cluster-Version") || ABSENT_VERSION);
  if (!server || !minCluster) return "malformed version";
  const localServer = parseSemver(SERVER_VERSION)!;
  const localMinCluster = parseSemver(MIN_CLUSTER_VERSION)!;
  if (compareMajorMinor(server, localMinCluster) < 0) return "incompatible version";
  if (compareMajorMinor(minCluster, localServer) > 0) return "incompatible version";
  if (header(headers, "X-Etcd-Cluster-ID") !== formatId(localClusterId)) return "cluster ID mismatch";
  return "ok";
}

/** major.minor of the versions that offer both stream types (etcd's supportedStream table). */
const STREAM_VERSIONS = new Set(["2.1", "2.2", "2.3", "3.0", "3.1", "3.2", "3.3", "3.4"]);

/**
 * Whether a dialed peer of this version serves our stream types. etcd only consults its table for
 * peers of an older minor version; a missing X-Server-Version means 2.0, which serves none.
 */
export function supportsStreams(version: Semver): boolean {
  if (compareMajorMinor(version, parseSemver(SERVER_VERSION)!) >= 0) return true;
  return STREAM_VERSIONS.has(`${version.major}.${version.minor}`);
}
