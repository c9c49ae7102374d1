// Clusters of real member processes on loopback: every member's ports are chosen first, so that one
// --initial-cluster names them all, then the members start together (each waits for a leader).
import {
  type Binary,
  type CtlResult,
  etcdctl,
  Member,
  type MemberOptions,
  sleep,
  target,
} from "./harness.js";
import { PeerProxy } from "./peer-proxy.js";

export interface ClusterOptions {
  binary?: Binary;
  /** One binary per member, for clusters that mix rxetcd and Debian's etcd (overrides binary and size). */
  binaries?: Binary[];
  size?: number;
  token?: string;
  /** Extra flags for every member. */
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** Put a cuttable proxy in front of every member's peer port (see PeerProxy). */
  peerProxies?: boolean;
  /** https peer URLs (the TLS flags go in extraArgs). */
  peerScheme?: "http" | "https";
}

/** Fast elections for tests on a loaded machine: 100 ms heartbeats, 1 s election timeout. */
export const fastElections = ["--heartbeat-interval", "100", "--election-timeout", "1000"];

interface EndpointStatus {
  Endpoint: string;
  Status: {
    header: { member_id: number | string; raft_term: number };
    leader: number | string;
    raftIndex: number;
  };
}

/** A member's status as etcdctl reports it (ids as decimal strings, which JSON numbers above 2^53 are not). */
export async function endpointStatus(m: Member): Promise<{ memberId: string; leader: string } | undefined> {
  const r = await m.etcdctl(["endpoint", "status", "-w", "json"], { timeoutMs: 5000 });
  if (r.code !== 0) return undefined;
  // ids are uint64: read them as text before JSON.parse rounds them
  const text = r.stdout.replace(/"(member_id|leader|cluster_id)":(\d+)/g, '"$1":"$2"');
  const [s] = JSON.parse(text) as EndpointStatus[];
  return { memberId: String(s.Status.header.member_id), leader: String(s.Status.leader) };
}

/**
 * `etcdctl member <add|remove> ARGS` through `via`. --strict-reconfig-check refuses a change with "unhealthy
 * cluster" until the members involved have been connected for 5 s (a cluster that has just started, written
 * fast or changed leader): it is retried as an operator would, for up to a minute.
 */
export async function memberChange(
  via: Member,
  change: "add" | "remove",
  args: string[],
): Promise<CtlResult> {
  const deadline = Date.now() + 60_000;
  let r = await via.etcdctl(["member", change, ...args], { timeoutMs: 30_000 });
  while (r.code !== 0 && /unhealthy cluster/.test(r.stderr) && Date.now() < deadline) {
    await sleep(1000);
    r = await via.etcdctl(["member", change, ...args], { timeoutMs: 30_000 });
  }
  return r;
}

/** `etcdctl member add ARGS`, retried while the cluster is not yet healthy enough to grow (see memberChange). */
export const memberAdd = (via: Member, args: string[]) => memberChange(via, "add", args);
/** `etcdctl member remove ID`, retried while the cluster is not yet healthy enough to shrink. */
export const memberRemove = (via: Member, hexId: string, extra: string[] = []) =>
  memberChange(via, "remove", [hexId, ...extra]);

export class Cluster {
  private constructor(
    readonly members: Member[],
    readonly token: string,
    /** The proxy in front of each member's peer port, when started with peerProxies. */
    readonly proxies: Map<Member, PeerProxy>,
  ) {}

  /** Starts `size` members of a new cluster and waits until every one is healthy. */
  static async start(opts: ClusterOptions = {}): Promise<Cluster> {
    const size = opts.binaries?.length ?? opts.size ?? 3;
    const token = opts.token ?? `e2e-${Math.random().toString(36).slice(2, 10)}`;
    const members: Member[] = [];
    for (let i = 0; i < size; i++) {
      const memberOpts: MemberOptions = {
        binary: opts.binaries?.[i] ?? opts.binary ?? target,
        name: `m${i + 1}`,
        extraArgs: [...fastElections, ...(opts.extraArgs ?? [])],
        startTimeoutMs: opts.startTimeoutMs ?? 60_000,
        clusterArgs: ["--initial-cluster-token", token, "--initial-cluster-state", "new"],
        ...(opts.peerScheme ? { peerScheme: opts.peerScheme } : {}),
      };
      members.push(await Member.create(memberOpts));
    }
    const proxies = new Map<Member, PeerProxy>();
    if (opts.peerProxies) {
      for (const m of members) {
        const p = await PeerProxy.start(m.peerPort);
        proxies.set(m, p);
        m.advertisedPeerUrl = p.url;
      }
    }
    const initial = members.map((m) => `${m.name}=${m.advertisedPeerUrl ?? m.peerUrl}`).join(",");
    for (const m of members) m.initialCluster = initial;
    await Promise.all(members.map((m) => m.launch()));
    return new Cluster(members, token, proxies);
  }

