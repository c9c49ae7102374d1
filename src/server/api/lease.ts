import type { RequestContext } from "../../auth/context.js";
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
import { forwardLeaseRenew, forwardLeaseTimeToLive } from "../../transport/peer-client.js";
import type { KeepAliveResult } from "../client-api.js";
import { requestTimeoutMs, type ServerCore, withHeader } from "../server-core.js";
import { proposer, withAuthInfo } from "./authorize.js";
import { untilDeadline } from "./client-deadline.js";
import type { QuotaGuard } from "./quota-guard.js";

/**
 * Leases: grants and revokes go through raft and are checked when applied (a known lease, a TTL in bounds, and for
 * a revoke the right to write every key of the lease); keep-alives and TTL queries are the leader's to answer.
 */
export class LeaseApi {
  constructor(
    private readonly core: ServerCore,
    private readonly quota: QuotaGuard,
  ) {}

  async leaseGrant(req: LeaseGrantRequest, ctx?: RequestContext): Promise<LeaseGrantResponse> {
    const { core } = this;
    let id = req.ID;
    while (id === 0n) id = BigInt.asIntN(64, core.idGen.next() & ((1n << 63n) - 1n));
    // as etcd, a TTL too large or an id in use is refused when applied, not before proposing
    return this.quota.run({ leaseGrant: req }, () =>
      withAuthInfo(core, ctx, async (ai) => {
        const r = await core.propose(
          { leaseGrant: { TTL: req.TTL, ID: id }, ...proposer(ai) },
          ctx?.deadline,
        );
        return withHeader(core, r.resp as LeaseGrantResponse);
      }),
    );
  }

  /** An unknown lease is refused when applied (etcd proposes every revoke). */
  async leaseRevoke(req: LeaseRevokeRequest, ctx?: RequestContext): Promise<LeaseRevokeResponse> {
    return withAuthInfo(this.core, ctx, async (ai) => {
      const r = await this.core.propose({ leaseRevoke: req, ...proposer(ai) }, ctx?.deadline);
      return withHeader(this.core, r.resp as LeaseRevokeResponse);
    });
  }

  /** The leader's peer URLs, or etcd's no-leader error. */
  private leaderUrls(): string[] {
    const { core } = this;
    const leader = core.raft.hasLeader ? core.cluster.member(core.raft.lead) : undefined;
    if (!leader) throw Errors.NoLeader;
    return leader.peerUrls;
  }

  async leaseKeepAlive(id: bigint): Promise<KeepAliveResult> {
    const { core } = this;
    if (!core.raft.leadership$.value.isLeader) {
      // keep-alives are not replicated: a follower asks the leader, which holds the expiry clocks
      const ttl = await forwardLeaseRenew(
        this.leaderUrls(),
        id,
        requestTimeoutMs(core.cfg),
        core.cfg.peerTls,
      );
      return { header: core.header(), id, ttl };
    }
    let ttl = 0;
    try {
      ttl = core.lessor.renew(id);
    } catch (err) {
      if (!(err instanceof EtcdError && err.message === Errors.LeaseNotFound.message)) throw err;
    }
    return { header: core.header(), id, ttl };
  }

  /**
   * With auth on, the keys of a lease are listed only to a user who may read every one of them (etcd's
   * fix for CVE-2023-32082, after 3.4.23: etcd 3.4 lists them to anyone). Everything else is answered
   * as etcd 3.4 answers it, to anyone.
   */
  async leaseTimeToLive(req: LeaseTimeToLiveRequest, ctx?: RequestContext): Promise<LeaseTimeToLiveResponse> {
    const { core } = this;
    if (core.auth.enabled && req.keys && (core.lessor.timeToLive(req.ID)?.keys.length ?? 0) > 0) {
      await withAuthInfo(core, ctx, async (ai) => {
        if (!ai) throw Errors.UserEmpty;
        for (const key of core.lessor.timeToLive(req.ID)?.keys ?? [])
          core.auth.checkAccess(ai, key, Buffer.alloc(0), "read");
      });
    }
    if (!core.raft.leadership$.value.isLeader) {
      // the remaining TTL is the leader's: ask it (etcd forwards over the peer port's /leases/internal),
      // until the request timeout or the client's deadline ("request timed out" either way)
      const t = await untilDeadline(
        forwardLeaseTimeToLive(
          this.leaderUrls(),
          req.ID,
          req.keys,
          requestTimeoutMs(core.cfg),
          core.cfg.peerTls,
        ),
        ctx?.deadline,
        Errors.Timeout,
      );
      return { header: core.header(), ID: req.ID, TTL: t.ttl, grantedTTL: t.grantedTtl, keys: t.keys };
    }
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
