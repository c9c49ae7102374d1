// The checks etcd 3.4 makes before it proposes a membership change (server.go mayAddMember,
// mayRemoveMember, mayPromoteMember with --strict-reconfig-check, the default; isLearnerReady).
// They run on the proposing member only, so they are plain functions of what it sees now.

export const ERR_NOT_ENOUGH_STARTED_MEMBERS =
  "etcdserver: re-configuration failed due to not enough started members";
export const ERR_UNHEALTHY = "etcdserver: unhealthy cluster";
export const ERR_LEARNER_NOT_READY =
  "etcdserver: can only promote a learner member which is in sync with leader";

/** How long a peer must have been connected to count as active (etcd's HealthInterval). */
export const HEALTH_INTERVAL_MS = 5_000;
/** A learner may be promoted once its match index reaches this share of the leader's. */
export const LEARNER_READY_PERCENT = 0.9;

/** A voting member as these checks see it: started = it has published a name. */
export interface VoterView {
  readonly id: bigint;
  readonly name: string;
}

/** What the proposing member knows: itself, and since when (Unix ms) each peer has been active. */
export interface ReconfigContext {
  readonly localId: bigint;
  readonly voters: readonly VoterView[];
  /** The transport's ActiveSince per peer; absent or 0 = not active. */
  readonly activeSince: ReadonlyMap<bigint, number>;
  readonly nowMs: number;
}

const isStarted = (m: VoterView) => m.name.length !== 0;

function connectedSince(ctx: ReconfigContext, id: bigint): boolean {
  const since = ctx.activeSince.get(id) ?? 0;
  return since !== 0 && since < ctx.nowMs - HEALTH_INTERVAL_MS;
}

function numConnected(ctx: ReconfigContext): number {
  return ctx.voters.filter((m) => m.id === ctx.localId || connectedSince(ctx, m.id)).length;
}

function readyToAddVoter(voters: readonly VoterView[]): boolean {
  const members = voters.length + 1;
  const started = voters.filter(isStarted).length;
  // adding a second member to a one-member cluster (restoring a cluster from a backup) is allowed
  if (started === 1 && members === 2) return true;
  return started >= Math.floor(members / 2) + 1;
}

/** MemberAdd: undefined when the member may be added, else etcd's error text. */
export function mayAddMember(ctx: ReconfigContext, isLearner: boolean): string | undefined {
  if (!isLearner && !readyToAddVoter(ctx.voters)) return ERR_NOT_ENOUGH_STARTED_MEMBERS;
  if (numConnected(ctx) !== ctx.voters.length) return ERR_UNHEALTHY;
  return undefined;
}

/** MemberRemove of `id` (`isLearner`: the member exists and is a learner). */
export function mayRemoveMember(ctx: ReconfigContext, id: bigint, isLearner: boolean): string | undefined {
  if (isLearner) return undefined;
  const rest = ctx.voters.filter((m) => m.id !== id);
  if (rest.filter(isStarted).length < Math.floor(rest.length / 2) + 1) return ERR_NOT_ENOUGH_STARTED_MEMBERS;
  // a member that is down is not part of the active quorum: removing it is safe
  if (id !== ctx.localId && (ctx.activeSince.get(id) ?? 0) === 0) return undefined;
  const active = numConnected(ctx);
  if (active - 1 < 1 + Math.floor((ctx.voters.length - 1) / 2)) return ERR_UNHEALTHY;
  return undefined;
}

/**
 * The leader's readiness check for a promotion: the learner's match index is at least 90 % of the
 * leader's. A learner missing from the progress map passes (the apply step refuses it later).
 */
export function isLearnerReady(leaderMatch: bigint, learnerMatch: bigint | undefined): boolean {
  if (learnerMatch === undefined) return true;
  return Number(learnerMatch) >= Number(leaderMatch) * LEARNER_READY_PERCENT;
}

/** MemberPromote on the leader: readiness first, then the quorum of started members. */
export function mayPromoteMember(
  ctx: ReconfigContext,
  leaderMatch: bigint,
  learnerMatch: bigint | undefined,
): string | undefined {
  if (!isLearnerReady(leaderMatch, learnerMatch)) return ERR_LEARNER_NOT_READY;
  // the learner counts as a started future voter
  const members = ctx.voters.length + 1;
  const started = ctx.voters.filter(isStarted).length + 1;
  if (started < Math.floor(members / 2) + 1) return ERR_NOT_ENOUGH_STARTED_MEMBERS;
  return undefined;
}
