import assert from "node:assert/strict";
import { test } from "node:test";
import {
  ERR_LEARNER_NOT_READY,
  ERR_NOT_ENOUGH_STARTED_MEMBERS,
  ERR_UNHEALTHY,
  isLearnerReady,
  mayAddMember,
  mayPromoteMember,
  mayRemoveMember,
  type ReconfigContext,
  type VoterView,
} from "../../src/membership/reconfig-checks.js";

const NOW = 1_700_000_000_000;
const LONG_AGO = NOW - 60_000;
const JUST_NOW = NOW - 1_000;

function ctx(voters: VoterView[], active: Array<[bigint, number]>): ReconfigContext {
  return { localId: 1n, voters, activeSince: new Map(active), nowMs: NOW };
}
const started = (id: bigint): VoterView => ({ id, name: `m${id}` });
const unstarted = (id: bigint): VoterView => ({ id, name: "" });

test("adding a voter needs a quorum of started members and every voter connected for 5 s", () => {
  const three = [started(1n), started(2n), started(3n)];
  assert.equal(
    mayAddMember(
      ctx(three, [
        [2n, LONG_AGO],
        [3n, LONG_AGO],
      ]),
      false,
    ),
    undefined,
  );
  assert.equal(
    mayAddMember(
      ctx(three, [
        [2n, LONG_AGO],
        [3n, JUST_NOW],
      ]),
      false,
    ),
    ERR_UNHEALTHY,
  );
  assert.equal(mayAddMember(ctx(three, [[2n, LONG_AGO]]), false), ERR_UNHEALTHY);
  // 4 members after the add, 2 started: below the quorum of 3
  const halfStarted = [started(1n), started(2n), unstarted(3n)];
  assert.equal(
    mayAddMember(
      ctx(halfStarted, [
        [2n, LONG_AGO],
        [3n, LONG_AGO],
      ]),
      false,
    ),
    ERR_NOT_ENOUGH_STARTED_MEMBERS,
  );
  // a learner does not need the quorum, only the connections
  assert.equal(
    mayAddMember(
      ctx(halfStarted, [
        [2n, LONG_AGO],
        [3n, LONG_AGO],
      ]),
      true,
    ),
    undefined,
  );
  // the second member of a one-member cluster (restoring from a backup) is allowed
  assert.equal(mayAddMember(ctx([started(1n)], []), false), undefined);
});

test("removing a voter keeps a quorum of started and of active members; learners and dead members go freely", () => {
  const three = [started(1n), started(2n), started(3n)];
  assert.equal(
    mayRemoveMember(
      ctx(three, [
        [2n, LONG_AGO],
        [3n, LONG_AGO],
      ]),
      3n,
      false,
    ),
    undefined,
  );
  assert.equal(
    mayRemoveMember(ctx(three, [[2n, LONG_AGO]]), 3n, false),
    undefined,
    "3 is down: not in the active quorum",
  );
  // removing 2 while 3 is down leaves 1 of 2 active
  assert.equal(mayRemoveMember(ctx(three, [[2n, LONG_AGO]]), 2n, false), ERR_UNHEALTHY);
  assert.equal(mayRemoveMember(ctx(three, [[2n, LONG_AGO]]), 1n, false), ERR_UNHEALTHY, "removing itself");
  const unstartedRest = [started(1n), unstarted(2n), unstarted(3n)];
  assert.equal(
    mayRemoveMember(
      ctx(unstartedRest, [
        [2n, LONG_AGO],
        [3n, LONG_AGO],
      ]),
      1n,
      false,
    ),
    ERR_NOT_ENOUGH_STARTED_MEMBERS,
  );
  assert.equal(mayRemoveMember(ctx(unstartedRest, []), 9n, true), undefined, "a learner");
});

test("a learner is ready at 90 % of the leader's match index", () => {
  assert.equal(isLearnerReady(100n, 90n), true);
  assert.equal(isLearnerReady(100n, 89n), false);
  assert.equal(isLearnerReady(0n, 0n), true);
  assert.equal(isLearnerReady(100n, undefined), true, "not in the progress map: the apply step decides");
  const three = [started(1n), started(2n), started(3n)];
  assert.equal(mayPromoteMember(ctx(three, []), 1000n, 899n), ERR_LEARNER_NOT_READY);
  assert.equal(mayPromoteMember(ctx(three, []), 1000n, 900n), undefined);
  assert.equal(
    mayPromoteMember(ctx([started(1n), unstarted(2n), unstarted(3n)], []), 10n, 10n),
    ERR_NOT_ENOUGH_STARTED_MEMBERS,
  );
  assert.equal(mayPromoteMember(ctx([started(1n), unstarted(2n)], []), 10n, 10n), undefined);
});
