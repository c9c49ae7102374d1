import type { RequestContext } from "../../auth/context.js";
import { checkTxn } from "../../auth/request-permissions.js";
import type {
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from "../../gen/etcdserverpb/rpc.js";
import type { ApplyResult } from "../apply.js";
import { type ServerCore, withHeader } from "../server-core.js";
import { proposer, serialized, withAuthInfo } from "./authorize.js";
import type { QuotaGuard } from "./quota-guard.js";

/**
 * KV: reads answer locally (after a ReadIndex round unless serializable) once the user may read
 * the range; writes go through raft carrying the user, and are checked when applied.
 */
export class KvApi {
  constructor(
    private readonly core: ServerCore,
    private readonly quota: QuotaGuard,
  ) {}

  range(req: RangeRequest, ctx?: RequestContext): Promise<RangeResponse> {
    // The hottest request of all: no async frames, so a serializable read answers in one step and a
    // linearizable one in one more after its ReadIndex round.
    try {
      this.core.kv.checkRange(req);
    } catch (err) {
      return Promise.reject(err);
    }
    if (req.serializable) return this.readRange(req, ctx);
    return this.core.reads.waitReadable().then(() => this.readRange(req, ctx));
  }

  private readRange(req: RangeRequest, ctx: RequestContext | undefined): Promise<RangeResponse> {
    const { core } = this;
    return withAuthInfo(core, ctx, (ai) => {
      try {
        return Promise.resolve(
          withHeader(
            core,
            serialized(
              core,
              ai,
              () => core.auth.checkAccess(ai, req.key, req.rangeEnd, "read"),
              () => core.kv.range(req),
            ),
          ),
        );
      } catch (err) {
        return Promise.reject(err);
      }
    });
  }

  // Writes without async frames of their own (every put passes here): a failed check is a rejection.
  put(req: PutRequest, ctx?: RequestContext): Promise<PutResponse> {
    const { core, quota } = this;
    try {
      core.kv.checkPut(req);
    } catch (err) {
      return Promise.reject(err);
    }
    const proposal = { put: req };
    if (!quota.fits(proposal)) return quota.refuse();
    return withAuthInfo(core, ctx, (ai) =>
      core
        .propose(ai ? { ...proposal, ...proposer(ai) } : proposal, ctx?.deadline)
        .then(this.putAnswer, quota.failed),
    );
  }

  /** The answers of applied writes, with this member's header (one function each, not one per request). */
  private readonly putAnswer = (r: ApplyResult) => withHeader(this.core, r.resp as PutResponse);
  private readonly txnAnswer = (r: ApplyResult) => withHeader(this.core, r.resp as TxnResponse);

  async deleteRange(req: DeleteRangeRequest, ctx?: RequestContext): Promise<DeleteRangeResponse> {
    this.core.kv.checkDeleteRange(req);
    return withAuthInfo(this.core, ctx, async (ai) => {
      const r = await this.core.propose({ deleteRange: req, ...proposer(ai) }, ctx?.deadline);
      return withHeader(this.core, r.resp as DeleteRangeResponse);
    });
  }

  txn(req: TxnRequest, ctx?: RequestContext): Promise<TxnResponse> {
    const { core } = this;
    try {
      core.kv.checkTxn(req);
    } catch (err) {
      return Promise.reject(err);
    }
    if (core.kv.isReadOnlyTxn(req)) return this.readOnlyTxn(req, ctx);
    const { quota } = this;
    const proposal = { txn: req };
    if (!quota.fits(proposal)) return quota.refuse();
    return withAuthInfo(core, ctx, (ai) =>
      core
        .propose(ai ? { ...proposal, ...proposer(ai) } : proposal, ctx?.deadline)
        .then(this.txnAnswer, quota.failed),
    );
  }

  /** A txn of ranges only: read here, after a ReadIndex round unless every range is serializable. */
  private async readOnlyTxn(req: TxnRequest, ctx?: RequestContext): Promise<TxnResponse> {
    const { core } = this;
    if (!core.kv.isSerializableTxn(req)) await core.reads.waitReadable();
    return withAuthInfo(core, ctx, async (ai) =>
      withHeader(
        core,
        serialized(
          core,
          ai,
          () => checkTxn(core.auth, ai, req),
          () => core.kv.readOnlyTxn(req),
        ),
      ),
    );
  }

  async compact(req: CompactionRequest, ctx?: RequestContext): Promise<CompactionResponse> {
    return withAuthInfo(this.core, ctx, async (ai) => {
      const r = await this.core.propose({ compaction: req, ...proposer(ai) }, ctx?.deadline);
      if (req.physical && r.done) await r.done;
      return withHeader(this.core, r.resp as CompactionResponse);
    });
  }
}
