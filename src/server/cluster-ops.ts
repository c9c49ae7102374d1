// Membership changes as etcd 3.4's server makes them: the strict reconfiguration checks, a raft conf
// change with etcd's context, and the verdict every member reaches when it applies it. Learner
// promotion is the leader's to decide; other members forward it over the peer port.
import type { ClientDeadline } from "../auth/context.js";
import { parseEtcdUrl, UrlListError } from "../config/urls.js";
import { ConfChange, ConfChangeType } from "../gen/raftpb/raft.js";
import {
  type Member,
  memberAddContext,
  memberPromoteContext,
  memberUpdateContext,
  newMemberId,
} from "../membership/cluster.js";
import type { MemberJson } from "../membership/member-json.js";
import {
  ERR_LEARNER_NOT_READY,
  ERR_NOT_ENOUGH_STARTED_MEMBERS,
  ERR_UNHEALTHY,
  isLearnerReady,
  mayAddMember,
  mayPromoteMember,
  mayRemoveMember,
  type ReconfigContext,
} from "../membership/reconfig-checks.js";
import { Errors, type EtcdError } from "../rpctypes/errors.js";
import { forwardPromote } from "../transport/peer-client.js";
import type { Transport } from "../transport/transport.js";
import { membersJson } from "./peer-services.js";
import { requestTimeoutMs, type ServerCore } from "./server-core.js";

/** The strict reconfiguration checks' refusals, as the errors the client sees. */
const checkErrors: Record<string, EtcdError> = {
  [ERR_NOT_ENOUGH_STARTED_MEMBERS]: Errors.MemberNotEnoughStarted,
  [ERR_UNHEALTHY]: Errors.Unhealthy,
  [ERR_LEARNER_NOT_READY]: Errors.LearnerNotReady,
};

export interface ClusterOpsDeps {
  core: ServerCore;
  transport: () => Transport;
  /** Proposes a conf change and resolves with the apply verdict (an error text when refused). */
  configure(cc: ConfChange, deadline?: ClientDeadline): Promise<void>;
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

/** etcd's types.NewURLs: at least one URL, each scheme://host:port with no path; sorted by their text. */
export function peerUrlList(urls: string[]): string[] | undefined {
  if (urls.length === 0) return undefined;
  try {
    return urls.map((u) => parseEtcdUrl(u).href).sort();
  } catch (err) {
    if (err instanceof UrlListError) return undefined;
    throw err;
  }
}

export class ClusterOps {
  constructor(private readonly d: ClusterOpsDeps) {}

  private get cluster() {
    return this.d.core.cluster;
  }

  /** What etcd's strict reconfiguration checks look at: the voters, and since when each is connected. */
  private reconfigContext(): ReconfigContext {
    const voters = this.cluster.list().filter((m) => !m.isLearner);
    const activeSince = new Map<bigint, number>();
    for (const m of voters) {
      const t = m.id === this.d.core.memberId ? undefined : this.d.transport().activeSince(m.id);
      if (t !== undefined) activeSince.set(m.id, t);
    }
    return { localId: this.d.core.memberId, voters, activeSince, nowMs: this.d.now() };
  }

  private check(problem: string | undefined): void {
    if (problem === undefined) return;
    throw checkErrors[problem] ?? new Error(problem);
  }

  private mayAddMember(isLearner: boolean): void {
    if (this.d.core.cfg.strictReconfigCheck) this.check(mayAddMember(this.reconfigContext(), isLearner));
  }

  private mayRemoveMember(id: bigint): void {
    if (!this.d.core.cfg.strictReconfigCheck) return;
    this.check(mayRemoveMember(this.reconfigContext(), id, this.cluster.member(id)?.isLearner ?? false));
  }

