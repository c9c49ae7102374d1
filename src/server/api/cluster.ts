import type {
  MemberAddRequest,
  MemberAddResponse,
  MemberListResponse,
  Member as MemberPb,
  MemberPromoteRequest,
  MemberPromoteResponse,
  MemberRemoveRequest,
  MemberRemoveResponse,
  MemberUpdateRequest,
  MemberUpdateResponse,
} from "../../gen/etcdserverpb/rpc.js";
import type { Member } from "../../membership/cluster.js";
import type { MemberJson } from "../../membership/member-json.js";
import { Errors } from "../../rpctypes/errors.js";
import type { RequestContext } from "../client-api.js";
import { peerUrlList } from "../cluster-ops.js";
import type { ServerCore } from "../server-core.js";
import { withAuthInfo } from "./authorize.js";

const toProto = (m: Member): MemberPb => ({
  ID: m.id,
  name: m.name,
  peerURLs: [...m.peerUrls],
  clientURLs: [...m.clientUrls],
  isLearner: m.isLearner,
});

const jsonToProto = (m: MemberJson): MemberPb => ({
  ID: m.id,
  name: m.name ?? "",
  peerURLs: [...(m.peerURLs ?? [])],
  clientURLs: [...(m.clientURLs ?? [])],
  isLearner: m.isLearner ?? false,
});

/** Cluster: the member list as applied on this member, and membership changes through raft. */
export class ClusterApi {
  constructor(private readonly core: ServerCore) {}

  /** Membership changes need the root role when auth is on (etcd's checkMembershipOperationPermission). */
  private async admin(ctx: RequestContext | undefined): Promise<void> {
    if (this.core.auth.enabled)
      await withAuthInfo(this.core, ctx, async (ai) => this.core.auth.checkAdmin(ai));
  }

  async memberList(): Promise<MemberListResponse> {
    return { header: this.core.header(), members: this.core.cluster.toProto() };
  }

  async memberAdd(req: MemberAddRequest, ctx?: RequestContext): Promise<MemberAddResponse> {
    // etcd's MemberAdd parses the URLs before the server checks who asks
    if (!peerUrlList(req.peerURLs)) throw Errors.MemberBadURLs;
    await this.admin(ctx);
    const { member, members } = await this.core.clusterOps.add(req.peerURLs, req.isLearner, ctx?.deadline);
    return {
      header: this.core.header(),
      // etcd answers with the new member's raft attributes only
      member: {
        ID: member.id,
        name: "",
        peerURLs: [...member.peerUrls],
        clientURLs: [],
        isLearner: member.isLearner,
      },
      members: members.map(toProto),
    };
  }

  async memberRemove(req: MemberRemoveRequest, ctx?: RequestContext): Promise<MemberRemoveResponse> {
    await this.admin(ctx);
    const members = await this.core.clusterOps.remove(req.ID, ctx?.deadline);
    return { header: this.core.header(), members: members.map(toProto) };
  }

  async memberUpdate(req: MemberUpdateRequest, ctx?: RequestContext): Promise<MemberUpdateResponse> {
    await this.admin(ctx);
    const members = await this.core.clusterOps.update(req.ID, req.peerURLs, ctx?.deadline);
    return { header: this.core.header(), members: members.map(toProto) };
  }

  async memberPromote(req: MemberPromoteRequest, ctx?: RequestContext): Promise<MemberPromoteResponse> {
    await this.admin(ctx);
    const members = await this.core.clusterOps.promote(req.ID, ctx?.deadline);
    return { header: this.core.header(), members: members.map(jsonToProto) };
  }
}
