import type { Member as MemberPb } from "../gen/etcdserverpb/rpc.js";
import { clusterId, formatId, memberId } from "./ids.js";

/** One member of the cluster: its raft attributes (peer URLs, learner) and its published attributes. */
export interface Member {
  readonly id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

/** The JSON form of a member as etcd stores it (also the context of a membership conf change). */
interface MemberJson {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner?: boolean;
}

export function encodeMember(m: Member): Buffer {
  const json: MemberJson = {
    id: formatId(m.id),
    name: m.name,
    peerURLs: m.peerUrls,
    clientURLs: m.clientUrls,
    ...(m.isLearner ? { isLearner: true } : {}),
  };
  return Buffer.from(JSON.stringify(json));
}

export function decodeMember(bytes: Buffer): Member {
  const j = JSON.parse(bytes.toString("utf8")) as MemberJson;
  if (typeof j.id !== "string" || !/^[0-9a-f]{1,16}$/.test(j.id))
    throw new Error(`bad member record id ${j.id}`);
  return {
    id: BigInt(`0x${j.id}`),
    name: String(j.name ?? ""),
    peerUrls: Array.isArray(j.peerURLs) ? j.peerURLs.map(String) : [],
    clientUrls: Array.isArray(j.clientURLs) ? j.clientURLs.map(String) : [],
    isLearner: j.isLearner === true,
  };
}

/**
 * The cluster as this member knows it: id, members and their attributes. Changes arrive through
 * applied raft entries only, so every member holds the same view at the same applied index.
 */
export class RaftCluster {
  private readonly members = new Map<bigint, Member>();
  private readonly removed = new Set<bigint>();

  constructor(
    public id: bigint,
    readonly localId: bigint,
  ) {}

  /** The cluster of a brand-new member set, with ids derived as etcd derives them. */
  static fromInitialCluster(
    name: string,
    initial: ReadonlyMap<string, readonly string[]>,
    token: string,
  ): RaftCluster {
    const members: Member[] = [];
    for (const [n, urls] of initial) {
      members.push({
        id: memberId(urls, token),
        name: "",
        peerUrls: [...urls].sort(),
        clientUrls: [],
        isLearner: false,
      });
      if (n === "") throw new Error("member name is empty in --initial-cluster");
    }
    const ids = members.map((m) => m.id);
    if (new Set(ids).size !== ids.length) throw new Error("--initial-cluster has duplicate peer URLs");
    const local = [...initial.keys()].indexOf(name);
    if (local < 0) throw new Error(`couldn't find local name "${name}" in the initial cluster configuration`);
    const cluster = new RaftCluster(clusterId(ids), members[local].id);
    for (const m of members) cluster.members.set(m.id, m);
    return cluster;
  }

  member(id: bigint): Member | undefined {
    return this.members.get(id);
  }

  list(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  voterIds(): bigint[] {
    return this.list()
      .filter((m) => !m.isLearner)
      .map((m) => m.id);
  }

  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  add(m: Member): void {
    this.members.set(m.id, m);
  }

  remove(id: bigint): void {
    this.members.delete(id);
    this.removed.add(id);
  }

  markRemoved(id: bigint): void {
    this.removed.add(id);
  }

  setAttributes(id: bigint, name: string, clientUrls: string[]): void {
    const m = this.members.get(id);
    if (m) {
      m.name = name;
      m.clientUrls = [...clientUrls];
    }
  }

  toProto(): MemberPb[] {
    return this.list().map((m) => ({
      ID: m.id,
      name: m.name,
      peerURLs: [...m.peerUrls],
      clientURLs: [...m.clientUrls],
      isLearner: m.isLearner,
    }));
  }
}
