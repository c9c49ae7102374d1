// etcd's confchange data-driven files, plus properties ported from etcd's quick and restore tests.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { type ConfChangeSingle, ConfChangeType, type ConfState } from "../../src/gen/raftpb/raft.js";
import { Changer, ConfChangeError, describeConfChanges } from "../../src/raft/confchange/changer.js";
import {
  asV2,
  confChangesFromString,
  confChangesToString,
  enterJointOf,
  isConfChangeV1,
  leaveJointOf,
} from "../../src/raft/confchange/conv.js";
import { restore } from "../../src/raft/confchange/restore.js";
import { describeProgressMap, type ProgressMap } from "../../src/raft/tracker/progress.js";
import { configToString, ProgressTracker, type TrackerConfig } from "../../src/raft/tracker/tracker.js";
import { type TestCase, walkDataDriven } from "../datadriven/parser.js";

const FILE = "test/raft/confchange.test.ts";

/** Runs a property; a failure reports the seed, the path and the command that replays exactly that case. */
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

// The data-driven files: a fresh tracker (10 inflights) per file; lastIndex grows by one per directive.
function makeConfChangeHandler(): (tc: TestCase) => string {
  const tracker = new ProgressTracker(10);
  const changer = new Changer(tracker, 0);
  return (tc) => {
    try {
      return runOne(tc);
    } finally {
      changer.lastIndex++;
    }
  };

  function runOne(tc: TestCase): string {
    let ccs: ConfChangeSingle[];
    try {
      ccs = confChangesFromString(tc.input);
    } catch (err) {
      return (err as Error).message;
    }
    let result: [TrackerConfig, ProgressMap];
    try {
      switch (tc.cmd) {
        case "simple":
          result = changer.simple(ccs);
          break;
        case "enter-joint": {
          let autoLeave = false;
          if (tc.args.length > 0) {
            const vals = tc.args.find((a) => a.key === "autoleave")?.vals;
            if (vals === undefined || vals.length !== 1 || !/^(true|false)$/.test(vals[0])) {
              throw new Error(`${tc.pos}: bad autoleave argument`);
            }
            autoLeave = vals[0] === "true";
          }
          result = changer.enterJoint(autoLeave, ccs);
          break;
        }
        case "leave-joint":
          if (ccs.length > 0) return "this command takes no input\n";
          result = changer.leaveJoint();
          break;
        default:
          return "unknown command";
      }
    } catch (err) {
      if (err instanceof ConfChangeError) return `${err.message}\n`;
      throw err;
    }
    [tracker.config, tracker.progress] = result;
    return `${configToString(tracker.config)}\n${describeProgressMap(tracker.progress)}`;
  }
}

walkDataDriven(join(import.meta.dirname, "testdata", "confchange"), () => makeConfChangeHandler());

// Everything a Changer result holds, in a comparable form.
function fingerprint(cfg: TrackerConfig, prs: ProgressMap): string {
  const progress = [...prs.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(
      ([id, p]) =>
        `${id}:${p.match}/${p.next}/${p.state}/${p.pendingSnapshot}/${p.recentActive}/${p.probeSent}/${p.isLearner}/${p.inflights.count()}`,
    );
  return `${configToString(cfg)} | ${progress.join(" ")}`;
}

function trackerFingerprint(t: ProgressTracker): string {
  return fingerprint(t.config, t.progress);
}

const confChangeType = fc.constantFrom(
  ConfChangeType.ConfChangeAddNode,
  ConfChangeType.ConfChangeRemoveNode,
  ConfChangeType.ConfChangeUpdateNode,
  ConfChangeType.ConfChangeAddLearnerNode,
);
// As in etcd's quick test: node 1 starts as a voter and is never touched, so no change empties the voters.
const initialChanges = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 5 })
  .map((ids): ConfChangeSingle[] =>
    [1, ...ids].map((id) => ({ type: ConfChangeType.ConfChangeAddNode, nodeId: BigInt(id) })),
  );
const confChanges = fc.array(
  fc.record({ type: confChangeType, nodeId: fc.integer({ min: 2, max: 10 }).map(BigInt) }),
  { minLength: 1, maxLength: 9 },
);

