// One-shot calls a member makes to other members' peer ports: read the membership and versions,
// forward lease keepalives / TTL queries and learner promotions to the leader, fetch KV hashes.
// Answers are decoded with io-ts (JSON) or the generated protobuf readers; ids stay exact uint64.
import * as t from "io-ts";
import { LeaseKeepAliveRequest, LeaseKeepAliveResponse } from "../gen/etcdserverpb/rpc.js";
import { LeaseInternalRequest, LeaseInternalResponse } from "../gen/leasepb/lease.js";
import { parseId } from "../membership/ids.js";
import { decodeMemberListJson, type MemberJson } from "../membership/member-json.js";
import { Errors, EtcdError } from "../rpctypes/errors.js";
import { Agents, type Answer, fetchPeer, type PeerTls, peerUrl } from "./http-util.js";
import { header } from "./versions.js";

export type { PeerTls } from "./http-util.js";

/** Peer URLs, or a function asked again before every round (the leader may change meanwhile). */
export type PeerUrlSource = readonly string[] | (() => readonly string[]);

/** A pause between rounds over the URL list while forwarding. */
const RETRY_PAUSE_MS = 100;

const agentsByTls = new WeakMap<PeerTls, Agents>();
const plainAgents = new Agents(undefined, true);

function agentFor(url: URL, tls: PeerTls | undefined) {
  if (!tls) return plainAgents.for(url);
  let agents = agentsByTls.get(tls);
  if (!agents) {
    agents = new Agents(tls, true);
    agentsByTls.set(tls, agents);
  }
  return agents.for(url);
}

function get(
  url: URL,
  timeoutMs: number,
  tls?: PeerTls,
  body?: Buffer,
  contentType?: string,
): Promise<Answer> {
  return fetchPeer({
    method: "GET",
    url,
    agent: agentFor(url, tls),
    timeoutMs,
    ...(body ? { body, headers: { "Content-Type": contentType ?? "application/json" } } : {}),
  });
}

function post(url: URL, timeoutMs: number, tls: PeerTls | undefined, body?: Buffer): Promise<Answer> {
  return fetchPeer({
    method: "POST",
    url,
    agent: agentFor(url, tls),
    timeoutMs,
    ...(body ? { body, headers: { "Content-Type": "application/protobuf" } } : {}),
  });
}

/**
 * GET /members from each URL in sorted order; the first answer that parses, carries a cluster id and
 * lists members wins. Undefined when none does (an empty list ends the search, as in etcd).
 */
export async function fetchMembers(
  urls: readonly string[],
  timeoutMs: number,
  tls?: PeerTls,
): Promise<{ clusterId: bigint; members: MemberJson[] } | undefined> {
  for (const u of [...urls].sort()) {
    let answer: Answer;
    try {
      answer = await get(peerUrl(u, "/members"), timeoutMs, tls);
    } catch {
      continue;
    }
    let members: MemberJson[];
    try {
      members = decodeMemberListJson(answer.body.toString("utf8"), `members from ${u}`);
    } catch {
      continue;
    }
    const clusterId = parseId(header(answer.headers, "X-Etcd-Cluster-ID").replace(/^0+(?=.)/, ""));
    if (clusterId === undefined) continue;
    return members.length > 0 ? { clusterId, members } : undefined;
  }
  return undefined;
}

const VersionsJson = t.partial({ etcdserver: t.string, etcdcluster: t.string });

/** GET /version of one member; undefined when it cannot be reached or read. */
export async function fetchVersion(
  url: string,
  timeoutMs: number,
  tls?: PeerTls,
): Promise<{ etcdserver: string; etcdcluster: string } | undefined> {
  try {
    const answer = await get(peerUrl(url, "/version"), timeoutMs, tls);
    const r = VersionsJson.decode(JSON.parse(answer.body.toString("utf8")));
    if (r._tag === "Left") return undefined;
    return { etcdserver: r.right.etcdserver ?? "", etcdcluster: r.right.etcdcluster ?? "" };
  } catch {
    return undefined;
  }
}

/** One attempt's verdict: a value, a definitive error (stop), or a failure worth trying elsewhere. */
type Attempt<T> = { value: T } | { fatal: Error } | { retry: string };

/**
 * Tries each URL in turn, round after round, until one answers definitively or `timeoutMs` passed
 * (then Errors.Timeout, as etcd's request timeout).
 */
async function forward<T>(
  urls: PeerUrlSource,
  timeoutMs: number,
  attempt: (url: string, remainingMs: number) => Promise<Attempt<T>>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = "no peer URL";
  for (;;) {
    const list = typeof urls === "function" ? urls() : urls;
    for (const u of list) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      let r: Attempt<T>;
      try {
        r = await attempt(u, remaining);
      } catch (err) {
        r = { retry: (err as Error).message };
      }
      if ("value" in r) return r.value;
      if ("fatal" in r) throw r.fatal;
      last = `${u}: ${r.retry}`;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      // etcd's request timeout; the last failure travels along for the logs
      const err = new EtcdError(Errors.Timeout.code, Errors.Timeout.message);
      err.cause = last;
      throw err;
    }
    await new Promise((r) => setTimeout(r, Math.min(RETRY_PAUSE_MS, remaining)));
  }
}

