// Properties of the pure Raft helpers, each checked against a brute-force definition or a reference model.
// A failure prints the seed and path, and the command that replays exactly that case.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { JointConfig } from "../../src/raft/quorum/joint.js";
import { MajorityConfig } from "../../src/raft/quorum/majority.js";
import { mapAckIndexer, VoteResult } from "../../src/raft/quorum/types.js";
import { Inflights } from "../../src/raft/tracker/inflights.js";
import { Progress } from "../../src/raft/tracker/progress.js";
import { ProgressState } from "../../src/raft/tracker/state.js";
import { ProgressTracker } from "../../src/raft/tracker/tracker.js";

const FILE = "test/raft/properties.test.ts";

function checkProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  property: fc.IProperty<Ts>,
  numRuns: number,
): void {
  const seed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
  const params: fc.Parameters<Ts> =
    seed === undefined ? { numRuns } : { numRuns, seed, path: process.env.FC_PATH };
  const details = fc.check(property, params);
  if (details.failed) {
    const replay = `FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ""} node --import tsx --test --test-name-pattern="${name}" ${FILE}`;
    throw new Error(
      `${fc.defaultReportMessage(details) ?? "property failed"}\n{ seed: ${details.seed}, path: "${details.counterexamplePath}" }\nreplay: ${replay}`,
    );
  }
}

// ---- brute-force definitions ----

/** The largest index i such that a majority of the voters acked at least i (a missing ack counts as 0). */
function bruteCommitted(voters: ReadonlySet<bigint>, acked: ReadonlyMap<bigint, number>): number {
  if (voters.size === 0) return Number.POSITIVE_INFINITY;
  const quorum = Math.floor(voters.size / 2) + 1;
  const values = [...voters].map((id) => acked.get(id) ?? 0);
  let best = 0;
  for (const i of values) {
    if (values.filter((v) => v >= i).length >= quorum) best = Math.max(best, i);
  }
  return best;
}

/** Won iff a majority said yes; lost iff even all missing votes could not make a majority; else pending. */
function bruteVote(voters: ReadonlySet<bigint>, votes: ReadonlyMap<bigint, boolean>): VoteResult {
  if (voters.size === 0) return VoteResult.VoteWon;
  const quorum = Math.floor(voters.size / 2) + 1;
  const ids = [...voters];
  const yes = ids.filter((id) => votes.get(id) === true).length;
  const missing = ids.filter((id) => !votes.has(id)).length;
  if (yes >= quorum) return VoteResult.VoteWon;
  if (yes + missing < quorum) return VoteResult.VoteLost;
  return VoteResult.VotePending;
}

// ---- generators ----

const idSet = (max: number) =>
  fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: max }).map((a) => new Set(a.map(BigInt)));
// Acks for ids 1..12; an absent entry is a voter that has not reported.
const acks = fc
  .array(fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }), { minLength: 12, maxLength: 12 })
  .map((a) => {
    const m = new Map<bigint, number>();
    a.forEach((v, i) => {
      if (v !== undefined) m.set(BigInt(i + 1), v);
    });
    return m;
  });
const voteMap = fc
  .array(fc.constantFrom<boolean | undefined>(true, false, undefined), { minLength: 12, maxLength: 12 })
  .map((a) => {
    const m = new Map<bigint, boolean>();
    a.forEach((v, i) => {
      if (v !== undefined) m.set(BigInt(i + 1), v);
    });
    return m;
  });

// ---- quorum ----

test("majority committed index is the largest index acked by a majority", () => {
  checkProperty(
    "majority committed index",
    fc.property(idSet(9), acks, (voters, acked) => {
      const c = new MajorityConfig(voters);
      const got = c.committedIndex(mapAckIndexer(acked));
      assert.equal(got, bruteCommitted(voters, acked));
      // Raising any voter's ack never lowers the committed index.
      for (const id of voters) {
        const raised = new Map(acked).set(id, (acked.get(id) ?? 0) + 5);
        assert.ok(c.committedIndex(mapAckIndexer(raised)) >= got);
      }
    }),
    1000,
  );
});

test("joint committed index is the minimum of both halves and symmetric", () => {
  checkProperty(
    "joint committed index",
    fc.property(idSet(7), idSet(7), acks, (incoming, outgoing, acked) => {
      const l = mapAckIndexer(acked);
      const j = new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing));
      const want = Math.min(bruteCommitted(incoming, acked), bruteCommitted(outgoing, acked));
      assert.equal(j.committedIndex(l), want);
      assert.equal(
        new JointConfig(new MajorityConfig(outgoing), new MajorityConfig(incoming)).committedIndex(l),
        want,
      );
      // A config joint with itself or with an empty half behaves like the majority alone.
      assert.equal(
        new JointConfig(new MajorityConfig(incoming), new MajorityConfig(incoming)).committedIndex(l),
        bruteCommitted(incoming, acked),
      );
    }),
    1000,
  );
});