  /** Cuts one member off from the others (both ways) at the proxies; `heal` undoes it. */
  partition(m: Member, memberIdHex: string): void {
    for (const [other, proxy] of this.proxies) {
      if (other === m) proxy.cutAll();
      else proxy.cutFrom(memberIdHex);
    }
  }

  heal(): void {
    for (const p of this.proxies.values()) p.heal();
  }

  async closeProxies(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
  }

  /** etcdctl's --endpoints for every member (or the given ones). */
  endpoints(members: Member[] = this.members): string {
    return members.map((m) => m.endpoint).join(",");
  }

  /** Runs etcdctl against every running member. */
  etcdctl(args: string[]) {
    return etcdctl([`--endpoints=${this.endpoints(this.members.filter((m) => m.running))}`, ...args]);
  }

  /** The member every running member agrees leads, once they agree (or throws after timeoutMs). */
  async leader(timeoutMs = 30_000): Promise<Member> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      const running = this.members.filter((m) => m.running);
      const statuses = await Promise.all(running.map((m) => endpointStatus(m)));
      const leaders = new Set(statuses.map((s) => s?.leader));
      last = JSON.stringify(statuses);
      if (leaders.size === 1 && statuses.every((s) => s !== undefined && s.leader !== "0")) {
        const idx = statuses.findIndex((s) => s?.memberId === s?.leader);
        if (idx >= 0) return running[idx];
      }
      await sleep(200);
    }
    throw new Error(`the members did not agree on a leader within ${timeoutMs} ms: ${last}`);
  }

  /** The members' ids as etcdctl prints them (decimal), by member. */
  async memberIds(): Promise<Map<Member, string>> {
    const out = new Map<Member, string>();
    for (const m of this.members.filter((x) => x.running)) {
      const s = await endpointStatus(m);
      if (s) out.set(m, s.memberId);
    }
    return out;
  }

  /**
   * Adds a member of the given kind the way an operator does: `etcdctl member add` through a running member,
   * then a start with --initial-cluster-state existing and the --initial-cluster etcdctl printed. Resolves once
   * it is healthy (it has caught up with the leader).
   */
  async join(binary: Binary, name: string, extraArgs: string[] = []): Promise<Member> {
    const via = this.members.find((m) => m.running);
    if (!via) throw new Error("no running member to add through");
    const m = await Member.create({
      binary,
      name,
      extraArgs: [...fastElections, ...extraArgs],
      startTimeoutMs: 120_000,
      clusterArgs: ["--initial-cluster-state", "existing"],
    });
    const add = await memberAdd(via, [name, `--peer-urls=${m.peerUrl}`]);
    if (add.code !== 0) throw new Error(`member add ${name}: ${add.stderr}`);
    const initial = /ETCD_INITIAL_CLUSTER="([^"]+)"/.exec(add.stdout)?.[1];
    if (!initial) throw new Error(`member add printed no ETCD_INITIAL_CLUSTER: ${add.stdout}`);
    m.initialCluster = initial;
    await m.launch();
    this.members.push(m);
    return m;
  }

  /** Moves leadership to `to` through the current leader and waits until every running member agrees. */
  async moveLeader(to: Member): Promise<void> {
    const from = await this.leader();
    if (from === to) return;
    const id = (await this.memberIds()).get(to);
    if (!id) throw new Error(`no id for ${to.name}`);
    const r = await from.etcdctl(["move-leader", BigInt(id).toString(16)], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`move-leader to ${to.name}: ${r.stderr}`);
    const now = await this.leader();
    if (now !== to) throw new Error(`${now.name} leads after move-leader to ${to.name}`);
  }

  /**
   * Removes a member with `etcdctl member remove` through another member, first moving leadership away from it
   * (as an operator does, so clients wait for no election), and waits for its process to stop by itself.
   */
  async remove(m: Member): Promise<void> {
    const others = this.members.filter((x) => x !== m && x.running);
    if ((await this.leader()) === m) await this.moveLeader(others[0]);
    const id = (await this.memberIds()).get(m);
    if (!id) throw new Error(`no id for ${m.name}`);
    const r = await memberRemove(others[0], BigInt(id).toString(16));
    if (r.code !== 0) throw new Error(`member remove ${m.name}: ${r.stderr}`);
    const exit = await m.waitExit(30_000);
    if (!exit) throw new Error(`${m.binary} ${m.name} still runs 30 s after its removal\n${m.logText()}`);
    this.members.splice(this.members.indexOf(m), 1);
  }
}
