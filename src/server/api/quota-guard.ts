import type { InternalRaftRequest } from "../../gen/etcdserverpb/raft_internal.js";
import { AlarmRequest_AlarmAction, AlarmType } from "../../gen/etcdserverpb/rpc.js";
import { Errors, isClientVisibleError } from "../../rpctypes/errors.js";
import { BackendQuota, quotaBytes } from "../quota.js";
import type { ServerCore } from "../server-core.js";

type QuotaRequest = Partial<Pick<InternalRaftRequest, "put" | "txn" | "leaseGrant">>;

/**
 * etcd's quota servers in front of Put, Txn and LeaseGrant: a request that would take the backend
 * past --quota-backend-bytes is refused and raises the NOSPACE alarm through raft; so does a write
 * the apply loop found over the quota.
 */
export class QuotaGuard {
  private readonly quota: BackendQuota;

  constructor(private readonly core: ServerCore) {
    this.quota = new BackendQuota(
      () => quotaBytes(core.cfg.quotaBackendBytes),
      () => core.store.backend.size(),
    );
  }

  run<T>(req: QuotaRequest, work: () => Promise<T>): Promise<T> {
    // (not async: every put and txn passes here)
    if (!this.fits(req)) return this.refuse();
    let done: Promise<T>;
    try {
      done = work();
    } catch (err) {
      done = Promise.reject(err);
    }
    return done.catch(this.failed);
  }

  /** Whether the request fits the quota; one that does not is answered with `refuse()`. */
  fits(req: QuotaRequest): boolean {
    return this.quota.available(req);
  }

  /** The answer to a request past the quota: the NOSPACE alarm raised, then the error. */
  refuse(): Promise<never> {
    return this.raise().then(() => {
      throw Errors.NoSpace;
    });
  }

  /**
   * The failure of a request that fitted: a write the apply loop found over the quota raises the
   * alarm first. A write's own rejection handler (one `then` per request instead of two).
   */
  readonly failed = async (err: unknown): Promise<never> => {
    if (isClientVisibleError(err) && err.grpcMessage === Errors.NoSpace.message) await this.raise();
    throw err;
  };

  private async raise(): Promise<void> {
    const { core } = this;
    if (core.alarms().some((a) => a.alarm === AlarmType.NOSPACE && a.memberID === core.memberId)) return;
    core.log.warn(
      { "quota-size-bytes": core.cfg.quotaBackendBytes },
      "message exceeded backend quota; raising alarm",
    );
    try {
      await core.propose({
        alarm: {
          action: AlarmRequest_AlarmAction.ACTIVATE,
          memberID: core.memberId,
          alarm: AlarmType.NOSPACE,
        },
      });
    } catch (err) {
      core.log.warn({ err }, "failed to raise the NOSPACE alarm");
    }
  }
}
