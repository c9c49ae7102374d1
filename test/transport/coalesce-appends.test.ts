// Joining a leader's consecutive MsgApps to one member: the joined message carries what the separate
// ones did (a three-voter raft cluster ends with the same logs either way), and the joins stop where
// a message does not continue the previous one.
// Replay a failed property with the seed and path fast-check prints: COALESCE_SEED=<seed> COALESCE_SEED_PATH=<path>.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Entry, EntryType, Message, MessageType } from "../../src/gen/raftpb/raft.js";
import type { MemoryStorage, RawNode } from "../../src/raft/index.js";
import { coalesceAppends, MAX_JOINED_ENTRY_BYTES } from "../../src/transport/coalesce-appends.js";
import { replayParameters } from "../seeded-random.js";
import { threeVoterRawNode } from "../server/raw-node-fixture.js";

function entry(index: number, term: number, data = `v${index}`): Entry {
  return { type: EntryType.EntryNormal, term, index, data: Buffer.from(data) };
}

/** A MsgApp from 1 to `to` at (index, logTerm) carrying entries index+1.. of `term`. */
function app(to: bigint, index: number, logTerm: number, n: number, commit: number, term = 2): Message {
  const entries: Entry[] = [];
  for (let i = 1; i <= n; i++) entries.push(entry(index + i, term));
  return Message.fromPartial({
    type: MessageType.MsgApp,
    from: 1n,
    to,
    term,
    logTerm,
    index,
    commit,
    entries,
  });
}

function shape(m: Message): string {
  const last = m.entries.length > 0 ? m.entries[m.entries.length - 1].index : m.index;
  return `${MessageType[m.type]} to ${m.to} at ${m.index} [${m.entries.length}] ..${last} c${m.commit}`;
}

describe("coalesceAppends", () => {
  it("joins each member's chain of MsgApps, empty commit steps included, into one message", () => {
    const input = [
      app(2n, 10, 2, 1, 9),
      app(3n, 10, 2, 1, 9),
      app(2n, 11, 2, 1, 9),
      app(3n, 11, 2, 1, 9),
      app(2n, 12, 2, 0, 10),
      app(3n, 12, 2, 0, 10),
      app(2n, 12, 2, 2, 11),
    ];
    const before = input.map((m) => ({ ...m, entries: [...m.entries] }));
    const out = coalesceAppends(input);
    assert.deepEqual(out.map(shape), ["MsgApp to 2 at 10 [4] ..14 c11", "MsgApp to 3 at 10 [2] ..12 c10"]);
    assert.deepEqual(
      out[0].entries.map((e) => e.index),
      [11, 12, 13, 14],
    );
    assert.deepEqual(input, before, "the input messages and their entry arrays are unchanged");
  });

  it("keeps apart what does not continue: a gap, another term, another log term, another message between", () => {
    const heartbeat = Message.fromPartial({
      type: MessageType.MsgHeartbeat,
      from: 1n,
      to: 2n,
      term: 2,
      commit: 9,
    });
    const cases: Array<[string, Message[]]> = [
      ["gap", [app(2n, 10, 2, 1, 9), app(2n, 12, 2, 1, 9)]],
      ["message term", [app(2n, 10, 2, 1, 9), app(2n, 11, 2, 1, 9, 3)]],
      ["log term", [app(2n, 10, 2, 1, 9), app(2n, 11, 1, 1, 9)]],
      ["heartbeat between", [app(2n, 10, 2, 1, 9), heartbeat, app(2n, 11, 2, 1, 9)]],
      ["commit going back", [app(2n, 10, 2, 1, 9), app(2n, 11, 2, 1, 8)]],
    ];
    for (const [why, msgs] of cases) {
      assert.deepEqual(coalesceAppends(msgs).map(shape), msgs.map(shape), why);
      assert.equal(coalesceAppends(msgs), msgs, `${why}: nothing joins, the input comes back as it is`);
    }
  });

  it("sends the append that continues a commit notice in its place, as it is", () => {
    const notice = app(2n, 12, 2, 0, 11);
    const append = app(2n, 12, 2, 1, 12);
    const out = coalesceAppends([notice, append]);
    assert.equal(out.length, 1);
    assert.equal(out[0], append, "the append itself: it carries everything the notice did");
    const later = app(2n, 12, 2, 1, 10);
    assert.deepEqual(
      coalesceAppends([notice, later]).map(shape),
      [notice, later].map(shape),
      "a commit going back",
    );
  });

  it("joins the same in a batch too big to scan, with a map of the last message to each member", () => {
    // 3 members x 8 appends: more than a small batch scanned pairwise
    const input: Message[] = [];
    for (let k = 0; k < 8; k++) for (const to of [2n, 3n, 4n]) input.push(app(to, 10 + k, 2, 1, 9 + k));
    assert.deepEqual(coalesceAppends(input).map(shape), [
      "MsgApp to 2 at 10 [8] ..18 c16",
      "MsgApp to 3 at 10 [8] ..18 c16",
      "MsgApp to 4 at 10 [8] ..18 c16",
    ]);
  });

  it("stops joining at MAX_JOINED_ENTRY_BYTES of entry data", () => {
    const big = (index: number) =>
      Message.fromPartial({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 2,
        logTerm: 2,
        index,
        commit: 1,
        entries: [entry(index + 1, 2, "x".repeat(MAX_JOINED_ENTRY_BYTES / 2))],
      });
    const out = coalesceAppends([big(10), big(11), big(12), big(13)]);
    assert.deepEqual(
      out.map((m) => m.entries.map((e) => e.index)),
      [
        [11, 12],
        [13, 14],
      ],
    );
  });
});

