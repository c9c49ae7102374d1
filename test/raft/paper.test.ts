/**
 * The Raft paper's rules ("In Search of an Understandable Consensus Algorithm", extended version), one rule per
 * test, checked against src/raft's Raft state machine. Section numbers refer to the paper; pre-vote and
 * check-quorum are from Ongaro's thesis (§9.6, §6.2) as etcd implements them, ReadIndex from §6.4 / paper §8.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ConfChangeType,
  ConfChangeV2,
  EntryType,
  type Message,
  MessageType,
} from "../../src/gen/raftpb/raft.js";
import {
  ELECTION,
  entry,
  HEARTBEAT,
  logTerms,
  msg,
  Network,
  newRaft,
  stepQuiet,
  takeMessages,
  tickTimes,
} from "./sim/paper-kit.js";
import { type Raft, StateType } from "./sim/raft-api.js";

const ids3 = [1n, 2n, 3n];
const ids5 = [1n, 2n, 3n, 4n, 5n];

/**
 * Makes r the leader of its configuration by campaigning and granting it every vote. Unless `ack` is false, the
 * followers then acknowledge its first (empty) entry, so that it is committed and every follower is in the
 * replicating state; the leader's messages are dropped.
 */
function makeLeader(r: Raft, ack = true): void {
  r.becomeCandidate();
  // becomeCandidate alone does not count the candidate's own vote (campaign does): every voter grants here.
  for (const id of r.prs.voterNodes()) {
    if (r.state !== StateType.StateLeader) {
      r.step(msg({ type: MessageType.MsgVoteResp, from: id, to: r.id, term: r.term }));
    }
  }
  assert.equal(r.state, StateType.StateLeader);
  const sent = takeMessages(r);
  if (ack) {
    const followers = [...r.prs.progress.keys()].filter((id) => id !== r.id);
    ackAppends(r, sent, followers);
    takeMessages(r);
  }
}

function types(ms: readonly Message[]): MessageType[] {
  return ms.map((m) => m.type);
}

function sortByTo(ms: Message[]): Message[] {
  return ms.sort((a, b) => (a.to < b.to ? -1 : a.to > b.to ? 1 : 0));
}

/** Acknowledges everything the leader sent in MsgApps so far, from the given followers. */
function ackAppends(leader: Raft, ms: readonly Message[], from: readonly bigint[]): void {
  for (const m of ms) {
    if (m.type !== MessageType.MsgApp || !from.includes(m.to)) continue;
    const last = m.entries.length > 0 ? m.entries[m.entries.length - 1].index : m.index;
    leader.step(
      msg({ type: MessageType.MsgAppResp, from: m.to, to: leader.id, term: leader.term, index: last }),
    );
  }
}

describe("§5.1 terms", () => {
  test("a follower, candidate or leader that sees a higher term adopts it and becomes follower", () => {
    for (const role of ["follower", "candidate", "leader"] as const) {
      const r = newRaft(1n, ids3);
      if (role === "candidate") r.becomeCandidate();
      if (role === "leader") makeLeader(r);
      const higher = r.term + 1;
      r.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: higher }));
      assert.equal(r.state, StateType.StateFollower, role);
      assert.equal(r.term, higher, role);
      assert.equal(r.lead, 2n, `${role} follows the sender of an append`);
    }
  });

  test("a message with a stale term is ignored", () => {
    const r = newRaft(1n, ids3, { term: 2 });
    r.step(msg({ type: MessageType.MsgApp, from: 2n, to: 1n, term: 1, entries: [entry(1, 1)] }));
    assert.equal(r.term, 2);
    assert.equal(r.raftLog.lastIndex(), 0, "the stale append is not applied to the log");
    assert.deepEqual(takeMessages(r), []);
  });
});

