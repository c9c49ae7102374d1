// The proposal path: client writes pass the user's proposal operators before they reach Raft.
import { defaultIfEmpty, firstValueFrom, of } from "rxjs";
import { contained } from "../../streams/operators/contained.js";
import { formatId } from "../membership/ids.js";
import { EtcdError, GrpcCode } from "../rpctypes/errors.js";
import type { ClientApi } from "../server/client-api.js";
import type { Proposal, ProposalOperator } from "./types.js";

const REFUSED = Symbol("refused");

/** Runs one proposal through the operator: the proposal to go on with, or the client's error. */
export async function evaluateProposal(
  op: ProposalOperator,
  proposal: Proposal,
  timeoutMs: number,
): Promise<Proposal> {
  let failure: EtcdError | undefined;
  const out = await firstValueFrom(
    of(proposal).pipe(
      contained(op, {
        timeoutMs,
        maxPending: 0,
        onFailure: (f) => {
          if (f.reason === "timeout")
            failure = new EtcdError(
              GrpcCode.DeadlineExceeded,
              `etcdserver: proposal operator did not answer within ${timeoutMs}ms`,
            );
          else if (f.reason === "error")
            failure =
              f.error instanceof EtcdError
                ? f.error
                : new EtcdError(
                    GrpcCode.FailedPrecondition,
                    `etcdserver: request refused by a proposal operator: ${f.error instanceof Error ? f.error.message : String(f.error)}`,
                  );
        },
      }),
      defaultIfEmpty(REFUSED),
    ),
  );
  if (failure) throw failure;
  if (out === REFUSED)
    throw new EtcdError(GrpcCode.FailedPrecondition, "etcdserver: request refused by a proposal operator");
  if (out.kind !== proposal.kind)
    throw new EtcdError(GrpcCode.Internal, "etcdserver: a proposal operator changed the kind of a request");
  return out;
}

/** The client API with every write passing `op` first (reads and everything else unchanged). */
export function withProposalOperator(api: ClientApi, op: ProposalOperator, timeoutMs: number): ClientApi {
  const member = formatId(api.memberId);
  type RequestOf<K extends Proposal["kind"]> = Extract<Proposal, { kind: K }>["request"];
  const run = async <K extends Proposal["kind"]>(kind: K, request: RequestOf<K>): Promise<RequestOf<K>> => {
    const p = { kind, request, member, at: Date.now() } as Proposal;
    return (await evaluateProposal(op, p, timeoutMs)).request as RequestOf<K>;
  };
  const writes: Partial<ClientApi> = {
    put: async (request) => api.put(await run("put", request)),
    deleteRange: async (request) => api.deleteRange(await run("deleteRange", request)),
    txn: async (request) => {
      const readOnly = [...request.success, ...request.failure].every((o) => o.requestRange !== undefined);
      if (readOnly) return api.txn(request);
      return api.txn(await run("txn", request));
    },
    compact: async (request) => api.compact(await run("compaction", request)),
    leaseGrant: async (request) => api.leaseGrant(await run("leaseGrant", request)),
    leaseRevoke: async (request) => api.leaseRevoke(await run("leaseRevoke", request)),
    alarm: async (request) => {
      // GET only reads
      if (request.action === 0) return api.alarm(request);
      return api.alarm(await run("alarm", request));
    },
  };
  return new Proxy(api, {
    get(target, prop) {
      if (typeof prop === "string" && prop in writes) return writes[prop as keyof ClientApi];
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
