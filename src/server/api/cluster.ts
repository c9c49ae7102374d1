import type { MemberListResponse } from "../../gen/etcdserverpb/rpc.js";
import type { ServerCore } from "../server-core.js";

/** Cluster: the member list as applied on this member. */
export class ClusterApi {
  constructor(private readonly core: ServerCore) {}

  async memberList(): Promise<MemberListResponse> {
    return { header: this.core.header(), members: this.core.cluster.toProto() };
  }
}
