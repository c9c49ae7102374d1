// When `hasleader` streams are cancelled (etcd's monitorLeader): only after three election timeouts
// without a leader, then at every further one; a leader found in between resets the count.
import assert from "node:assert/strict";
import { test } from "node:test";
import { TestScheduler } from "rxjs/testing";
import { leaderLoss, NO_LEADER_ELECTIONS } from "../../src/server/api/leader-loss.js";

const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
const L = { lead: 7n };
const N = { lead: 0n };

test("three election timeouts without a leader, then every election timeout", () => {
  assert.equal(NO_LEADER_ELECTIONS, 3);
  scheduler().run(({ cold, expectObservable }) => {
    // leader lost at 10 ms; election timeout 10 ms
    const leadership$ = cold("a 9ms b", { a: L, b: N });
    expectObservable(leaderLoss(leadership$, 10), "^ 65ms !").toBe("40ms x 9ms x 9ms x", { x: undefined });
  });
});

test("a leader found before the third timeout cancels nothing; losing it again starts over", () => {
  scheduler().run(({ cold, expectObservable }) => {
    // lost at 0, found at 25 (before 30), lost again at 40: first cancellation at 70
    const leadership$ = cold("b 24ms a 14ms b", { a: L, b: N });
    expectObservable(leaderLoss(leadership$, 10), "^ 75ms !").toBe("70ms x", { x: undefined });
  });
});

test("term changes under the same leader do not restart the count", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const leadership$ = cold("b 9ms c 9ms d", { b: N, c: { lead: 0n }, d: { lead: 0n } });
    expectObservable(leaderLoss(leadership$, 10), "^ 35ms !").toBe("30ms x", { x: undefined });
  });
});