describe("§5.2 leader election", () => {
  test("a node starts as a follower", () => {
    const r = newRaft(1n, ids3);
    assert.equal(r.state, StateType.StateFollower);
    assert.equal(r.lead, 0n);
  });

  test("a follower that hears nothing for an election timeout becomes candidate, votes for itself and asks everyone", () => {
    const r = newRaft(1n, ids3, { term: 1 });
    tickTimes(r, 2 * ELECTION);
    assert.equal(r.state, StateType.StateCandidate);
    assert.equal(r.term, 2);
    assert.equal(r.vote, 1n);
    const reqs = sortByTo(takeMessages(r));
    assert.deepEqual(types(reqs), [MessageType.MsgVote, MessageType.MsgVote]);
    assert.deepEqual(
      reqs.map((m) => [m.to, m.term]),
      [
        [2n, 2],
        [3n, 2],
      ],
    );
  });

  test("a candidate whose election times out starts a new election in a new term", () => {
    const r = newRaft(1n, ids3, { term: 1 });
    r.becomeCandidate();
    const term = r.term;
    takeMessages(r);
    tickTimes(r, 2 * ELECTION);
    assert.equal(r.state, StateType.StateCandidate);
    assert.equal(r.term, term + 1);
    assert.deepEqual(types(takeMessages(r)), [MessageType.MsgVote, MessageType.MsgVote]);
  });

  test("a candidate becomes leader with votes from a majority, and only then", () => {
    const cases: Array<{ size: number; votes: Record<string, boolean>; want: StateType }> = [
      { size: 1, votes: {}, want: StateType.StateLeader },
      { size: 3, votes: { 2: true, 3: true }, want: StateType.StateLeader },
      { size: 3, votes: { 2: true }, want: StateType.StateLeader },
      { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: StateType.StateLeader },
      { size: 5, votes: { 2: true, 3: true }, want: StateType.StateLeader },
      { size: 3, votes: {}, want: StateType.StateCandidate },
      { size: 5, votes: { 2: true }, want: StateType.StateCandidate },
      { size: 5, votes: { 2: false, 3: false }, want: StateType.StateCandidate },
      { size: 3, votes: { 2: false, 3: false }, want: StateType.StateFollower },
      { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: StateType.StateFollower },
    ];
    for (const c of cases) {
      const ids = ids5.slice(0, c.size);
      const r = newRaft(1n, ids);
      r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }));
      for (const [id, granted] of Object.entries(c.votes)) {
        r.step(
          msg({ type: MessageType.MsgVoteResp, from: BigInt(id), to: 1n, term: r.term, reject: !granted }),
        );
      }
      assert.equal(r.state, c.want, `size ${c.size}, votes ${JSON.stringify(c.votes)}`);
      assert.equal(r.term, 1);
    }
  });

  test("a candidate steps down when a leader of its own term contacts it", () => {
    for (const type of [MessageType.MsgApp, MessageType.MsgHeartbeat]) {
      const r = newRaft(1n, ids3);
      r.becomeCandidate();
      r.step(msg({ type, from: 2n, to: 1n, term: r.term }));
      assert.equal(r.state, StateType.StateFollower);
      assert.equal(r.lead, 2n);
      assert.equal(r.term, 1);
    }
  });

  test("each node grants at most one vote per term, first come first served", () => {
    const r = newRaft(1n, ids3, { term: 1 });
    r.step(msg({ type: MessageType.MsgVote, from: 2n, to: 1n, term: 1 }));
    r.step(msg({ type: MessageType.MsgVote, from: 3n, to: 1n, term: 1 }));
    r.step(msg({ type: MessageType.MsgVote, from: 2n, to: 1n, term: 1 })); // a retransmission
    const resps = takeMessages(r).map((m) => [m.type, m.to, m.reject]);
    assert.deepEqual(resps, [
      [MessageType.MsgVoteResp, 2n, false],
      [MessageType.MsgVoteResp, 3n, true],
      [MessageType.MsgVoteResp, 2n, false],
    ]);
    assert.equal(r.vote, 2n);
  });

  test("a vote granted before a restart is remembered: the same term cannot get a second vote", () => {
    // The hard state (term 1, vote 2) is what a node persisted before it restarted.
    const r = newRaft(1n, ids3, { term: 1, vote: 2n });
    r.step(msg({ type: MessageType.MsgVote, from: 3n, to: 1n, term: 1 }));
    assert.deepEqual(
      takeMessages(r).map((m) => [m.type, m.reject]),
      [[MessageType.MsgVoteResp, true]],
    );
  });

  test("election timeouts are randomized over [electionTimeout, 2 x electionTimeout)", () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 400; seed++) {
      const r = newRaft(1n, ids3, { seed, term: 1 });
      let ticks = 0;
      while (r.state === StateType.StateFollower) {
        r.tick();
        ticks++;
        assert.ok(ticks < 2 * ELECTION, `seed ${seed}: no election after ${ticks} ticks`);
      }
      seen.add(ticks);
    }
    for (const t of seen) assert.ok(t >= ELECTION && t < 2 * ELECTION, `timeout ${t} out of range`);
    assert.ok(seen.size >= ELECTION - 1, `only ${seen.size} distinct timeouts: ${[...seen].sort()}`);
  });

  test("randomized timeouts make split votes rare: in most rounds one follower times out first", () => {
    let conflicts = 0;
    const rounds = 200;
    for (let round = 0; round < rounds; round++) {
      const rs = ids5.map((id) => newRaft(id, ids5, { seed: round * 10 + Number(id), term: 1 }));
      let first: number | undefined;
      let candidatesAtFirst = 0;
      for (let t = 1; t < 2 * ELECTION && first === undefined; t++) {
        for (const r of rs) r.tick();
        const n = rs.filter((r) => r.state === StateType.StateCandidate).length;
        if (n > 0) {
          first = t;
          candidatesAtFirst = n;
        }
      }
      if (candidatesAtFirst > 1) conflicts++;
    }
    assert.ok(
      conflicts / rounds < 0.5,
      `${conflicts} of ${rounds} rounds started with simultaneous candidates`,
    );
  });

  test("a leader sends heartbeats to every follower each heartbeat interval", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    tickTimes(r, HEARTBEAT);
    const hbs = sortByTo(takeMessages(r));
    assert.deepEqual(
      hbs.map((m) => [m.type, m.to, m.term]),
      [
        [MessageType.MsgHeartbeat, 2n, 1],
        [MessageType.MsgHeartbeat, 3n, 1],
      ],
    );
  });
});