/** POST /leases to the leader: the renewed TTL; Errors.LeaseNotFound or Errors.Timeout otherwise. */
export function forwardLeaseRenew(
  urls: PeerUrlSource,
  id: bigint,
  timeoutMs: number,
  tls?: PeerTls,
): Promise<number> {
  const body = Buffer.from(LeaseKeepAliveRequest.encode({ ID: id }).finish());
  return forward<number>(urls, timeoutMs, async (u, remaining) => {
    const answer = await post(peerUrl(u, "/leases"), remaining, tls, body);
    if (answer.status === 404) return { fatal: Errors.LeaseNotFound };
    if (answer.status !== 200) return { retry: `lease: unknown error(${answer.body.toString("utf8")})` };
    const r = LeaseKeepAliveResponse.decode(answer.body);
    if (r.ID !== id) return { retry: "lease: renew id mismatch" };
    return { value: r.TTL };
  });
}

/** POST /leases/internal to the leader; Errors.LeaseNotFound or Errors.Timeout otherwise. */
export function forwardLeaseTimeToLive(
  urls: PeerUrlSource,
  id: bigint,
  keys: boolean,
  timeoutMs: number,
  tls?: PeerTls,
): Promise<{ ttl: number; grantedTtl: number; keys: Buffer[] }> {
  const body = Buffer.from(
    LeaseInternalRequest.encode({ LeaseTimeToLiveRequest: { ID: id, keys } }).finish(),
  );
  return forward<{ ttl: number; grantedTtl: number; keys: Buffer[] }>(
    urls,
    timeoutMs,
    async (u, remaining) => {
      const answer = await post(peerUrl(u, "/leases/internal"), remaining, tls, body);
      if (answer.status === 404) return { fatal: Errors.LeaseNotFound };
      if (answer.status !== 200) return { retry: `lease: unknown error(${answer.body.toString("utf8")})` };
      const r = LeaseInternalResponse.decode(answer.body).LeaseTimeToLiveResponse;
      if (!r) return { retry: "lease: empty answer" };
      if (r.ID !== id) return { retry: "lease: renew id mismatch" };
      return { value: { ttl: r.TTL, grantedTtl: r.grantedTTL, keys: r.keys } };
    },
  );
}

/**
 * POST /members/promote/<decimal id> to the leader: the members after promotion. Errors.MemberNotFound,
 * Errors.MemberNotLearner, Errors.LearnerNotReady are definitive; otherwise Errors.Timeout.
 */
export function forwardPromote(
  urls: PeerUrlSource,
  id: bigint,
  timeoutMs: number,
  tls?: PeerTls,
): Promise<MemberJson[]> {
  return forward<MemberJson[]>(urls, timeoutMs, async (u, remaining) => {
    const answer = await post(peerUrl(u, `/members/promote/${id.toString(10)}`), remaining, tls);
    const text = answer.body.toString("utf8");
    switch (answer.status) {
      case 200:
        return { value: decodeMemberListJson(text, "promote answer") };
      case 404:
        return { fatal: Errors.MemberNotFound };
      case 408:
        return { retry: "request timed out" };
      case 412:
        if (text.includes("can only promote a learner member which is in sync with leader")) {
          return { fatal: Errors.LearnerNotReady };
        }
        if (text.includes("can only promote a learner member")) return { fatal: Errors.MemberNotLearner };
        return { retry: `member promote: unknown error(${text})` };
      default:
        return { retry: `member promote: unknown error(${text})` };
    }
  });
}

const HashKVAnswer = t.type({
  header: t.union([t.partial({ revision: t.number }), t.undefined, t.null]),
  hash: t.union([t.number, t.undefined]),
  compact_revision: t.union([t.number, t.undefined]),
});

/** GET /members/hashkv with `{"revision":R}`; undefined for any failure (compacted, future, unreachable). */
export async function fetchHashKV(
  url: string,
  revision: number,
  timeoutMs: number,
  tls?: PeerTls,
): Promise<{ revision: number; hash: number; compactRevision: number } | undefined> {
  const body = Buffer.from(revision !== 0 ? `{"revision":${revision}}` : "{}");
  try {
    const answer = await get(peerUrl(url, "/members/hashkv"), timeoutMs, tls, body, "application/json");
    if (answer.status !== 200) return undefined;
    const r = HashKVAnswer.decode(JSON.parse(answer.body.toString("utf8")));
    if (r._tag === "Left") return undefined;
    return {
      revision: r.right.header?.revision ?? 0,
      hash: r.right.hash ?? 0,
      compactRevision: r.right.compact_revision ?? 0,
    };
  } catch {
    return undefined;
  }
}
