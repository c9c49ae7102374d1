import { createHash } from "node:crypto";

/** The first 8 bytes of a SHA-1 digest as an unsigned 64-bit id. */
function sha1Id(bytes: Buffer): bigint {
  return createHash("sha1").update(bytes).digest().readBigUInt64BE(0);
}

/**
 * A member's id as etcd derives it: SHA-1 over the sorted peer URLs, the cluster token and,
 * for members added at run time, the Unix time in seconds. Members of a new cluster get the same
 * ids on every machine that reads the same `--initial-cluster`.
 */
export function memberId(peerUrls: readonly string[], clusterToken: string, unixSeconds?: number): bigint {
  const parts =
    [...peerUrls].sort().join("") + clusterToken + (unixSeconds === undefined ? "" : String(unixSeconds));
  return sha1Id(Buffer.from(parts, "utf8"));
}

/** The cluster id: SHA-1 over the member ids (ascending, 8 bytes big-endian each). */
export function clusterId(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  for (const [i, id] of sorted.entries()) buf.writeBigUInt64BE(id, 8 * i);
  return sha1Id(buf);
}

/** Ids print as lower-case hex without padding, as etcd prints them. */
export function formatId(id: bigint): string {
  return id.toString(16);
}

/** Parses a hex id as etcdctl and etcd's logs write it; undefined when it is not one. */
export function parseId(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) return undefined;
  return BigInt(`0x${text}`);
}

/** The id of a member added at run time (MemberAdd): no cluster token, the Unix time in seconds. */
export function newMemberId(peerUrls: readonly string[], nowUnixSeconds: number): bigint {
  return memberId(peerUrls, "", Math.floor(nowUnixSeconds));
}

/** Go's types.IDFromString (strconv.ParseUint(s, 16, 64)): any number of hex digits, below 2^64. */
export function parseIdLikeGo(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F]+$/.test(text)) return undefined;
  const v = BigInt(`0x${text}`);
  return v < 1n << 64n ? v : undefined;
}