describe("§5.3 log replication", () => {
  test("the leader appends a proposal to its log and sends it to every follower", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    const before = r.raftLog.lastIndex();
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry(0, 0, "x")] }));
    assert.equal(r.raftLog.lastIndex(), before + 1);
    const apps = sortByTo(takeMessages(r));
    assert.deepEqual(
      apps.map((m) => [m.type, m.to]),
      [
        [MessageType.MsgApp, 2n],
        [MessageType.MsgApp, 3n],
      ],
    );
    for (const m of apps) {
      const last = m.entries[m.entries.length - 1];
      assert.equal(last.index, before + 1);
      assert.equal(last.term, 1);
      assert.equal(last.data.toString(), "x");
    }
    assert.equal(r.raftLog.committed, before, "the proposal is not committed before followers answer");
  });

  test("the leader commits an entry once a majority stored it, and not before", () => {
    const r = newRaft(1n, ids5);
    makeLeader(r);
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry(0, 0, "x")] }));
    const apps = takeMessages(r);
    const li = r.raftLog.lastIndex();
    ackAppends(r, apps, [2n]);
    assert.ok(r.raftLog.committed < li, "leader + 1 of 5 is not a majority");
    ackAppends(r, apps, [3n]);
    assert.equal(r.raftLog.committed, li, "leader + 2 of 5 is a majority");
  });

  test("the leader tells followers the new commit index in its next messages", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry(0, 0, "x")] }));
    ackAppends(r, takeMessages(r), [2n]);
    const committed = r.raftLog.committed;
    assert.equal(committed, r.raftLog.lastIndex());
    const out = takeMessages(r).filter((m) => m.type === MessageType.MsgApp);
    assert.ok(out.length > 0, "the commit is broadcast");
    for (const m of out) assert.equal(m.commit, committed);
  });

  test("committing an entry commits every entry before it", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    for (const d of ["a", "b", "c"])
      r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry(0, 0, d)] }));
    takeMessages(r);
    const li = r.raftLog.lastIndex();
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: r.term, index: li }));
    assert.equal(r.raftLog.committed, li);
  });

  test("a follower commits up to the leader's commit index, within what it has received", () => {
    const r = newRaft(2n, ids3, { term: 1 });
    r.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 1,
        index: 0,
        logTerm: 0,
        commit: 5,
        entries: [entry(1, 1, "a"), entry(2, 1, "b")],
      }),
    );
    assert.equal(r.raftLog.committed, 2, "commit is capped by the last new entry");
    r.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1, commit: 1 }));
    assert.equal(r.raftLog.committed, 2, "a lower commit never moves it back");
  });

  test("a follower rejects an append whose preceding entry it does not have (consistency check)", () => {
    const cases = [
      { index: 2, logTerm: 2, reject: false }, // matches the last entry
      { index: 2, logTerm: 3, reject: true }, // same index, other term
      { index: 3, logTerm: 2, reject: true }, // beyond the log
      { index: 1, logTerm: 1, reject: false },
      { index: 0, logTerm: 0, reject: false },
    ];
    for (const c of cases) {
      const r = newRaft(2n, ids3, { logTerms: [1, 2], term: 2, commit: 1 });
      r.step(
        msg({ type: MessageType.MsgApp, from: 1n, to: 2n, term: 2, index: c.index, logTerm: c.logTerm }),
      );
      const [resp] = takeMessages(r);
      assert.equal(resp.type, MessageType.MsgAppResp);
      assert.equal(resp.reject, c.reject, JSON.stringify(c));
      if (c.reject) assert.equal(resp.rejectHint, 2, "the hint is the follower's last index");
    }
  });

  test("a follower deletes a conflicting entry and everything after it, then appends the leader's", () => {
    const r = newRaft(2n, ids3, { logTerms: [1, 2, 2], term: 3 });
    r.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 3,
        index: 1,
        logTerm: 1,
        entries: [entry(2, 3)],
      }),
    );
    assert.deepEqual(logTerms(r), [1, 3]);
    // Entries it already has are not touched.
    const same = newRaft(2n, ids3, { logTerms: [1, 2, 2], term: 3 });
    same.step(
      msg({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 3,
        index: 1,
        logTerm: 1,
        entries: [entry(2, 2)],
      }),
    );
    assert.deepEqual(logTerms(same), [1, 2, 2]);
  });

  test("the leader brings a diverging follower's log to match its own (Figure 7)", () => {
    // The leader's log from Figure 7 (terms of entries 1..10), at term 8.
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: number[][] = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one
      [1, 1, 1, 4], // (b) missing many
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
      [1, 1, 1, 4, 4, 4, 4], // (e) extra entries of an old term
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a whole diverged suffix
    ];
    for (const [k, fl] of followers.entries()) {
      const lead = newRaft(1n, ids3, { logTerms: leaderLog, term: 8, commit: leaderLog.length });
      const follower = newRaft(2n, ids3, { logTerms: fl, term: 7 });
      const third = newRaft(3n, ids3, { logTerms: leaderLog, term: 7 });
      const net = new Network([lead, follower, third]);
      net.campaign(1n);
      net.propose(1n, "after");
      assert.equal(lead.state, StateType.StateLeader, `case ${k}`);
      assert.deepEqual(logTerms(follower), logTerms(lead), `case (${"abcdef"[k]})`);
    }
  });
});

