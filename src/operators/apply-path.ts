// The apply path: applied entries, decoded, through the user's apply operators, after the FIFO apply.
import { concatMap, from, Subject, type Subscription } from "rxjs";
import { contained } from "../../streams/operators/contained.js";
import { requestKind } from "../feed/request-kind.js";
import { InternalRaftRequest } from "../gen/etcdserverpb/raft_internal.js";
import { EntryType } from "../gen/raftpb/raft.js";
import { formatId } from "../membership/ids.js";
import type { EtcdServer } from "../server/etcd-server.js";
import type { AppliedRequest, ApplyOperator } from "./types.js";

export interface ApplyPathOptions {
  timeoutMs: number;
  /** Applied entries that may wait behind a slow operator run; beyond it they are not observed. */
  maxPending: number;
  logger?: { warn(obj: object, msg?: string): void };
}

/** A running apply path: what the operators emit, and how to stop it. */
export interface ApplyPath {
  readonly results$: Subject<AppliedRequest>;
  close(): void;
}

export function startApplyPath(server: EtcdServer, op: ApplyOperator, options: ApplyPathOptions): ApplyPath {
  const member = formatId(server.memberId);
  const results$ = new Subject<AppliedRequest>();
  const sub: Subscription = server.applied$
    .pipe(
      concatMap((batch) => {
        const revision = server.store.currentRev();
        const out: AppliedRequest[] = [];
        for (const e of batch.entries) {
          if (e.type !== EntryType.EntryNormal || e.data.length === 0) continue;
          const kind = requestKind(e.data);
          // etcd's internal v2 requests (member attributes, the cluster version) are not
          // InternalRaftRequests: decoding one as such fails, and would end the path
          if (kind === "v2" || kind === "unknown") continue;
          let request: InternalRaftRequest;
          try {
            request = InternalRaftRequest.decode(e.data);
          } catch {
            continue;
          }
          out.push({ member, index: e.index, term: e.term, kind, request, revision });
        }
        return from(out);
      }),
      contained(op, {
        timeoutMs: options.timeoutMs,
        maxPending: options.maxPending,
        onFailure: (f) =>
          options.logger?.warn(
            {
              reason: f.reason,
              index: f.value.index,
              err: f.reason === "error" ? String(f.error) : undefined,
            },
            "apply operator failed on an entry; its observation is lost, the member goes on",
          ),
      }),
    )
    .subscribe((r) => results$.next(r));
  return {
    results$,
    close: () => {
      sub.unsubscribe();
      results$.complete();
    },
  };
}