test("vote results agree with the brute-force definition and are monotone", () => {
  checkProperty(
    "vote results agree",
    fc.property(idSet(9), idSet(9), voteMap, (incoming, outgoing, votes) => {
      const c = new MajorityConfig(incoming);
      const r = c.voteResult(votes);
      assert.equal(r, bruteVote(incoming, votes));
      // Joint: won only if both won, lost if either lost.
      const r1 = bruteVote(incoming, votes);
      const r2 = bruteVote(outgoing, votes);
      const want =
        r1 === VoteResult.VoteWon && r2 === VoteResult.VoteWon
          ? VoteResult.VoteWon
          : r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost
            ? VoteResult.VoteLost
            : VoteResult.VotePending;
      const j = new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing));
      assert.equal(j.voteResult(votes), want);
      // A missing vote arriving never undoes a decided outcome: yes can only help, no can only hurt.
      for (const id of j.ids()) {
        if (votes.has(id)) continue;
        const withYes = j.voteResult(new Map(votes).set(id, true));
        const withNo = j.voteResult(new Map(votes).set(id, false));
        if (want !== VoteResult.VotePending) {
          assert.equal(withYes, want);
          assert.equal(withNo, want);
        } else {
          assert.notEqual(withYes, VoteResult.VoteLost);
          assert.notEqual(withNo, VoteResult.VoteWon);
        }
      }
    }),
    1000,
  );
});

test("tracker committed index and tally follow the voters' matches and votes", () => {
  checkProperty(
    "tracker committed index and tally",
    fc.property(idSet(7), idSet(7), acks, voteMap, (incoming, outgoing, acked, votes) => {
      const t = new ProgressTracker(4);
      t.config.voters = new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing));
      // Every voter is tracked; some extra ids are tracked as learners (their matches must not count).
      for (const id of t.config.voters.ids())
        t.progress.set(id, new Progress({ match: acked.get(id) ?? 0, next: 1 }));
      for (let id = 13n; id <= 14n; id++) {
        t.config.learners.add(id);
        t.progress.set(id, new Progress({ match: 99, next: 100, isLearner: true }));
        votes.set(id, true);
      }
      const matches = new Map([...t.progress].map(([id, p]) => [id, p.match]));
      assert.equal(
        t.committed(),
        Math.min(bruteCommitted(incoming, matches), bruteCommitted(outgoing, matches)),
      );
      for (const [id, v] of votes) t.recordVote(id, v);
      // A second vote by the same member is ignored.
      for (const [id, v] of votes) t.recordVote(id, !v);
      const { granted, rejected, result } = t.tallyVotes();
      const voterIds = [...t.config.voters.ids()];
      assert.equal(granted, voterIds.filter((id) => votes.get(id) === true).length);
      assert.equal(rejected, voterIds.filter((id) => votes.get(id) === false).length);
      assert.equal(result, t.config.voters.voteResult(votes));
      const visited: bigint[] = [];
      t.visit((id) => visited.push(id));
      assert.deepEqual(
        visited,
        [...t.progress.keys()].sort((a, b) => (a < b ? -1 : 1)),
      );
    }),
    500,
  );
});

// ---- progress ----

type ProgressOp =
  | { kind: "update"; n: number }
  | { kind: "optimistic"; k: number }
  | { kind: "reject"; genuine: boolean; offset: number; hintAbove: number }
  | { kind: "probe" }
  | { kind: "replicate" }
  | { kind: "snapshot"; above: number };

const progressOp: fc.Arbitrary<ProgressOp> = fc.oneof(
  fc.record({ kind: fc.constant("update" as const), n: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ kind: fc.constant("optimistic" as const), k: fc.integer({ min: 0, max: 5 }) }),
  fc.record({
    kind: fc.constant("reject" as const),
    genuine: fc.boolean(),
    offset: fc.integer({ min: 0, max: 10 }),
    hintAbove: fc.integer({ min: 0, max: 10 }),
  }),
  fc.record({ kind: fc.constant("probe" as const) }),
  fc.record({ kind: fc.constant("replicate" as const) }),
  fc.record({ kind: fc.constant("snapshot" as const), above: fc.integer({ min: 0, max: 10 }) }),
);

interface ProgressModel {
  match: number;
  next: number;
  state: ProgressState;
  pendingSnapshot: number;
  probeSent: boolean;
}

