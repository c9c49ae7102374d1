// etcd's GetClusterFromRemotePeers for the proxy: GET /members from each peer URL in turn; the first
// answer that parses and carries a cluster id decides. The answer is input: it is decoded with io-ts
// (member-json) and ids stay exact.
import type { Logger } from "pino";
import { parseIdLikeGo } from "../membership/ids.js";
import { decodeMemberListJson, type MemberJson } from "../membership/member-json.js";
import { type Agents, type Answer, fetchPeer, peerUrl } from "../transport/http-util.js";

/** etcd's overall limit on one /members request of the proxy. */
export const MEMBERS_TIMEOUT_MS = 10_000;

export interface RemoteCluster {
  /** Every member's client URLs, sorted (RaftCluster.ClientURLs). */
  clientUrls: string[];
  /** Every member's peer URLs, sorted (RaftCluster.PeerURLs). */
  peerUrls: string[];
}

export interface RemoteClusterOptions {
  agents: Agents;
  dialTimeoutMs: number;
  log: Pick<Logger, "warn">;
  timeoutMs?: number;
}

function sortedUrls(
  members: readonly MemberJson[],
  pick: (m: MemberJson) => readonly string[] | null | undefined,
) {
  return members.flatMap((m) => pick(m) ?? []).sort();
}

/** The cluster the first answering peer describes; throws etcd's error when none answers usefully. */
export async function clusterFromRemotePeers(
  urls: readonly string[],
  opts: RemoteClusterOptions,
): Promise<RemoteCluster> {
  for (const u of urls) {
    const address = `${u}/members`;
    let answer: Answer;
    try {
      const url = peerUrl(u, "/members");
      answer = await fetchPeer({
        method: "GET",
        url,
        agent: opts.agents.for(url),
        connectTimeoutMs: opts.dialTimeoutMs,
        timeoutMs: opts.timeoutMs ?? MEMBERS_TIMEOUT_MS,
      });
    } catch (err) {
      opts.log.warn({ address, error: (err as Error).message }, "failed to get cluster response");
      continue;
    }
    let members: MemberJson[];
    try {
      members = decodeMemberListJson(answer.body.toString("utf8"), "cluster response");
    } catch (err) {
      opts.log.warn({ address, error: (err as Error).message }, "failed to unmarshal cluster response");
      continue;
    }
    const header = answer.headers["x-etcd-cluster-id"];
    const idText = typeof header === "string" ? header : "";
    if (parseIdLikeGo(idText) === undefined) {
      opts.log.warn(
        { address, header: idText, error: `invalid cluster id ${JSON.stringify(idText)}` },
        "failed to parse cluster ID",
      );
      continue;
    }
    if (members.length === 0) throw new Error("failed to get raft cluster member(s) from the given URLs");
    return {
      clientUrls: sortedUrls(members, (m) => m.clientURLs),
      peerUrls: sortedUrls(members, (m) => m.peerURLs),
    };
  }
  throw new Error("could not retrieve cluster information from the given URLs");
}