function setupChanger(setup: ConfChangeSingle[]): Changer {
  const c = new Changer(new ProgressTracker(10), 10);
  for (const cc of setup) [c.tracker.config, c.tracker.progress] = c.simple([cc]);
  return c;
}

test("simple changes one by one and one joint change reach the same configuration", () => {
  checkProperty(
    "simple changes one by one and one joint change",
    fc.property(initialChanges, confChanges, (setup, ccs) => {
      const bySimple = setupChanger(setup);
      for (const cc of ccs) [bySimple.tracker.config, bySimple.tracker.progress] = bySimple.simple([cc]);

      const byJoint = setupChanger(setup);
      const [cfg, prs] = byJoint.enterJoint(false, ccs);
      // autoLeave only changes the flag.
      const [cfgAuto, prsAuto] = byJoint.enterJoint(true, ccs);
      assert.equal(cfgAuto.autoLeave, true);
      cfgAuto.autoLeave = false;
      assert.equal(fingerprint(cfgAuto, prsAuto), fingerprint(cfg, prs));
      [byJoint.tracker.config, byJoint.tracker.progress] = [cfg, prs];
      [byJoint.tracker.config, byJoint.tracker.progress] = byJoint.leaveJoint();

      assert.equal(
        trackerFingerprint(byJoint.tracker),
        trackerFingerprint(bySimple.tracker),
        `setup: ${describeConfChanges(setup)}\nchanges: ${describeConfChanges(ccs)}`,
      );
    }),
    300,
  );
});

test("a simple change never changes more than one voter, and is refused exactly when it would", () => {
  checkProperty(
    "a simple change never changes more than one voter",
    fc.property(initialChanges, confChanges, (setup, ccs) => {
      const c = setupChanger(setup);
      const before = trackerFingerprint(c.tracker);
      const votersBefore = new Set(c.tracker.config.voters.incoming.ids);
      // What the voters would become: the incoming half of the joint configuration.
      const votersAfter = c.enterJoint(false, ccs)[0].voters.incoming.ids;
      let changed = 0;
      for (const id of votersBefore) if (!votersAfter.has(id)) changed++;
      for (const id of votersAfter) if (!votersBefore.has(id)) changed++;
      if (changed > 1) {
        assert.throws(() => c.simple(ccs), {
          name: "ConfChangeError",
          message: "more than one voter changed without entering joint config",
        });
      } else {
        const [cfg] = c.simple(ccs);
        assert.deepEqual([...cfg.voters.incoming.ids].sort(), [...votersAfter].sort());
        assert.equal(cfg.voters.outgoing.ids.size, 0);
      }
      // The changer works on copies.
      assert.equal(trackerFingerprint(c.tracker), before);
    }),
    300,
  );
});