describe("§5.4 safety", () => {
  test("a voter rejects a candidate whose log is less up-to-date than its own (election restriction)", () => {
    // The voter's log ends at index 2, term 2.
    const cases = [
      { logTerm: 1, index: 3, granted: false }, // older last term, longer log
      { logTerm: 2, index: 1, granted: false }, // same last term, shorter
      { logTerm: 2, index: 2, granted: true }, // identical
      { logTerm: 2, index: 3, granted: true }, // same term, longer
      { logTerm: 3, index: 1, granted: true }, // later last term wins regardless of length
    ];
    for (const c of cases) {
      const r = newRaft(1n, ids3, { logTerms: [1, 2], term: 2 });
      r.step(
        msg({ type: MessageType.MsgVote, from: 2n, to: 1n, term: 3, logTerm: c.logTerm, index: c.index }),
      );
      const [resp] = takeMessages(r);
      assert.equal(resp.type, MessageType.MsgVoteResp);
      assert.equal(resp.reject, !c.granted, JSON.stringify(c));
    }
  });

  test("a leader does not commit an entry of an earlier term by counting replicas", () => {
    // Entries 1-2 are from term 1 and not committed; the node becomes leader at term 3 and appends entry 3.
    const r = newRaft(1n, ids3, { logTerms: [1, 1], term: 2 });
    makeLeader(r, false);
    assert.equal(r.term, 3);
    assert.equal(r.raftLog.lastIndex(), 3);
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 3, index: 2 }));
    assert.equal(r.raftLog.committed, 0, "replicated on a majority, but from an old term");
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: 3, index: 3 }));
    assert.equal(r.raftLog.committed, 3, "committing the current term's entry commits the older ones too");
  });

  test("leader completeness: only a node holding every committed entry can be elected", () => {
    const net = new Network(ids3.map((id) => newRaft(id, ids3)));
    net.campaign(1n);
    net.isolate(3n);
    for (const d of ["a", "b", "c"]) net.propose(1n, d);
    const committed = net.node(1n).raftLog.committed;
    const committedTerms = logTerms(net.node(1n)).slice(0, committed);
    assert.equal(net.node(2n).raftLog.committed, committed);
    // The leader goes away; node 3 (which missed the entries) cannot win, node 2 can.
    net.heal();
    net.isolate(1n);
    net.campaign(3n);
    assert.notEqual(net.node(3n).state, StateType.StateLeader);
    net.campaign(2n);
    const leader = net.node(2n);
    assert.equal(leader.state, StateType.StateLeader);
    assert.deepEqual(logTerms(leader).slice(0, committed), committedTerms);
  });
});

