import type { Logger } from "pino";
import { EMPTY, type Observable } from "rxjs";
import type { ClientApi } from "../server/client-api.js";
import type { EtcdServer } from "../server/etcd-server.js";
import { startApplyPath } from "./apply-path.js";
import { withProposalOperator } from "./proposal-path.js";
import { type AppliedRequest, composeOperators, type FeedOperator, type Operators } from "./types.js";

/** A member's operators in place: the client API to serve, the feed's operator, the apply path's output. */
export interface WiredOperators {
  readonly api: ClientApi;
  readonly feed: FeedOperator | undefined;
  readonly appliedResults$: Observable<AppliedRequest>;
  close(): Promise<void>;
}

/** Applied entries that may wait behind a slow apply operator before their observation is dropped. */
const MAX_PENDING_APPLIES = 10_000;

export function wireOperators(
  server: EtcdServer,
  ops: Operators | undefined,
  logger: Logger,
): WiredOperators {
  const timeoutMs = ops?.timeoutMs ?? 1000;
  const applies = ops?.applies
    ? startApplyPath(server, composeOperators(ops.applies), {
        timeoutMs,
        maxPending: MAX_PENDING_APPLIES,
        logger,
      })
    : undefined;
  return {
    api: ops?.proposals
      ? withProposalOperator(server.api, composeOperators(ops.proposals), timeoutMs)
      : server.api,
    feed: ops?.feed ? composeOperators(ops.feed) : undefined,
    appliedResults$: applies?.results$ ?? EMPTY,
    close: async () => applies?.close(),
  };
}
