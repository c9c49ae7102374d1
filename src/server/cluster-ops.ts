// Membership changes as etcd 3.4's server makes them: the strict reconfiguration checks, a raft conf
// change with etcd's context, and the verdict every member reaches when it applies it. Learner
// promotion is the leader's to decide; other members forward it over the peer port.
import { ConfChange, ConfChangeType } from "../gen/raftpb/raft.js";
import {
  type Member,
  memberAddContext,
  memberPromoteContext,
  memberUpdateContext,
  newMemberId,
} from "../membership/cluster.js";
import type { MemberJson } from "../membership/member-json.js";
import { Errors, type EtcdError } from "../rpctypes/errors.js";
import { forwardPromote } from "../transport/peer-client.js";
import type { Transport } from "../transport/transport.js";
import { membersJson } from "./peer-services.js";
import { requestTimeoutMs, type ServerCore } from "./server-core.js";

/** etcd's HealthInterval: a peer must have been connected this long to count as healthy. */
const HEALTH_INTERVAL_MS = 5_000;
/** etcd's readyPercent: a learner is promotable once its match index reaches this share of the leader's. */
const LEARNER_READY_SHARE = 0.9;

export interface ClusterOpsDeps {
  core: ServerCore;
  transport: () => Transport;
  /** Proposes a conf change and resolves with the apply verdict (an error text when refused). */
  configure(cc: ConfChange): Promise<void>;
  now: () => number;
}

/** The apply verdicts of membership validation, as the gRPC errors etcd's API answers with. */
const verdicts: Record<string, EtcdError> = {
  "membership: ID removed": Errors.MemberNotFound,
  "membership: ID not found": Errors.MemberNotFound,
  "membership: ID exists": Errors.MemberExist,
  "membership: peerURL exists": Errors.PeerURLExist,
  "membership: can only promote a learner member": Errors.MemberNotLearner,
  "membership: too many learner members in cluster": Errors.TooManyLearners,
};

/** Maps a conf change's refusal to the error the client sees. */
export function membershipError(text: string): EtcdError | undefined {
  return verdicts[text];
}

function validPeerUrls(urls: string[]): boolean {
  if (urls.length === 0) return false;
  return urls.every((u) => {
    try {
      const p = new URL(u);
      return (
        ["http:", "https:", "unix:", "unixs:"].includes(p.protocol) &&
        p.host !== "" &&
        (p.pathname === "" || p.pathname === "/")
      );
    } catch {
      return false;
    }
  });
}

export class ClusterOps {
  constructor(private readonly d: ClusterOpsDeps) {}

  private get cluster() {
    return this.d.core.cluster;
  }

  private started(m: Member): boolean {
    return m.name !== "";
  }

  /** Voting members connected to this one for at least the health interval (itself included). */
  private connectedSince(ids: bigint[]): number {
    const since = this.d.now() - HEALTH_INTERVAL_MS;
    let n = 0;
    for (const id of ids) {
      if (id === this.d.core.memberId) {
        n++;
        continue;
      }
      const t = this.d.transport().activeSince(id);
      if (t !== undefined && t <= since) n++;
    }
    return n;
  }

  private mayAddMember(isLearner: boolean): void {
    if (!this.d.core.cfg.strictReconfigCheck) return;
    const voters = this.cluster.list().filter((m) => !m.isLearner);
    if (!isLearner) {
      const nmembers = voters.length + 1;
      const nstarted = voters.filter((m) => this.started(m)).length;
      // adding a second member to a one-member cluster is always allowed
      const ready = (nstarted === 1 && nmembers === 2) || nstarted >= Math.floor(nmembers / 2) + 1;
      if (!ready) throw Errors.MemberNotEnoughStarted;
    }
    const ids = voters.map((m) => m.id);
    if (this.connectedSince(ids) !== ids.length) throw Errors.Unhealthy;
  }

  private mayRemoveMember(id: bigint): void {
    if (!this.d.core.cfg.strictReconfigCheck) return;
    const target = this.cluster.member(id);
    if (target?.isLearner) return;
    const voters = this.cluster.list().filter((m) => !m.isLearner);
    const nmembers = voters.length - 1;
    const nstarted = voters.filter((m) => m.id !== id && this.started(m)).length;
    if (nstarted < Math.floor(nmembers / 2) + 1) throw Errors.MemberNotEnoughStarted;
    // a member that is down is safe to remove: it is not part of the active quorum
    if (id !== this.d.core.memberId && this.d.transport().activeSince(id) === undefined) return;
    const active = this.connectedSince(voters.map((m) => m.id));
    if (active - 1 < 1 + Math.floor((voters.length - 1) / 2)) throw Errors.Unhealthy;
  }

  async add(peerUrls: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }> {
    if (!validPeerUrls(peerUrls)) throw Errors.MemberBadURLs;
    const urls = [...peerUrls].sort();
    const id = newMemberId(urls, Math.floor(this.d.now() / 1000));
    this.mayAddMember(isLearner);
    await this.d.configure(
      ConfChange.fromPartial({
        id: this.d.core.idGen.next(),
        type: isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: memberAddContext({ id, peerUrls: urls, isLearner }),
      }),
    );
    const member = this.cluster.member(id) ?? { id, name: "", peerUrls: urls, clientUrls: [], isLearner };
    return { member, members: this.cluster.list() };
  }

  async remove(id: bigint): Promise<Member[]> {
    this.mayRemoveMember(id);
    await this.d.configure(
      ConfChange.fromPartial({
        id: this.d.core.idGen.next(),
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: id,
      }),
    );
    return this.cluster.list();
  }

  async update(id: bigint, peerUrls: string[]): Promise<Member[]> {
    if (!validPeerUrls(peerUrls)) throw Errors.MemberBadURLs;
    await this.d.configure(
      ConfChange.fromPartial({
        id: this.d.core.idGen.next(),
        type: ConfChangeType.ConfChangeUpdateNode,
        nodeId: id,
        context: memberUpdateContext(id, peerUrls),
      }),
    );
    return this.cluster.list();
  }

  /** Promotes a learner: the leader checks it is in sync and proposes; others forward to the leader. */
  async promote(id: bigint): Promise<MemberJson[]> {
    const { core } = this.d;
    if (!core.raft.leadership$.value.isLeader) {
      const lead = core.raft.lead;
      const leader = lead === 0n ? undefined : this.cluster.member(lead);
      if (!leader) throw Errors.NoLeader;
      return forwardPromote(leader.peerUrls, id, requestTimeoutMs(core.cfg));
    }
    const st = core.raft.node.status();
    const learner = st.progress.get(id);
    const own = st.progress.get(core.memberId);
    if (learner && own && learner.match < own.match * LEARNER_READY_SHARE) throw Errors.LearnerNotReady;
    if (core.cfg.strictReconfigCheck) {
      const voters = this.cluster.list().filter((m) => !m.isLearner);
      const nmembers = voters.length + 1;
      const nstarted = voters.filter((m) => this.started(m)).length + 1;
      if (nstarted < Math.floor(nmembers / 2) + 1) throw Errors.MemberNotEnoughStarted;
    }
    await this.d.configure(
      ConfChange.fromPartial({
        id: core.idGen.next(),
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: memberPromoteContext(id),
      }),
    );
    return membersJson(core);
  }
}