describe("§6 cluster membership changes", () => {
  function confChange(type: ConfChangeType, nodeId: bigint): Message {
    const cc = ConfChangeV2.fromPartial({ changes: [{ type, nodeId }] });
    return msg({
      type: MessageType.MsgProp,
      from: 1n,
      to: 1n,
      entries: [
        {
          type: EntryType.EntryConfChangeV2,
          index: 0,
          term: 0,
          data: Buffer.from(ConfChangeV2.encode(cc).finish()),
        },
      ],
    });
  }

  test("the leader accepts one configuration change at a time; another waits until the first is applied", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    r.raftLog.appliedTo(r.raftLog.committed);
    r.step(confChange(ConfChangeType.ConfChangeAddNode, 4n));
    r.step(confChange(ConfChangeType.ConfChangeAddNode, 5n));
    const last = r.raftLog.lastIndex();
    const [first, second] = r.raftLog.slice(last - 1, last + 1, Number.POSITIVE_INFINITY);
    assert.equal(first.type, EntryType.EntryConfChangeV2);
    assert.equal(second.type, EntryType.EntryNormal, "the second change becomes an empty entry");
    assert.equal(second.data.length, 0);
    // Once the first is committed and applied, a new change is accepted.
    takeMessages(r);
    r.step(msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: r.term, index: last }));
    r.raftLog.appliedTo(r.raftLog.committed);
    r.step(confChange(ConfChangeType.ConfChangeAddNode, 5n));
    assert.equal(
      r.raftLog.slice(r.raftLog.lastIndex(), r.raftLog.lastIndex() + 1, Infinity)[0].type,
      EntryType.EntryConfChangeV2,
    );
  });

  test("a removed voter no longer counts toward the quorum", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    r.applyConfChange(
      ConfChangeV2.fromPartial({ changes: [{ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3n }] }),
    );
    takeMessages(r);
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry(0, 0, "x")] }));
    const apps = takeMessages(r);
    assert.deepEqual(
      apps.map((m) => m.to),
      [2n],
      "nothing is sent to the removed node",
    );
    ackAppends(r, apps, [2n]);
    assert.equal(r.raftLog.committed, r.raftLog.lastIndex(), "leader + node 2 is a majority of {1, 2}");
  });

  test("a node that applied its own removal never campaigns", () => {
    const r = newRaft(3n, ids3, { term: 1 });
    r.applyConfChange(
      ConfChangeV2.fromPartial({ changes: [{ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 3n }] }),
    );
    tickTimes(r, 10 * ELECTION);
    assert.equal(r.state, StateType.StateFollower);
    assert.equal(r.term, 1);
    assert.deepEqual(takeMessages(r), []);
  });

  test("a learner receives the log but neither votes for itself nor counts toward the quorum", () => {
    const r = newRaft(1n, [1n, 2n], { learners: [3n] });
    makeLeader(r);
    r.step(msg({ type: MessageType.MsgProp, from: 1n, to: 1n, entries: [entry(0, 0, "x")] }));
    const apps = takeMessages(r);
    assert.deepEqual(
      sortByTo(apps).map((m) => m.to),
      [2n, 3n],
    );
    ackAppends(r, apps, [3n]);
    assert.ok(r.raftLog.committed < r.raftLog.lastIndex(), "the learner's ack alone does not commit");
    const learner = newRaft(3n, [1n, 2n], { learners: [3n] });
    tickTimes(learner, 10 * ELECTION);
    assert.equal(learner.state, StateType.StateFollower);
  });
});