// A random valid ConfState, as etcd's restore test builds them (ids 1..2n, disjoint roles).
const confStateArb = fc
  .record({
    nVoters: fc.integer({ min: 1, max: 5 }),
    nLearners: fc.integer({ min: 0, max: 4 }),
    nRemoved: fc.integer({ min: 0, max: 2 }),
    retainedFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    learnersNextFrac: fc.double({ min: 0, max: 1, noNaN: true }),
    autoLeave: fc.boolean(),
    order: fc.array(fc.nat(), { minLength: 24, maxLength: 24 }),
  })
  .map(({ nVoters, nLearners, nRemoved, retainedFrac, learnersNextFrac, autoLeave, order }): ConfState => {
    const total = 2 * (nVoters + nLearners + nRemoved);
    // A permutation of 1..total driven by `order`.
    let ids = Array.from({ length: total }, (_, i) => BigInt(i + 1))
      .map((id, i) => ({ id, k: order[i] }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.id);
    const voters = ids.slice(0, nVoters);
    ids = ids.slice(nVoters);
    const learners = ids.slice(0, nLearners);
    ids = ids.slice(nLearners);
    const retained = Math.floor(retainedFrac * (nVoters + 1)) % (nVoters + 1);
    const votersOutgoing = [...voters.slice(0, retained), ...ids.slice(0, nRemoved)];
    const nLearnersNext = nRemoved > 0 ? Math.floor(learnersNextFrac * (nRemoved + 1)) % (nRemoved + 1) : 0;
    const learnersNext = ids.slice(0, nLearnersNext);
    return {
      voters,
      learners,
      votersOutgoing,
      learnersNext,
      autoLeave: votersOutgoing.length > 0 && autoLeave,
    };
  });

function sortedConfState(cs: ConfState): ConfState {
  const s = (l: bigint[]) => [...l].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    voters: s(cs.voters),
    learners: s(cs.learners),
    votersOutgoing: s(cs.votersOutgoing),
    learnersNext: s(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
}

function restoredConfState(cs: ConfState): ConfState {
  const chg = new Changer(new ProgressTracker(20), 10);
  const [cfg, prs] = restore(chg, cs);
  // The given changer is left untouched.
  assert.equal(chg.tracker.progress.size, 0);
  const t = new ProgressTracker(20);
  [t.config, t.progress] = [cfg, prs];
  return t.confState();
}

test("restore rebuilds the configuration of known ConfStates", () => {
  const cases: ConfState[] = [
    { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    { voters: [1n, 2n, 3n], learners: [4n, 5n, 6n], votersOutgoing: [], learnersNext: [], autoLeave: false },
    {
      voters: [1n, 2n, 3n],
      learners: [5n],
      votersOutgoing: [1n, 2n, 4n, 6n],
      learnersNext: [4n],
      autoLeave: false,
    },
    { voters: [3n, 1n], learners: [], votersOutgoing: [2n, 1n], learnersNext: [], autoLeave: true },
  ];
  for (const cs of cases) assert.deepEqual(restoredConfState(cs), sortedConfState(cs));
  const chg = new Changer(new ProgressTracker(20), 10);
  const [cfg, prs] = restore(chg, cases[3]);
  assert.equal(
    `${configToString(cfg)}\n${describeProgressMap(prs)}`,
    "voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4)\n" +
      "1: StateProbe match=0 next=10\n2: StateProbe match=0 next=10\n3: StateProbe match=0 next=10\n" +
      "4: StateProbe match=0 next=10\n5: StateProbe match=0 next=10 learner\n6: StateProbe match=0 next=10\n",
  );
});

test("restore(confState) reproduces a random configuration", () => {
  checkProperty(
    "restore\\(confState\\) reproduces",
    fc.property(confStateArb, (cs) => {
      assert.deepEqual(restoredConfState(cs), sortedConfState(cs));
    }),
    500,
  );
});

test("conversions between V1 and V2 changes and the short text form", () => {
  const v1 = {
    id: 7n,
    type: ConfChangeType.ConfChangeAddLearnerNode,
    nodeId: 3n,
    context: Buffer.from("ctx"),
  };
  assert.ok(isConfChangeV1(v1));
  const v2 = asV2(v1);
  assert.ok(!isConfChangeV1(v2));
  assert.deepEqual(v2.changes, [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 3n }]);
  assert.equal(v2.context.toString(), "ctx");
  assert.deepEqual(enterJointOf(v2), { autoLeave: false, ok: false });
  assert.deepEqual(enterJointOf({ ...v2, changes: [...v2.changes, ...v2.changes] }), {
    autoLeave: true,
    ok: true,
  });
  assert.deepEqual(enterJointOf({ ...v2, transition: 1 }), { autoLeave: true, ok: true });
  assert.deepEqual(enterJointOf({ ...v2, transition: 2 }), { autoLeave: false, ok: true });
  assert.equal(leaveJointOf(v2), false);
  assert.equal(leaveJointOf({ transition: 0, changes: [], context: Buffer.from("x") }), true);
  assert.equal(leaveJointOf({ transition: 2, changes: [], context: Buffer.alloc(0) }), false);
  const ccs = confChangesFromString(" v1 l2 r3 u4 ");
  assert.equal(confChangesToString(ccs), "v1 l2 r3 u4");
  assert.equal(
    describeConfChanges(ccs),
    "ConfChangeAddNode(1) ConfChangeAddLearnerNode(2) ConfChangeRemoveNode(3) ConfChangeUpdateNode(4)",
  );
  assert.deepEqual(confChangesFromString(""), []);
  assert.throws(() => confChangesFromString("v"), { message: "unknown token v" });
  assert.throws(() => confChangesFromString("x1"), { message: "unknown input: x1" });
  assert.throws(() => confChangesFromString("va"), {
    message: 'strconv.ParseUint: parsing "a": invalid syntax',
  });
});