test("progress transitions keep match < next, never lower match, and follow etcd's rules", () => {
  checkProperty(
    "progress transitions",
    fc.property(fc.integer({ min: 0, max: 20 }), fc.array(progressOp, { maxLength: 40 }), (start, ops) => {
      const pr = new Progress({ match: start, next: start + 1, maxInflight: 3, recentActive: true });
      const m: ProgressModel = {
        match: start,
        next: start + 1,
        state: ProgressState.StateProbe,
        pendingSnapshot: 0,
        probeSent: false,
      };
      for (const op of ops) {
        const matchBefore = pr.match;
        switch (op.kind) {
          case "update": {
            const grew = m.match < op.n;
            if (grew) {
              m.match = op.n;
              m.probeSent = false;
            }
            m.next = Math.max(m.next, op.n + 1);
            assert.equal(pr.maybeUpdate(op.n), grew);
            break;
          }
          case "optimistic": {
            // The leader sent k entries after next-1: the last one sent is next-1+k.
            const last = m.next - 1 + op.k;
            m.next = last + 1;
            pr.optimisticUpdate(last);
            break;
          }
          case "reject": {
            // A follower's hint (its last index) is never below what it acknowledged.
            const hint = m.match + op.hintAbove;
            let rejected: number;
            let accepted: boolean;
            if (m.state === ProgressState.StateReplicate) {
              rejected = op.genuine ? m.match + 1 + op.offset : Math.max(0, m.match - op.offset);
              accepted = rejected > m.match;
              if (accepted) m.next = m.match + 1;
            } else {
              // A genuine probe rejection is of next-1, which the follower cannot have acknowledged.
              const genuine = op.genuine && m.next - 1 > m.match;
              rejected = genuine ? m.next - 1 : m.next - 1 + 1 + op.offset;
              accepted = genuine;
              if (accepted) {
                m.next = Math.max(1, Math.min(rejected, hint + 1));
                m.probeSent = false;
              }
            }
            assert.equal(pr.maybeDecrTo(rejected, hint), accepted);
            break;
          }
          case "probe":
            m.next =
              m.state === ProgressState.StateSnapshot
                ? Math.max(m.match + 1, m.pendingSnapshot + 1)
                : m.match + 1;
            m.state = ProgressState.StateProbe;
            m.pendingSnapshot = 0;
            m.probeSent = false;
            pr.becomeProbe();
            break;
          case "replicate":
            m.next = m.match + 1;
            m.state = ProgressState.StateReplicate;
            m.pendingSnapshot = 0;
            m.probeSent = false;
            pr.becomeReplicate();
            break;
          case "snapshot":
            m.state = ProgressState.StateSnapshot;
            m.pendingSnapshot = m.match + op.above;
            m.probeSent = false;
            pr.becomeSnapshot(m.pendingSnapshot);
            break;
        }
        assert.deepEqual(
          {
            match: pr.match,
            next: pr.next,
            state: pr.state,
            pendingSnapshot: pr.pendingSnapshot,
            probeSent: pr.probeSent,
          },
          m,
          `after ${JSON.stringify(op)}`,
        );
        assert.ok(pr.match < pr.next, "match < next");
        assert.ok(pr.next >= pr.match + 1, "next never below match+1");
        assert.ok(pr.match >= matchBefore, "match never decreases");
        if (op.kind === "probe" || op.kind === "replicate" || op.kind === "snapshot") {
          assert.equal(pr.inflights.count(), 0, "a state change empties the inflight window");
        }
        assert.equal(
          pr.isPaused(),
          pr.state === ProgressState.StateSnapshot ||
            (pr.state === ProgressState.StateProbe && pr.probeSent) ||
            (pr.state === ProgressState.StateReplicate && pr.inflights.full()),
        );
      }
    }),
    500,
  );
});

// ---- inflights ----

type InflightOp =
  | { kind: "add"; step: number }
  | { kind: "free"; back: number }
  | { kind: "first" }
  | { kind: "reset" };
const inflightOp: fc.Arbitrary<InflightOp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant("add" as const), step: fc.integer({ min: 0, max: 3 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("free" as const), back: fc.integer({ min: -2, max: 12 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("first" as const) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reset" as const }) },
);

test("inflights never hold more than their size and freeLE frees exactly the indexes <= to", () => {
  checkProperty(
    "inflights never hold more",
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(inflightOp, { maxLength: 80 }), (size, ops) => {
      const in_ = new Inflights(size);
      let model: number[] = [];
      let last = 0;
      let snapshot: { copy: Inflights; expect: number[] } | undefined;
      for (const op of ops) {
        switch (op.kind) {
          case "add":
            // Indexes are added in increasing order; a full window refuses.
            last += op.step;
            if (model.length === size) {
              assert.throws(() => in_.add(last), /cannot add into a Full inflights/);
            } else {
              in_.add(last);
              model.push(last);
            }
            break;
          case "free": {
            const to = last - op.back;
            in_.freeLE(to);
            model = model.filter((x) => x > to);
            break;
          }
          case "first": {
            // Frees the oldest, and any others with the same index (etcd frees "<= the first").
            in_.freeFirstOne();
            const first = model[0];
            if (first !== undefined) model = model.filter((x) => x > first);
            break;
          }
          case "reset":
            in_.reset();
            model = [];
            break;
        }
        assert.deepEqual(in_.toArray(), model, `after ${JSON.stringify(op)}`);
        assert.equal(in_.count(), model.length);
        assert.ok(in_.count() <= size);
        assert.equal(in_.full(), model.length === size);
        // A clone is independent of later changes to the original.
        if (snapshot === undefined && model.length > 0) snapshot = { copy: in_.clone(), expect: [...model] };
      }
      if (snapshot !== undefined) assert.deepEqual(snapshot.copy.toArray(), snapshot.expect);
    }),
    1000,
  );
});