describe("§8 client interaction: read-only queries (ReadIndex)", () => {
  test("the leader answers a ReadIndex only after a quorum acknowledges a heartbeat carrying the request", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r);
    const committed = r.raftLog.committed;
    assert.equal(committed, 1, "the leader committed its empty entry");
    const ctx = Buffer.from("read-1");
    r.step(msg({ type: MessageType.MsgReadIndex, from: 1n, to: 1n, entries: [entry(0, 0, "read-1")] }));
    const hbs = takeMessages(r);
    assert.deepEqual(
      hbs.map((m) => [m.type, m.context.toString()]),
      [
        [MessageType.MsgHeartbeat, "read-1"],
        [MessageType.MsgHeartbeat, "read-1"],
      ],
    );
    assert.deepEqual(r.readStates, [], "no answer before a quorum confirmed the leadership");
    r.step(msg({ type: MessageType.MsgHeartbeatResp, from: 2n, to: 1n, term: r.term, context: ctx }));
    assert.deepEqual(r.readStates, [{ index: committed, requestCtx: ctx }]);
  });

  test("a single-voter leader answers a ReadIndex immediately", () => {
    const r = newRaft(1n, [1n]);
    r.step(msg({ type: MessageType.MsgHup, from: 1n, to: 1n }));
    assert.equal(r.state, StateType.StateLeader);
    r.step(msg({ type: MessageType.MsgReadIndex, from: 1n, to: 1n, entries: [entry(0, 0, "solo")] }));
    assert.equal(r.readStates.length, 1);
    assert.equal(r.readStates[0].index, r.raftLog.committed);
    assert.equal(r.readStates[0].requestCtx.toString(), "solo");
  });

  test("a follower's ReadIndex is answered with the leader's commit index", () => {
    const net = new Network(ids3.map((id) => newRaft(id, ids3)));
    net.campaign(1n);
    net.propose(1n, "w");
    const committed = net.node(1n).raftLog.committed;
    net.send(msg({ type: MessageType.MsgReadIndex, from: 2n, to: 2n, entries: [entry(0, 0, "f")] }));
    assert.deepEqual(
      net.node(2n).readStates.map((rs) => [rs.index, rs.requestCtx.toString()]),
      [[committed, "f"]],
    );
  });

  test("a new leader defers ReadIndex until it has committed an entry of its own term", () => {
    const r = newRaft(1n, ids3);
    makeLeader(r, false);
    r.step(msg({ type: MessageType.MsgReadIndex, from: 1n, to: 1n, entries: [entry(0, 0, "early")] }));
    assert.deepEqual(
      takeMessages(r).filter((m) => m.type === MessageType.MsgHeartbeat),
      [],
      "no read round before the leader's first entry commits",
    );
    r.step(
      msg({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term: r.term, index: r.raftLog.lastIndex() }),
    );
    const hbs = takeMessages(r).filter((m) => m.type === MessageType.MsgHeartbeat);
    assert.ok(hbs.length > 0 && hbs.every((m) => m.context.toString() === "early"));
    stepQuiet(
      r,
      msg({
        type: MessageType.MsgHeartbeatResp,
        from: 2n,
        to: 1n,
        term: r.term,
        context: Buffer.from("early"),
      }),
    );
    assert.deepEqual(
      r.readStates.map((rs) => rs.index),
      [r.raftLog.committed],
    );
  });
});