  async add(
    peerUrls: string[],
    isLearner: boolean,
    deadline?: ClientDeadline,
  ): Promise<{ member: Member; members: Member[] }> {
    const urls = peerUrlList(peerUrls);
    if (!urls) throw Errors.MemberBadURLs;
    const id = newMemberId(urls, Math.floor(this.d.now() / 1000));
    this.mayAddMember(isLearner);
    await this.d.configure(
      ConfChange.fromPartial({
        id: this.d.core.idGen.next(),
        type: isLearner ? ConfChangeType.ConfChangeAddLearnerNode : ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: memberAddContext({ id, peerUrls: urls, isLearner }),
      }),
      deadline,
    );
    const member = this.cluster.member(id) ?? { id, name: "", peerUrls: urls, clientUrls: [], isLearner };
    return { member, members: this.cluster.list() };
  }

  async remove(id: bigint, deadline?: ClientDeadline): Promise<Member[]> {
    this.mayRemoveMember(id);
    if (id === this.d.core.memberId && this.d.core.raft.leadership$.value.isLeader) await this.stepDown();
    await this.d.configure(
      ConfChange.fromPartial({
        id: this.d.core.idGen.next(),
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: id,
      }),
      deadline,
    );
    return this.cluster.list();
  }

  /**
   * A leader that is asked to remove itself hands leadership to its most caught-up voter first, so
   * the cluster does not wait an election timeout without a leader; the removal then goes through
   * the new leader.
   */
  private async stepDown(): Promise<void> {
    const { core } = this.d;
    const st = core.raft.node.status();
    let target: bigint | undefined;
    let best = -1;
    for (const m of this.cluster.list()) {
      if (m.id === core.memberId || m.isLearner) continue;
      const match = st.progress.get(m.id)?.match ?? -1;
      if (match > best) {
        best = match;
        target = m.id;
      }
    }
    if (target === undefined) return;
    core.log.info({ transferee: target.toString(16) }, "handing leadership over before removing this member");
    core.raft.node.transferLeader(target);
    core.raft.kick();
    const deadline = this.d.now() + core.cfg.electionTicks * core.cfg.tickMs * 2;
    while (this.d.now() < deadline && core.raft.leadership$.value.isLeader)
      await new Promise((r) => setTimeout(r, core.cfg.tickMs));
  }

  /**
   * etcd 3.4's MemberUpdate takes the URLs as they come, unchecked: its own member keeps any, an unknown id is
   * refused when applied. Only another member's are checked here, where etcd's transport panics on a URL it cannot
   * parse (on every member, at every replay of the entry).
   */
  async update(id: bigint, peerUrls: string[], deadline?: ClientDeadline): Promise<Member[]> {
    if (id !== this.d.core.memberId && this.cluster.member(id) && !peerUrlList(peerUrls))
      throw Errors.MemberBadURLs;
    await this.d.configure(
      ConfChange.fromPartial({
        id: this.d.core.idGen.next(),
        type: ConfChangeType.ConfChangeUpdateNode,
        nodeId: id,
        context: memberUpdateContext(id, peerUrls),
      }),
      deadline,
    );
    return this.cluster.list();
  }

  /** Promotes a learner: the leader checks it is in sync and proposes; others forward to the leader. */
  async promote(id: bigint, deadline?: ClientDeadline): Promise<MemberJson[]> {
    const { core } = this.d;
    if (!core.raft.leadership$.value.isLeader) {
      const lead = core.raft.lead;
      const leader = lead === 0n ? undefined : this.cluster.member(lead);
      if (!leader) throw Errors.NoLeader;
      return forwardPromote(leader.peerUrls, id, requestTimeoutMs(core.cfg));
    }
    const st = core.raft.node.status();
    const learner = st.progress.get(id);
    const leaderMatch = BigInt(st.progress.get(core.memberId)?.match ?? 0);
    const learnerMatch = learner ? BigInt(learner.match) : undefined;
    if (core.cfg.strictReconfigCheck)
      this.check(mayPromoteMember(this.reconfigContext(), leaderMatch, learnerMatch));
    else if (!isLearnerReady(leaderMatch, learnerMatch)) throw Errors.LearnerNotReady;
    await this.d.configure(
      ConfChange.fromPartial({
        id: core.idGen.next(),
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: memberPromoteContext(id),
      }),
      deadline,
    );
    return membersJson(core);
  }
}