/** Three voters in memory; every Ready is persisted at once and its messages delivered in order. */
class Cluster {
  readonly nodes = new Map<bigint, { rn: RawNode; storage: MemoryStorage; committed: string[] }>();
  private readonly queue: Message[] = [];
  delivered = { apps: 0, answers: 0 };

  constructor(private readonly transform: (msgs: Message[]) => readonly Message[]) {
    for (const id of [1n, 2n, 3n]) this.nodes.set(id, { ...threeVoterRawNode(id), committed: [] });
    this.settle(); // the bootstrap entries are applied before a member may campaign
    this.leader.rn.campaign();
    this.settle();
  }

  get leader(): { rn: RawNode } {
    return this.nodes.get(1n)!;
  }

  /** Runs Readys and deliveries until nothing is left to do. */
  settle(): void {
    for (let turns = 0; turns < 10_000; turns++) {
      let busy = false;
      for (const node of this.nodes.values()) {
        while (node.rn.hasReady()) {
          busy = true;
          const rd = node.rn.ready();
          node.storage.append(rd.entries);
          if (rd.hardState) node.storage.setHardState(rd.hardState);
          for (const e of rd.committedEntries) {
            if (e.type === EntryType.EntryNormal && e.data.length > 0) node.committed.push(e.data.toString());
          }
          this.queue.push(...this.transform(rd.messages));
          node.rn.advance(rd);
        }
      }
      for (const m of this.queue.splice(0)) {
        busy = true;
        if (m.type === MessageType.MsgApp) this.delivered.apps++;
        if (m.type === MessageType.MsgAppResp) this.delivered.answers++;
        this.nodes.get(m.to)!.rn.step(m);
      }
      if (!busy) return;
    }
    throw new Error("the cluster did not settle");
  }

  /** Every member's stored log (index/term/data) and commit. */
  logs(): string[][] {
    return [...this.nodes.values()].map(({ storage }) => [
      `commit ${storage.initialState().hardState.commit}`,
      ...storage
        .entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
        .map((e) => `${e.index}/${e.term}/${e.data.toString("hex")}`),
    ]);
  }
}

function runPlan(plan: readonly number[], transform: (msgs: Message[]) => readonly Message[]) {
  const c = new Cluster(transform);
  let n = 0;
  const proposed: string[] = [];
  for (const k of plan) {
    // proposals are stepped one at a time, as client requests arrive, then the loop runs
    for (let i = 0; i < k; i++) {
      const data = `put ${n++}`;
      proposed.push(data);
      c.leader.rn.propose(Buffer.from(data));
    }
    c.settle();
  }
  return { c, proposed };
}

describe("coalesceAppends in a three-voter cluster", () => {
  it("ends with the same logs and commits as sending every MsgApp, with fewer messages", () => {
    const plan = [1, 20, 3, 64, 0, 7];
    const raw = runPlan(plan, (m) => m);
    const joined = runPlan(plan, coalesceAppends);
    for (const run of [raw, joined]) {
      for (const [id, node] of run.c.nodes) assert.deepEqual(node.committed, run.proposed, `member ${id}`);
    }
    assert.deepEqual(joined.c.logs(), raw.c.logs());
    assert.ok(
      joined.c.delivered.apps * 4 < raw.c.delivered.apps,
      `MsgApps delivered: joined ${joined.c.delivered.apps}, separate ${raw.c.delivered.apps}`,
    );
    assert.ok(
      joined.c.delivered.answers * 4 < raw.c.delivered.answers,
      `answers delivered: joined ${joined.c.delivered.answers}, separate ${raw.c.delivered.answers}`,
    );
  });

  it("commits every proposal on every member for any plan of proposal bursts", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 12 }), (plan) => {
        const { c, proposed } = runPlan(plan, coalesceAppends);
        for (const [id, node] of c.nodes) assert.deepEqual(node.committed, proposed, `member ${id}`);
      }),
      { numRuns: 40, ...replayParameters("COALESCE_SEED") },
    );
  });
});