describe("pre-vote (thesis §9.6)", () => {
  test("a pre-candidate does not increase its term", () => {
    const r = newRaft(1n, ids3, { preVote: true, term: 1 });
    tickTimes(r, 2 * ELECTION);
    assert.equal(r.state, StateType.StatePreCandidate);
    assert.equal(r.term, 1);
    const reqs = takeMessages(r);
    assert.deepEqual(types(reqs), [MessageType.MsgPreVote, MessageType.MsgPreVote]);
    for (const m of reqs) assert.equal(m.term, 2, "the pre-vote asks about the next term");
  });

  test("a partitioned node that rejoins does not disrupt the leader", () => {
    const net = new Network(ids3.map((id) => newRaft(id, ids3, { preVote: true })));
    net.campaign(1n);
    const term = net.node(1n).term;
    net.isolate(3n);
    for (let i = 0; i < 5 * ELECTION; i++) net.tickAll();
    assert.equal(net.node(3n).term, term, "pre-vote kept the isolated node's term");
    net.heal();
    for (let i = 0; i < 3 * ELECTION; i++) net.tickAll();
    assert.equal(net.node(1n).state, StateType.StateLeader);
    assert.equal(net.node(1n).term, term);
  });

  test("a pre-vote becomes a real election once a majority would grant it", () => {
    const net = new Network(ids3.map((id) => newRaft(id, ids3, { preVote: true })));
    net.campaign(1n);
    assert.equal(net.node(1n).state, StateType.StateLeader);
    assert.equal(net.node(1n).term, 1);
  });
});

describe("check-quorum (thesis §6.2)", () => {
  test("a leader that has not heard from a quorum within an election timeout steps down", () => {
    const net = new Network(ids3.map((id) => newRaft(id, ids3, { checkQuorum: true })));
    net.campaign(1n);
    net.isolate(1n);
    const leader = net.node(1n);
    // The first check still sees the followers' answers from the election; the second sees silence.
    for (let i = 0; i < ELECTION; i++) leader.tick();
    assert.equal(leader.state, StateType.StateLeader);
    for (let i = 0; i < ELECTION; i++) leader.tick();
    assert.equal(leader.state, StateType.StateFollower);
    assert.equal(leader.lead, 0n);
  });

  test("a follower within its leader's lease ignores a vote request with a higher term", () => {
    const r = newRaft(2n, ids3, { checkQuorum: true, term: 1 });
    r.step(msg({ type: MessageType.MsgHeartbeat, from: 1n, to: 2n, term: 1 }));
    takeMessages(r);
    r.step(msg({ type: MessageType.MsgVote, from: 3n, to: 2n, term: 2, logTerm: 5, index: 5 }));
    assert.equal(r.term, 1);
    assert.equal(r.lead, 1n);
    assert.deepEqual(takeMessages(r), []);
  });
});
