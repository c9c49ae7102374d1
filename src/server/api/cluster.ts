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
import type { ServerCore } from "../server-core.js";

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

  async memberList(): Promise<MemberListResponse> {
    return { header: this.core.header(), members: this.core.cluster.toProto() };
  }

  async memberAdd(req: MemberAddRequest): Promise<MemberAddResponse> {
    const { member, members } = await this.core.clusterOps.add(req.peerURLs, req.isLearner);
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

  async memberRemove(req: MemberRemoveRequest): Promise<MemberRemoveResponse> {
    const members = await this.core.clusterOps.remove(req.ID);
    return { header: this.core.header(), members: members.map(toProto) };
  }

  async memberUpdate(req: MemberUpdateRequest): Promise<MemberUpdateResponse> {
    const members = await this.core.clusterOps.update(req.ID, req.peerURLs);
    return { header: this.core.header(), members: members.map(toProto) };
  }

  async memberPromote(req: MemberPromoteRequest): Promise<MemberPromoteResponse> {
    const members = await this.core.clusterOps.promote(req.ID);
    return { header: this.core.header(), members: members.map(jsonToProto) };
  }
}
