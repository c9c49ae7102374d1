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
import { type ServerCore, withHeader } from "../server-core.js";

/** KV: reads answer locally (after a ReadIndex round unless serializable); writes go through raft. */
export class KvApi {
  constructor(private readonly core: ServerCore) {}

  async range(req: RangeRequest): Promise<RangeResponse> {
    const { core } = this;
    core.kv.checkRange(req);
    if (!req.serializable) await core.reads.waitReadable();
    return withHeader(core, core.kv.range(req));
  }

  async put(req: PutRequest): Promise<PutResponse> {
    this.core.kv.checkPut(req);
    const r = await this.core.propose({ put: req });
    return withHeader(this.core, r.resp as PutResponse);
  }

  async deleteRange(req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
    this.core.kv.checkDeleteRange(req);
    const r = await this.core.propose({ deleteRange: req });
    return withHeader(this.core, r.resp as DeleteRangeResponse);
  }

  async txn(req: TxnRequest): Promise<TxnResponse> {
    const { core } = this;
    core.kv.checkTxn(req);
    if (core.kv.isReadOnlyTxn(req)) {
      if (!core.kv.isSerializableTxn(req)) await core.reads.waitReadable();
      return withHeader(core, core.kv.readOnlyTxn(req));
    }
    const r = await core.propose({ txn: req });
    return withHeader(core, r.resp as TxnResponse);
  }

  async compact(req: CompactionRequest): Promise<CompactionResponse> {
    const r = await this.core.propose({ compaction: req });
    if (req.physical && r.done) await r.done;
    return withHeader(this.core, r.resp as CompactionResponse);
  }
}
