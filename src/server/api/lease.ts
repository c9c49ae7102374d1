import type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
} from "../../gen/etcdserverpb/rpc.js";
import { Errors, EtcdError } from "../../rpctypes/errors.js";
import type { KeepAliveResult } from "../client-api.js";
import { type ServerCore, withHeader } from "../server-core.js";

/** Leases: grants and revokes go through raft; keep-alives and TTL queries are the leader's to answer. */
export class LeaseApi {
  constructor(private readonly core: ServerCore) {}

  async leaseGrant(req: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const { core } = this;
    let id = req.ID;
    while (id === 0n) id = BigInt.asIntN(64, core.idGen.next() & ((1n << 63n) - 1n));
    core.lessor.checkGrant(id, req.TTL);
    const r = await core.propose({ leaseGrant: { TTL: req.TTL, ID: id } });
    return withHeader(core, r.resp as LeaseGrantResponse);
  }

  async leaseRevoke(req: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    if (!this.core.lessor.has(req.ID)) throw Errors.LeaseNotFound;
    const r = await this.core.propose({ leaseRevoke: req });
    return withHeader(this.core, r.resp as LeaseRevokeResponse);
  }

  async leaseKeepAlive(id: bigint): Promise<KeepAliveResult> {
    const { core } = this;
    if (!core.raft.leadership$.value.isLeader) {
      if (!core.raft.hasLeader) throw Errors.NoLeader;
      throw Errors.NotLeader;
    }
    let ttl = 0;
    try {
      ttl = core.lessor.renew(id);
    } catch (err) {
      if (!(err instanceof EtcdError && err.message === Errors.LeaseNotFound.message)) throw err;
    }
    return { header: core.header(), id, ttl };
  }

  async leaseTimeToLive(req: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    const { core } = this;
    const t = core.lessor.timeToLive(req.ID);
    if (!t) return { header: core.header(), ID: req.ID, TTL: -1, grantedTTL: 0, keys: [] };
    return {
      header: core.header(),
      ID: req.ID,
      TTL: t.ttl,
      grantedTTL: t.grantedTtl,
      keys: req.keys ? t.keys : [],
    };
  }

  async leaseLeases(): Promise<LeaseLeasesResponse> {
    return { header: this.core.header(), leases: this.core.lessor.ids().map((ID) => ({ ID })) };
  }
}
