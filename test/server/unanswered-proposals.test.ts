import assert from "node:assert/strict";
import { test } from "node:test";
import { UnansweredProposals } from "../../src/server/unanswered-proposals.js";

const proposal = (term: number, attempt: () => void) => ({ term, attempt });

test("proposals from terms before the new leader's are proposed again, once per loss, as of the current term", () => {
  const u = new UnansweredProposals();
  const calls: string[] = [];
  u.add(
    1n,
    proposal(3, () => calls.push("a")),
  );
  u.add(
    2n,
    proposal(3, () => calls.push("b")),
  );
  u.add(
    3n,
    proposal(4, () => calls.push("c")),
  );
  u.delete(2n); // answered meanwhile
  assert.equal(u.reproposeFromTermsBefore(4, 4), 1);
  assert.deepEqual(calls, ["a"]);
  // a second look in the same term finds nothing more: the one proposed again now counts as of term 4
  assert.equal(u.reproposeFromTermsBefore(4, 4), 0);
  // leadership moves again before they are answered: both are lost again and proposed once more
  assert.equal(u.reproposeFromTermsBefore(6, 6), 2);
  assert.deepEqual(calls, ["a", "a", "c"]);
  assert.equal(u.reproposed, 3);
  assert.equal(u.size, 2);
});

test("a proposal that waited for a leader counts from the term it was finally made in", () => {
  const u = new UnansweredProposals();
  let made = 0;
  u.add(
    7n,
    proposal(2, () => made++),
  );
  u.retag(7n, 5);
  assert.equal(u.reproposeFromTermsBefore(5, 5), 0);
  assert.equal(made, 0);
  u.delete(7n);
  u.retag(7n, 1); // no longer there: nothing happens
  assert.equal(u.size, 0);
});
