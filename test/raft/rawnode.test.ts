// Behaviour of the raft state machine and RawNode beyond the data-driven scenarios: elections,
// pre-vote, check-quorum, replication and flow control, ReadIndex, leader transfer, snapshots,
// conf changes, and the Ready/advance contract. Modelled on etcd 3.4.23's raft unit tests.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
} from "../../src/gen/raftpb/raft.js";
import {
  describeMessage,
  describeReady,
  goQuote,
  type InitialState,
  MemoryStorage,
  newMessage,
  ProposalDroppedError,
  Raft,
  RawNode,
  ReadOnlyOption,
  SeededRand,
  SnapshotStatus,
  StateType,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "../../src/raft/index.js";
import type { Config } from "../../src/raft/raft.js";
import { ProgressState } from "../../src/raft/tracker/state.js";
import { emptyBuffer, emptyConfState, noLimit } from "../../src/raft/util.js";

/** MemoryStorage that starts with a given configuration (etcd's test-only `peers`). */
class PeerStorage extends MemoryStorage {
  constructor(private readonly cs: ConfState) {
    super();
  }
  override initialState(): InitialState {
    const st = super.initialState();
    // Once a snapshot carries a configuration, it wins.
    return st.confState.voters.length > 0 ? st : { hardState: st.hardState, confState: this.cs };
  }
}

function confState(voters: number[], learners: number[] = []): ConfState {
  return { ...emptyConfState(), voters: voters.map(BigInt), learners: learners.map(BigInt) };
}

function testConfig(id: number, storage: MemoryStorage, election = 10, heartbeat = 1): Config {
  return {
    id: BigInt(id),
    electionTick: election,
    heartbeatTick: heartbeat,
    storage,
    maxSizePerMsg: noLimit,
    maxInflightMsgs: 256,
    rand: new SeededRand(id * 7919),
  };
}

function newTestRaft(
  id: number,
  voters: number[],
  opts: Partial<Config> & { learners?: number[]; election?: number; heartbeat?: number } = {},
): { r: Raft; s: MemoryStorage } {
  const s = new PeerStorage(confState(voters, opts.learners ?? []));
  const r = new Raft({ ...testConfig(id, s, opts.election ?? 10, opts.heartbeat ?? 1), ...opts });
  return { r, s };
}

function msg(type: MessageType, from: number, to: number, fields: Partial<Message> = {}): Message {
  return { ...newMessage(type, BigInt(to)), from: BigInt(from), ...fields };
}

function prop(to: number, data = ""): Message {
  return msg(MessageType.MsgProp, to, to, {
    entries: [{ type: EntryType.EntryNormal, term: 0, index: 0, data: Buffer.from(data) }],
  });
}

function hup(id: number): Message {
  return msg(MessageType.MsgHup, id, id);
}

function readMessages(r: Raft): Message[] {
  const ms = r.msgs;
  r.msgs = [];
  return ms;
}

/** Moves the unstable entries to storage and returns the newly committed entries (applying them). */
function nextEnts(r: Raft, s: MemoryStorage): Entry[] {
  s.append(r.raftLog.unstableEntries());
  r.raftLog.stableTo(r.raftLog.lastIndex(), r.raftLog.lastTerm());
  const ents = r.raftLog.nextEnts();
  r.raftLog.appliedTo(r.raftLog.committed);
  return ents;
}

function stepSafely(r: Raft, m: Message): void {
  try {
    r.step(m);
  } catch (e) {
    if (!(e instanceof ProposalDroppedError)) throw e;
  }
}

/** An in-process network of Raft instances (ids 1..n) delivering messages in order, like etcd's test network. */
class Network {
  readonly peers = new Map<bigint, Raft | undefined>();
  readonly storage = new Map<bigint, MemoryStorage>();
  private readonly cuts = new Set<string>();
  private readonly ignored = new Set<MessageType>();
  msgHook: ((m: Message) => boolean) | undefined;

  /** `undefined` entries make fresh nodes, `null` a black hole, a Raft is used as is. */
  constructor(peers: (Raft | null | undefined)[], configure: (c: Config) => void = () => {}) {
    const ids = peers.map((_, k) => k + 1);
    peers.forEach((p, k) => {
      const id = BigInt(k + 1);
      if (p === undefined) {
        const s = new PeerStorage(confState(ids));
        const c = testConfig(k + 1, s);
        configure(c);
        this.peers.set(id, new Raft(c));
        this.storage.set(id, s);
      } else {
        this.peers.set(id, p ?? undefined);
      }
    });
  }

  send(...msgs: Message[]): void {
    const queue = msgs.slice();
    while (queue.length > 0) {
      const m = queue.shift()!;
      const p = this.peers.get(m.to);
      if (p === undefined) continue;
      stepSafely(p, m);
      for (const out of readMessages(p)) if (this.pass(out)) queue.push(out);
    }
  }

  private pass(m: Message): boolean {
    if (this.ignored.has(m.type)) return false;
    if (this.cuts.has(`${m.from}-${m.to}`)) return false;
    return this.msgHook === undefined || this.msgHook(m);
  }

  cut(a: number, b: number): void {
    this.cuts.add(`${a}-${b}`);
    this.cuts.add(`${b}-${a}`);
  }

  isolate(id: number): void {
    for (let k = 1; k <= this.peers.size; k++) if (k !== id) this.cut(id, k);
  }

  ignore(t: MessageType): void {
    this.ignored.add(t);
  }

  recover(): void {
    this.cuts.clear();
    this.ignored.clear();
  }

  raft(id: number): Raft {
    return this.peers.get(BigInt(id))!;
  }
}

describe("elections", () => {
  const cases: [boolean, (Raft | null | undefined)[], StateType, number][] = [
    [false, [undefined, undefined, undefined], StateType.StateLeader, 1],
    [false, [undefined, undefined, null], StateType.StateLeader, 1],
    [false, [undefined, null, null], StateType.StateCandidate, 1],
    [false, [undefined, null, null, undefined], StateType.StateCandidate, 1],
    [false, [undefined, null, null, undefined, undefined], StateType.StateLeader, 1],
    [true, [undefined, undefined, undefined], StateType.StateLeader, 1],
    [true, [undefined, undefined, null], StateType.StateLeader, 1],
    [true, [undefined, null, null], StateType.StatePreCandidate, 0],
    [true, [undefined, null, null, undefined], StateType.StatePreCandidate, 0],
    [true, [undefined, null, null, undefined, undefined], StateType.StateLeader, 1],
  ];
  cases.forEach(([preVote, peers, wstate, wterm], k) => {
    it(`#${k}: ${peers.length} nodes, ${peers.filter((p) => p === null).length} down, preVote=${preVote}`, () => {
      const nt = new Network(peers, (c) => {
        c.preVote = preVote;
      });
      nt.send(hup(1));
      assert.equal(nt.raft(1).state, wstate);
      assert.equal(nt.raft(1).term, wterm);
    });
  });

  it("a single voter becomes leader at once and commits alone", () => {
    const nt = new Network([undefined]);
    nt.send(hup(1));
    nt.send(prop(1, "some data"));
    nt.send(prop(1, "some data"));
    assert.equal(nt.raft(1).state, StateType.StateLeader);
    assert.equal(nt.raft(1).raftLog.committed, 3);
  });

  it("dueling candidates: the one with the shorter log loses and follows", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.cut(1, 3);
    nt.send(hup(1));
    nt.send(hup(3));
    assert.equal(nt.raft(1).state, StateType.StateLeader);
    assert.equal(nt.raft(3).state, StateType.StateCandidate);
    nt.recover();
    // 3 campaigns at term 2 but its log is behind: 1 and 2 refuse; 1 steps down.
    nt.send(hup(3));
    assert.equal(nt.raft(1).state, StateType.StateFollower);
    assert.equal(nt.raft(3).state, StateType.StateFollower);
    assert.equal(nt.raft(3).term, 2);
    assert.equal(nt.raft(1).raftLog.committed, 1);
    assert.equal(nt.raft(3).raftLog.committed, 0);
  });

  it("randomized election timeout stays in [electionTick, 2*electionTick) and replays from the seed", () => {
    const draws = (seed: number) => {
      const { r } = newTestRaft(1, [1, 2, 3], { rand: new SeededRand(seed) });
      const out: number[] = [];
      for (let k = 0; k < 200; k++) {
        r.resetRandomizedElectionTimeout();
        out.push(r.randomizedElectionTimeout);
      }
      return out;
    };
    const a = draws(42);
    assert.deepEqual(a, draws(42));
    assert.notDeepEqual(a, draws(43));
    assert.ok(a.every((v) => v >= 10 && v < 20));
    assert.equal(new Set(a).size, 10, "every timeout value is drawn");
  });

  it("a follower campaigns once the randomized timeout has passed, not before", () => {
    const { r } = newTestRaft(1, [1, 2, 3]);
    const timeout = r.randomizedElectionTimeout;
    for (let k = 0; k < timeout - 1; k++) r.tick();
    assert.equal(r.state, StateType.StateFollower);
    r.tick();
    assert.equal(r.state, StateType.StateCandidate);
    assert.equal(r.term, 1);
    const votes = readMessages(r);
    assert.deepEqual(
      votes.map((m) => [MessageType[m.type], m.to, m.term]),
      [
        ["MsgVote", 2n, 1],
        ["MsgVote", 3n, 1],
      ],
    );
  });

  it("learners never campaign but can vote", () => {
    const { r: learner } = newTestRaft(2, [1], { learners: [2] });
    assert.equal(learner.isLearner, true);
    for (let k = 0; k < 2 * learner.electionTimeout; k++) learner.tick();
    assert.equal(learner.state, StateType.StateFollower);
    learner.step(msg(MessageType.MsgVote, 1, 2, { term: 2, logTerm: 11, index: 11 }));
    const ms = readMessages(learner);
    assert.equal(ms.length, 1);
    assert.equal(ms[0].type, MessageType.MsgVoteResp);
    assert.equal(ms[0].reject, false);
  });

  it("a node with pending conf changes to apply does not campaign", () => {
    const { r } = newTestRaft(1, [1, 2]);
    r.becomeCandidate();
    r.becomeLeader();
    r.step(
      msg(MessageType.MsgProp, 1, 1, { entries: [{ ...confEntry(ConfChangeType.ConfChangeAddNode, 3) }] }),
    );
    r.step(msg(MessageType.MsgAppResp, 2, 1, { index: r.raftLog.lastIndex(), term: 1 }));
    r.becomeFollower(2, 0n);
    assert.ok(r.raftLog.committed > r.raftLog.applied);
    r.step(hup(1));
    assert.equal(r.state, StateType.StateFollower);
  });
});

function confEntry(type: ConfChangeType, node: number): Entry {
  const data = Buffer.from(
    ConfChange.encode({ id: 0n, type, nodeId: BigInt(node), context: emptyBuffer }).finish(),
  );
  return { type: EntryType.EntryConfChange, term: 0, index: 0, data };
}

describe("log replication and commitment", () => {
  it("replicates proposals to every node, including by proxy through a follower", () => {
    for (const proposer of [1, 2]) {
      const nt = new Network([undefined, undefined, undefined]);
      nt.send(hup(1));
      nt.send(prop(proposer, "somedata"));
      for (let id = 1; id <= 3; id++) {
        const r = nt.raft(id);
        assert.equal(r.raftLog.committed, 2, `node ${id}`);
        const ents = nextEnts(r, nt.storage.get(BigInt(id))!);
        assert.deepEqual(
          ents.map((e) => [e.term, e.index, e.data.toString()]),
          [
            [1, 1, ""],
            [1, 2, "somedata"],
          ],
        );
      }
    }
  });

  it("entries of an older term commit only with an entry of the current term", () => {
    const nt = new Network([undefined, undefined, undefined, undefined, undefined]);
    nt.send(hup(1));
    nt.cut(1, 3);
    nt.cut(1, 4);
    nt.cut(1, 5);
    nt.send(prop(1, "some data"));
    nt.send(prop(1, "some data"));
    assert.equal(nt.raft(1).raftLog.committed, 1);
    nt.recover();
    // Keep the new leader from replicating its empty entry.
    nt.ignore(MessageType.MsgApp);
    nt.send(hup(2));
    assert.equal(nt.raft(2).state, StateType.StateLeader);
    assert.equal(nt.raft(2).raftLog.committed, 1);
    nt.recover();
    nt.send(msg(MessageType.MsgBeat, 2, 2));
    nt.send(prop(2, "somedata"));
    assert.equal(nt.raft(2).raftLog.committed, 5);
  });

  it("a follower accepts, rejects with a hint, and commits per MsgApp", () => {
    // message fields, want last index, want commit, want reject
    const cases: [Partial<Message>, number, number, boolean][] = [
      [{ logTerm: 3, index: 2, commit: 3 }, 2, 0, true],
      [{ logTerm: 3, index: 3, commit: 3 }, 2, 0, true],
      [{ logTerm: 1, index: 1, commit: 1 }, 2, 1, false],
      [{ logTerm: 0, index: 0, commit: 1, entries: [ent(1, 2)] }, 1, 1, false],
      [{ logTerm: 2, index: 2, commit: 3, entries: [ent(3, 2), ent(4, 2)] }, 4, 3, false],
      [{ logTerm: 2, index: 2, commit: 4, entries: [ent(3, 2)] }, 3, 3, false],
      [{ logTerm: 1, index: 1, commit: 4, entries: [ent(2, 2)] }, 2, 2, false],
      [{ logTerm: 1, index: 1, commit: 3 }, 2, 1, false],
      [{ logTerm: 1, index: 1, commit: 3, entries: [ent(2, 2)] }, 2, 2, false],
      [{ logTerm: 2, index: 2, commit: 3 }, 2, 2, false],
      [{ logTerm: 2, index: 2, commit: 4 }, 2, 2, false],
    ];
    cases.forEach(([fields, windex, wcommit, wreject], k) => {
      const s = new PeerStorage(confState([1]));
      s.append([ent(1, 1), ent(2, 2)]);
      const r2 = new Raft(testConfig(1, s));
      r2.becomeFollower(2, 0n);
      r2.step(msg(MessageType.MsgApp, 2, 1, { term: 2, ...fields }));
      assert.equal(r2.raftLog.lastIndex(), windex, `#${k} last index`);
      assert.equal(r2.raftLog.committed, wcommit, `#${k} commit`);
      const ms = readMessages(r2);
      assert.equal(ms.length, 1);
      assert.equal(ms[0].reject, wreject, `#${k} reject`);
      if (wreject) {
        assert.equal(ms[0].index, fields.index, `#${k} rejected index`);
        assert.equal(ms[0].rejectHint, 2, `#${k} hint is the follower's last index`);
      }
    });
  });

  it("a rejection moves the follower's progress back to min(rejected, hint+1) in probe state", () => {
    const { r } = newTestRaft(1, [1, 2, 3]);
    for (let k = 0; k < 5; k++) r.raftLog.append([ent(k + 1, 1)]);
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    const pr = r.prs.progress.get(2n)!;
    // Progress was reset before the leader appended its empty entry.
    assert.equal(pr.next, 6);
    r.step(msg(MessageType.MsgAppResp, 2, 1, { term: r.term, index: 5, reject: true, rejectHint: 2 }));
    assert.equal(pr.state, ProgressState.StateProbe);
    assert.equal(pr.next, 3);
    const ms = readMessages(r);
    assert.equal(ms.length, 1);
    assert.equal(ms[0].type, MessageType.MsgApp);
    assert.equal(ms[0].index, 2);
  });

  it("heartbeats carry min(match, committed)", () => {
    const { r } = newTestRaft(1, [1, 2, 3]);
    r.becomeCandidate();
    r.becomeLeader();
    r.raftLog.commitTo(1);
    r.prs.progress.get(2n)!.match = 1;
    readMessages(r);
    r.step(msg(MessageType.MsgBeat, 1, 1));
    const ms = readMessages(r);
    assert.deepEqual(
      ms.map((m) => [MessageType[m.type], m.to, m.commit]),
      [
        ["MsgHeartbeat", 2n, 1],
        ["MsgHeartbeat", 3n, 0],
      ],
    );
  });

  it("a heartbeat response resends appends to a lagging follower", () => {
    const { r } = newTestRaft(1, [1, 2]);
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.step(msg(MessageType.MsgHeartbeatResp, 2, 1, { term: 1 }));
    let ms = readMessages(r);
    assert.equal(ms.length, 1);
    assert.equal(ms[0].type, MessageType.MsgApp);
    r.step(msg(MessageType.MsgAppResp, 2, 1, { term: 1, index: ms[0].index + ms[0].entries.length }));
    readMessages(r);
    r.step(msg(MessageType.MsgHeartbeatResp, 2, 1, { term: 1 }));
    ms = readMessages(r);
    assert.equal(ms.length, 0, "an up-to-date follower gets nothing");
  });

  it("flow control: one probe at a time, then a window of maxInflightMsgs size-limited appends", () => {
    const s = new PeerStorage(confState([1, 2]));
    const r = new Raft({ ...testConfig(1, s, 5, 1), maxInflightMsgs: 3, maxSizePerMsg: 2048 });
    r.becomeCandidate();
    r.becomeLeader();
    readMessages(r);
    r.prs.progress.get(2n)!.becomeProbe();
    const blob = Buffer.from("a".repeat(1000));
    for (let k = 0; k < 10; k++) {
      r.step(
        msg(MessageType.MsgProp, 1, 1, {
          entries: [{ type: EntryType.EntryNormal, term: 0, index: 0, data: blob }],
        }),
      );
    }
    let ms = readMessages(r);
    assert.equal(ms.length, 1);
    assert.equal(ms[0].entries.length, 2);
    assert.equal(ms[0].entries[0].data.length, 0);
    assert.equal(ms[0].entries[1].data.length, 1000);
    r.step(msg(MessageType.MsgAppResp, 2, 1, { index: ms[0].entries[1].index }));
    ms = readMessages(r);
    assert.equal(ms.length, 3);
    for (const m of ms) {
      assert.equal(m.type, MessageType.MsgApp);
      assert.equal(m.entries.length, 2);
    }
    assert.equal(r.prs.progress.get(2n)!.isPaused(), true, "the window is full");
    r.step(msg(MessageType.MsgAppResp, 2, 1, { index: ms[2].entries[1].index }));
    ms = readMessages(r);
    assert.equal(ms.length, 2);
    assert.equal(ms[0].entries.length, 2);
    assert.equal(ms[1].entries.length, 1);
  });

  it("a heartbeat response frees one slot of a full inflight window", () => {
    const s = new PeerStorage(confState([1, 2]));
    const r = new Raft({ ...testConfig(1, s, 5, 1), maxInflightMsgs: 2 });
    r.becomeCandidate();
    r.becomeLeader();
    const pr = r.prs.progress.get(2n)!;
    pr.becomeReplicate();
    readMessages(r);
    for (let k = 0; k < 4; k++) r.step(prop(1, "x"));
    assert.equal(readMessages(r).length, 2);
    assert.equal(pr.inflights.full(), true);
    r.step(msg(MessageType.MsgHeartbeatResp, 2, 1, { term: 1 }));
    assert.equal(readMessages(r).length, 1, "one more append goes out");
  });

  it("uncommitted entry limit drops proposals, but accepts one large proposal on an empty tail", () => {
    const maxEntries = 64;
    const testData = Buffer.from("testdata");
    const s = new PeerStorage(confState([1, 2, 3]));
    const r = new Raft({
      ...testConfig(1, s, 5, 1),
      maxUncommittedEntriesSize: maxEntries * testData.length,
      maxInflightMsgs: 1024,
    });
    r.becomeCandidate();
    r.becomeLeader();
    assert.equal(r.uncommittedSize, 0);
    r.prs.progress.get(2n)!.becomeReplicate();
    r.prs.progress.get(3n)!.becomeReplicate();
    const one = () =>
      msg(MessageType.MsgProp, 1, 1, {
        entries: [{ type: EntryType.EntryNormal, term: 0, index: 0, data: testData }],
      });
    const committed: Entry[] = [];
    for (let k = 0; k < maxEntries; k++) {
      r.step(one());
      committed.push({ type: EntryType.EntryNormal, term: 0, index: 0, data: testData });
    }
    assert.throws(() => r.step(one()), ProposalDroppedError);
    assert.equal(readMessages(r).length, maxEntries * 2);
    r.advance({ committedEntries: committed, entries: [] });
    assert.equal(r.uncommittedSize, 0);
    const large = Array.from({ length: 2 * maxEntries }, () => ({
      type: EntryType.EntryNormal,
      term: 0,
      index: 0,
      data: testData,
    }));
    r.step(msg(MessageType.MsgProp, 1, 1, { entries: large }));
    assert.throws(() => r.step(one()), ProposalDroppedError);
    assert.equal(readMessages(r).length, 2);
    r.advance({ committedEntries: large, entries: [] });
    assert.equal(r.uncommittedSize, 0);
  });
});

function ent(index: number, term: number): Entry {
  return { type: EntryType.EntryNormal, index, term, data: emptyBuffer };
}

describe("ReadIndex", () => {
  for (const option of [ReadOnlyOption.ReadOnlySafe, ReadOnlyOption.ReadOnlyLeaseBased]) {
    it(`answers at the commit index (${ReadOnlyOption[option]}) on leader and followers`, () => {
      const nt = new Network([undefined, undefined, undefined], (c) => {
        c.readOnlyOption = option;
        c.checkQuorum = option === ReadOnlyOption.ReadOnlyLeaseBased;
      });
      const b = nt.raft(2);
      b.randomizedElectionTimeout = b.electionTimeout + 1;
      for (let k = 0; k < b.electionTimeout; k++) b.tick();
      nt.send(hup(1));
      assert.equal(nt.raft(1).state, StateType.StateLeader);
      const cases: [number, number, string][] = [
        [1, 11, "ctx1"],
        [2, 21, "ctx2"],
        [3, 31, "ctx3"],
        [1, 41, "ctx4"],
        [2, 51, "ctx5"],
        [3, 61, "ctx6"],
      ];
      for (const [id, want, ctx] of cases) {
        for (let k = 0; k < 10; k++) nt.send(prop(1));
        nt.send(
          msg(MessageType.MsgReadIndex, id, id, {
            entries: [{ type: EntryType.EntryNormal, term: 0, index: 0, data: Buffer.from(ctx) }],
          }),
        );
        const r = nt.raft(id);
        assert.equal(r.readStates.length, 1, `read on ${id}`);
        assert.equal(r.readStates[0].index, want);
        assert.equal(r.readStates[0].requestCtx.toString(), ctx);
        r.readStates = [];
      }
    });
  }

  it("a new leader answers reads only after committing an entry of its term", () => {
    const peers: Raft[] = [];
    for (const [id, committed, applied, compact] of [
      [1, 1, 1, 0],
      [2, 2, 2, 2],
      [3, 2, 2, 2],
    ]) {
      const s = new PeerStorage(confState([1, 2, 3]));
      s.append([ent(1, 1), ent(2, 1)]);
      s.setHardState({ term: 1, vote: 0n, commit: committed });
      if (compact > 0) s.compact(compact);
      peers.push(new Raft({ ...testConfig(id, s), applied }));
    }
    const nt = new Network(peers);
    nt.ignore(MessageType.MsgApp);
    nt.send(hup(1));
    const sm = nt.raft(1);
    assert.equal(sm.state, StateType.StateLeader);
    const read = () =>
      msg(MessageType.MsgReadIndex, 1, 1, {
        entries: [{ type: EntryType.EntryNormal, term: 0, index: 0, data: Buffer.from("ctx") }],
      });
    nt.send(read());
    assert.equal(sm.readStates.length, 0, "postponed");
    nt.recover();
    for (let k = 0; k < sm.heartbeatTimeout; k++) sm.tick();
    nt.send(prop(1));
    assert.equal(sm.raftLog.committed, 4);
    assert.equal(sm.readStates.length, 1);
    assert.equal(sm.readStates[0].index, 4);
    nt.send(read());
    assert.equal(sm.readStates.length, 2);
    assert.equal(sm.readStates[1].index, 4);
  });
});

describe("check-quorum and pre-vote", () => {
  it("a leader steps down after an election timeout without hearing from a quorum", () => {
    for (const active of [false, true]) {
      const { r } = newTestRaft(1, [1, 2, 3], { checkQuorum: true });
      r.becomeCandidate();
      r.becomeLeader();
      for (let k = 0; k < r.electionTimeout + 1; k++) {
        if (active) r.step(msg(MessageType.MsgHeartbeatResp, 2, 1, { term: r.term }));
        r.tick();
      }
      assert.equal(r.state, active ? StateType.StateLeader : StateType.StateFollower);
    }
  });

  it("a vote inside the leader lease is ignored; after it expires the candidate wins", () => {
    const nt = new Network([undefined, undefined, undefined], (c) => {
      c.checkQuorum = true;
    });
    const b = nt.raft(2);
    const c = nt.raft(3);
    b.randomizedElectionTimeout = b.electionTimeout + 1;
    for (let k = 0; k < b.electionTimeout; k++) b.tick();
    nt.send(hup(1));
    assert.equal(nt.raft(1).state, StateType.StateLeader);
    assert.equal(c.state, StateType.StateFollower);
    nt.send(hup(3));
    assert.equal(c.state, StateType.StateCandidate, "b ignored the vote inside its lease");
    b.randomizedElectionTimeout = b.electionTimeout + 1;
    for (let k = 0; k < b.electionTimeout; k++) b.tick();
    nt.send(hup(3));
    assert.equal(c.state, StateType.StateLeader);
  });

  it("pre-vote keeps a rejoining follower from disrupting the leader", () => {
    const nt = new Network([undefined, undefined, undefined], (c) => {
      c.checkQuorum = true;
      c.preVote = true;
    });
    nt.send(hup(1));
    const [n1, n2, n3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    assert.equal(n1.state, StateType.StateLeader);
    nt.isolate(3);
    nt.send(prop(1, "somedata"));
    nt.send(prop(1, "somedata"));
    nt.send(prop(1, "somedata"));
    nt.recover();
    nt.send(hup(3));
    assert.equal(n1.state, StateType.StateLeader);
    assert.equal(n2.state, StateType.StateFollower);
    assert.equal(n3.state, StateType.StatePreCandidate);
    assert.deepEqual([n1.term, n2.term, n3.term], [1, 1, 1]);
    // A delayed heartbeat of the current leader does not make it step down.
    nt.send(msg(MessageType.MsgHeartbeat, 1, 3, { term: n1.term }));
    assert.equal(n1.state, StateType.StateLeader);
  });

  it("without pre-vote a rejoining follower with a higher term forces an election", () => {
    const nt = new Network([undefined, undefined, undefined], (c) => {
      c.checkQuorum = true;
    });
    nt.send(hup(1));
    const [n1, , n3] = [nt.raft(1), nt.raft(2), nt.raft(3)];
    n3.randomizedElectionTimeout = n3.electionTimeout + 2;
    for (let k = 0; k < n3.randomizedElectionTimeout - 1; k++) n3.tick();
    n3.tick();
    assert.equal(n3.state, StateType.StateCandidate);
    assert.equal(n3.term, 2);
    // The leader's heartbeat gets a response with the higher term, which deposes it.
    nt.send(msg(MessageType.MsgHeartbeat, 1, 3, { term: n1.term }));
    assert.equal(n1.state, StateType.StateFollower);
    assert.equal(n1.term, 2);
  });
});

describe("leader transfer", () => {
  function check(r: Raft, state: StateType, lead: number): void {
    assert.equal(r.state, state);
    assert.equal(r.lead, BigInt(lead));
    assert.equal(r.leadTransferee, 0n);
  }

  it("to an up-to-date node, and back", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(hup(1));
    const lead = nt.raft(1);
    nt.send(msg(MessageType.MsgTransferLeader, 2, 1));
    check(lead, StateType.StateFollower, 2);
    nt.send(prop(1));
    nt.send(msg(MessageType.MsgTransferLeader, 1, 2));
    check(lead, StateType.StateLeader, 1);
  });

  it("to a slow follower: it is caught up first, then told to campaign", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(hup(1));
    nt.isolate(3);
    nt.send(prop(1));
    nt.recover();
    const lead = nt.raft(1);
    assert.equal(lead.prs.progress.get(3n)!.match, 1);
    nt.send(msg(MessageType.MsgTransferLeader, 3, 1));
    check(lead, StateType.StateFollower, 3);
  });

  it("drops proposals while transferring and gives up after an election timeout", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(hup(1));
    nt.isolate(3);
    const lead = nt.raft(1);
    nt.send(msg(MessageType.MsgTransferLeader, 3, 1));
    assert.equal(lead.leadTransferee, 3n);
    assert.throws(() => lead.step(prop(1)), ProposalDroppedError);
    assert.equal(lead.prs.progress.get(1n)!.match, 1);
    for (let k = 0; k < lead.heartbeatTimeout; k++) lead.tick();
    assert.equal(lead.leadTransferee, 3n);
    for (let k = 0; k < lead.electionTimeout - lead.heartbeatTimeout; k++) lead.tick();
    check(lead, StateType.StateLeader, 1);
  });

  it("ignores transfers to itself and to non-members", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(hup(1));
    const lead = nt.raft(1);
    nt.send(msg(MessageType.MsgTransferLeader, 1, 1));
    check(lead, StateType.StateLeader, 1);
    nt.send(msg(MessageType.MsgTransferLeader, 4, 1));
    check(lead, StateType.StateLeader, 1);
  });
});

describe("snapshots", () => {
  it("a lagging follower catches up from a snapshot, then from the log", () => {
    const nt = new Network([undefined, undefined, undefined]);
    nt.send(hup(1));
    nt.isolate(3);
    for (let k = 0; k <= 100; k++) nt.send(prop(1));
    const lead = nt.raft(1);
    const ls = nt.storage.get(1n)!;
    nextEnts(lead, ls);
    ls.createSnapshot(lead.raftLog.applied, lead.prs.confState(), emptyBuffer);
    ls.compact(lead.raftLog.applied);
    nt.recover();
    // The leader sends a snapshot only to a follower it knows is active.
    for (let k = 0; k < 10 && !lead.prs.progress.get(3n)!.recentActive; k++)
      nt.send(msg(MessageType.MsgBeat, 1, 1));
    assert.equal(lead.prs.progress.get(3n)!.recentActive, true);
    let sawSnap = false;
    nt.msgHook = (m) => {
      if (m.type === MessageType.MsgSnap) sawSnap = true;
      return true;
    };
    nt.send(prop(1));
    nt.send(prop(1));
    assert.equal(sawSnap, true);
    const follower = nt.raft(3);
    assert.equal(follower.raftLog.committed, lead.raftLog.committed);
    assert.equal(lead.prs.progress.get(3n)!.state, ProgressState.StateReplicate);
  });

  it("restore: the log and configuration come from the snapshot; an older snapshot is ignored", () => {
    const { r } = newTestRaft(1, [1, 2]);
    const snap = { data: emptyBuffer, metadata: { index: 11, term: 11, confState: confState([1, 2, 3]) } };
    assert.equal(r.restore(snap), true);
    assert.equal(r.raftLog.lastIndex(), 11);
    assert.equal(r.raftLog.term(11), 11);
    assert.deepEqual(r.prs.voterNodes(), [1n, 2n, 3n]);
    assert.equal(r.restore(snap), false);
    // Ready shows the snapshot until it is marked stable.
    assert.equal(r.raftLog.unstable.snapshot, snap);
  });

  it("a snapshot that does not contain this node is refused", () => {
    const { r } = newTestRaft(1, [1, 2]);
    const snap = { data: emptyBuffer, metadata: { index: 11, term: 11, confState: confState([2, 3]) } };
    assert.equal(r.restore(snap), false);
    assert.equal(r.raftLog.lastIndex(), 0);
  });

  it("reportSnapshot moves a follower out of snapshot state", () => {
    const s = new PeerStorage(confState([1, 2]));
    s.applySnapshot({ data: emptyBuffer, metadata: { index: 11, term: 11, confState: confState([1, 2]) } });
    const rn = new RawNode(testConfig(1, s));
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    const pr = () => rn.raft.prs.progress.get(2n)!;
    // Force a snapshot: the follower needs entries before the first index.
    pr().next = 5;
    pr().recentActive = true;
    rn.raft.sendAppend(2n);
    assert.equal(pr().state, ProgressState.StateSnapshot);
    assert.equal(pr().pendingSnapshot, 11);
    rn.reportSnapshot(2n, SnapshotStatus.SnapshotFailure);
    assert.equal(pr().state, ProgressState.StateProbe);
    assert.equal(pr().next, 1, "a failed snapshot is forgotten");
    pr().becomeSnapshot(11);
    rn.reportSnapshot(2n, SnapshotStatus.SnapshotFinish);
    assert.equal(pr().state, ProgressState.StateProbe);
    assert.equal(pr().next, 12);
    assert.equal(pr().probeSent, true, "waits for the follower's answer");
  });
});

describe("configuration changes", () => {
  it("only one conf change may be pending: a second one becomes an empty normal entry", () => {
    const { r } = newTestRaft(1, [1, 2]);
    r.becomeCandidate();
    r.becomeLeader();
    r.step(msg(MessageType.MsgProp, 1, 1, { entries: [confEntry(ConfChangeType.ConfChangeAddNode, 3)] }));
    const index = r.raftLog.lastIndex();
    const pending = r.pendingConfIndex;
    r.step(msg(MessageType.MsgProp, 1, 1, { entries: [confEntry(ConfChangeType.ConfChangeAddNode, 4)] }));
    const ents = r.raftLog.entries(index + 1, noLimit);
    assert.deepEqual(
      ents.map((e) => [e.type, e.term, e.index, e.data.length]),
      [[EntryType.EntryNormal, 1, 3, 0]],
    );
    assert.equal(r.pendingConfIndex, pending);
  });

  it("a new leader waits for its whole tail before accepting a conf change", () => {
    for (const [addEntry, want] of [
      [false, 0],
      [true, 1],
    ] as [boolean, number][]) {
      const { r } = newTestRaft(1, [1, 2]);
      if (addEntry) r.raftLog.append([ent(1, 0)]);
      r.becomeCandidate();
      r.becomeLeader();
      assert.equal(r.pendingConfIndex, want);
    }
  });

  it("removing a node lowers the quorum and commits what was waiting", () => {
    const { r, s } = newTestRaft(1, [1, 2], { election: 5 });
    r.becomeCandidate();
    r.becomeLeader();
    const cc: ConfChange = {
      id: 0n,
      type: ConfChangeType.ConfChangeRemoveNode,
      nodeId: 2n,
      context: emptyBuffer,
    };
    r.step(
      msg(MessageType.MsgProp, 1, 1, {
        entries: [
          {
            type: EntryType.EntryConfChange,
            term: 0,
            index: 0,
            data: Buffer.from(ConfChange.encode(cc).finish()),
          },
        ],
      }),
    );
    assert.equal(nextEnts(r, s).length, 0);
    const ccIndex = r.raftLog.lastIndex();
    r.step(prop(1, "hello"));
    r.step(msg(MessageType.MsgAppResp, 2, 1, { index: ccIndex }));
    let ents = nextEnts(r, s);
    assert.deepEqual(
      ents.map((e) => e.type),
      [EntryType.EntryNormal, EntryType.EntryConfChange],
    );
    r.applyConfChange({
      transition: 0,
      changes: [{ type: cc.type, nodeId: cc.nodeId }],
      context: emptyBuffer,
    });
    ents = nextEnts(r, s);
    assert.deepEqual(
      ents.map((e) => [e.type, e.data.toString()]),
      [[EntryType.EntryNormal, "hello"]],
    );
  });

  it("adding and removing nodes and learners updates the configuration", () => {
    const { r } = newTestRaft(1, [1]);
    let cs = r.applyConfChange({
      transition: 0,
      changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 2n }],
      context: emptyBuffer,
    });
    assert.deepEqual(cs.voters, [1n, 2n]);
    cs = r.applyConfChange({
      transition: 0,
      changes: [{ type: ConfChangeType.ConfChangeAddLearnerNode, nodeId: 3n }],
      context: emptyBuffer,
    });
    assert.deepEqual(cs.learners, [3n]);
    assert.equal(r.prs.progress.get(3n)!.isLearner, true);
    cs = r.applyConfChange({
      transition: 0,
      changes: [{ type: ConfChangeType.ConfChangeRemoveNode, nodeId: 2n }],
      context: emptyBuffer,
    });
    assert.deepEqual(cs.voters, [1n]);
    assert.equal(r.prs.progress.has(2n), false);
  });
});

describe("RawNode", () => {
  it("bootstrap, campaign, propose: Ready carries entries, commits and soft/hard state changes", () => {
    const s = new MemoryStorage();
    const rn = new RawNode(testConfig(1, s));
    rn.bootstrap([{ id: 1n }]);
    let rd = rn.ready();
    assert.deepEqual(rd.hardState, { term: 1, vote: 0n, commit: 1 });
    assert.equal(rd.entries.length, 1);
    assert.equal(rd.committedEntries.length, 1);
    assert.equal(rd.mustSync, true);
    s.setHardState(rd.hardState!);
    s.append(rd.entries);
    rn.advance(rd);
    assert.equal(rn.hasReady(), false);

    rn.campaign();
    rn.propose(Buffer.from("foo"));
    rd = rn.ready();
    assert.deepEqual(rd.softState, { lead: 1n, raftState: StateType.StateLeader });
    assert.deepEqual(rd.hardState, { term: 2, vote: 1n, commit: 3 });
    assert.deepEqual(
      rd.entries.map((e) => [e.term, e.index, e.data.toString()]),
      [
        [2, 2, ""],
        [2, 3, "foo"],
      ],
    );
    // A single-voter leader lists its new entries as committed at once (etcd 3.4).
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [2, 3],
    );
    assert.equal(rd.mustSync, true);
    s.setHardState(rd.hardState!);
    s.append(rd.entries);
    rn.advance(rd);
    assert.equal(rn.hasReady(), false);
    assert.equal(rn.status().applied, 3);
  });

  it("a restarted node hands out committed entries after the applied index only", () => {
    const s = new MemoryStorage();
    s.applySnapshot({ data: emptyBuffer, metadata: { index: 1, term: 1, confState: confState([1]) } });
    s.append([ent(2, 1), ent(3, 1), ent(4, 1)]);
    s.setHardState({ term: 1, vote: 1n, commit: 3 });
    const rn = new RawNode({ ...testConfig(1, s), applied: 2 });
    const rd = rn.ready();
    assert.equal(rd.hardState, undefined, "the hard state did not change");
    assert.equal(rd.entries.length, 0);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [3],
    );
    assert.equal(rd.mustSync, false);
    rn.advance(rd);
    assert.equal(rn.hasReady(), false);
  });

  it("entries in a Ready are a copy that later proposals do not change", () => {
    const s = new PeerStorage(confState([1, 2]));
    const rn = new RawNode(testConfig(1, s));
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    const rd = rn.ready();
    const n = rd.entries.length;
    rn.propose(Buffer.from("later"));
    assert.equal(rd.entries.length, n);
    s.append(rd.entries);
    rn.advance(rd);
    const rd2 = rn.ready();
    assert.deepEqual(
      rd2.entries.map((e) => e.data.toString()),
      ["later"],
    );
  });

  it("proposeMany on a leader: consecutive entries, one append per follower, committed together", () => {
    const s = new PeerStorage(confState([1, 2, 3]));
    const rn = new RawNode(testConfig(1, s));
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    let rd = rn.ready();
    s.append(rd.entries);
    rn.advance(rd);
    const last = rn.raft.raftLog.lastIndex();
    // both followers acknowledge the leader's empty entry: they replicate from here on
    for (const from of [2, 3]) rn.step(msg(MessageType.MsgAppResp, from, 1, { term: 1, index: last }));
    rd = rn.ready();
    s.append(rd.entries);
    rn.advance(rd);

    rn.proposeMany(["a", "b", "c"].map((d) => Buffer.from(d)));
    rd = rn.ready();
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term, e.data.toString()]),
      [
        [last + 1, 1, "a"],
        [last + 2, 1, "b"],
        [last + 3, 1, "c"],
      ],
    );
    const apps = rd.messages.filter((m) => m.type === MessageType.MsgApp);
    assert.deepEqual(
      apps.map((m) => [m.to, m.index, m.entries.map((e) => e.index)]),
      [
        [2n, last, [last + 1, last + 2, last + 3]],
        [3n, last, [last + 1, last + 2, last + 3]],
      ],
      "one append per follower carries the run",
    );
    s.append(rd.entries);
    rn.advance(rd);
    rn.step(msg(MessageType.MsgAppResp, 2, 1, { term: 1, index: last + 3 }));
    rd = rn.ready();
    assert.deepEqual(
      rd.committedEntries.map((e) => e.data.toString()),
      ["a", "b", "c"],
    );
    rn.advance(rd);
    rn.proposeMany([]);
    assert.equal(rn.hasReady(), false, "an empty run proposes nothing");
  });

  it("proposeMany on a follower forwards one MsgProp; without a leader it drops all of them", () => {
    const rn = new RawNode(testConfig(2, new PeerStorage(confState([1, 2]))));
    assert.throws(() => rn.proposeMany([Buffer.from("x"), Buffer.from("y")]), ProposalDroppedError);
    assert.equal(rn.raft.raftLog.lastIndex(), 0, "nothing appended");
    rn.raft.becomeFollower(1, 1n);
    rn.proposeMany([Buffer.from("x"), Buffer.from("y")]);
    const rd = rn.ready();
    assert.deepEqual(
      rd.messages.map((m) => [MessageType[m.type], m.to, m.entries.map((e) => e.data.toString())]),
      [["MsgProp", 1n, ["x", "y"]]],
    );
  });

  it("readIndex on a single voter yields a ReadState in the next Ready", () => {
    const s = new PeerStorage(confState([1]));
    const rn = new RawNode(testConfig(1, s));
    rn.campaign();
    let rd = rn.ready();
    s.append(rd.entries);
    rn.advance(rd);
    rn.readIndex(Buffer.from("somedata"));
    assert.equal(rn.hasReady(), true);
    rd = rn.ready();
    assert.deepEqual(rd.readStates, [{ index: 1, requestCtx: Buffer.from("somedata") }]);
    rn.advance(rd);
    assert.equal(rn.raft.readStates.length, 0);
    assert.equal(rn.hasReady(), false);
  });

  it("step refuses local messages and responses from unknown peers", () => {
    const rn = new RawNode(testConfig(1, new PeerStorage(confState([1, 2]))));
    for (const t of [
      MessageType.MsgHup,
      MessageType.MsgBeat,
      MessageType.MsgUnreachable,
      MessageType.MsgSnapStatus,
      MessageType.MsgCheckQuorum,
    ]) {
      assert.throws(() => rn.step(msg(t, 2, 1)), StepLocalMsgError);
    }
    assert.throws(() => rn.step(msg(MessageType.MsgAppResp, 9, 1, { term: 1 })), StepPeerNotFoundError);
    assert.throws(() => rn.propose(Buffer.from("x")), ProposalDroppedError, "no leader yet");
  });

  it("status has progress only on the leader; tickQuiesced moves only the election clock", () => {
    const s = new PeerStorage(confState([1, 2]));
    const rn = new RawNode(testConfig(1, s));
    assert.equal(rn.status().progress.size, 0);
    rn.tickQuiesced();
    assert.equal(rn.raft.electionElapsed, 1);
    assert.equal(rn.hasReady(), false);
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    const st = rn.status();
    assert.equal(st.progress.size, 2);
    assert.equal(st.softState.raftState, StateType.StateLeader);
    st.progress.get(2n)!.match = 99;
    assert.equal(rn.raft.prs.progress.get(2n)!.match, 0, "status holds copies");
  });

  it("config validation uses etcd's messages", () => {
    const s = new MemoryStorage();
    assert.throws(() => new RawNode({ ...testConfig(1, s), id: 0n }), /cannot use none as id/);
    assert.throws(
      () => new RawNode({ ...testConfig(1, s), electionTick: 1, heartbeatTick: 1 }),
      /election tick must be greater than heartbeat tick/,
    );
    assert.throws(() => new RawNode({ ...testConfig(1, s), maxInflightMsgs: 0 }), /max inflight messages/);
    assert.throws(
      () => new RawNode({ ...testConfig(1, s), readOnlyOption: ReadOnlyOption.ReadOnlyLeaseBased }),
      /CheckQuorum must be enabled/,
    );
  });
});

describe("more roles and limits", () => {
  it("a transfer forces the vote even inside the leader lease (check-quorum)", () => {
    const nt = new Network([undefined, undefined, undefined], (c) => {
      c.checkQuorum = true;
    });
    for (let id = 1; id <= 3; id++) nt.raft(id).randomizedElectionTimeout = nt.raft(id).electionTimeout + id;
    const f = nt.raft(2);
    for (let k = 0; k < f.electionTimeout; k++) f.tick();
    nt.send(hup(1));
    const lead = nt.raft(1);
    assert.equal(lead.lead, 1n);
    nt.send(msg(MessageType.MsgTransferLeader, 2, 1));
    assert.equal(lead.state, StateType.StateFollower);
    assert.equal(lead.lead, 2n);
    nt.send(prop(1));
    nt.send(msg(MessageType.MsgTransferLeader, 1, 2));
    assert.equal(lead.state, StateType.StateLeader);
    assert.equal(lead.lead, 1n);
  });

  it("a promoted learner can become leader", () => {
    const { r: n1 } = newTestRaft(1, [1], { learners: [2] });
    const { r: n2 } = newTestRaft(2, [1], { learners: [2] });
    n1.becomeFollower(1, 0n);
    n2.becomeFollower(1, 0n);
    const nt = new Network([n1, n2]);
    n1.randomizedElectionTimeout = n1.electionTimeout;
    for (let k = 0; k < n1.electionTimeout; k++) n1.tick();
    nt.send(...readMessages(n1));
    assert.equal(n1.state, StateType.StateLeader);
    assert.equal(n2.state, StateType.StateFollower);
    nt.send(msg(MessageType.MsgBeat, 1, 1));
    const promote = {
      transition: 0,
      changes: [{ type: ConfChangeType.ConfChangeAddNode, nodeId: 2n }],
      context: emptyBuffer,
    };
    n1.applyConfChange(promote);
    n2.applyConfChange(promote);
    assert.equal(n2.isLearner, false);
    n2.randomizedElectionTimeout = n2.electionTimeout;
    for (let k = 0; k < n2.electionTimeout; k++) n2.tick();
    nt.send(msg(MessageType.MsgBeat, 2, 2));
    assert.equal(n1.state, StateType.StateFollower);
    assert.equal(n2.state, StateType.StateLeader);
  });

  it("followers forward proposals unless forwarding is disabled", () => {
    for (const disabled of [false, true]) {
      const nt = new Network([undefined, undefined, undefined], (c) => {
        c.disableProposalForwarding = disabled;
      });
      nt.send(hup(1));
      const f = nt.raft(2);
      if (disabled) {
        assert.throws(() => f.step(prop(2, "x")), ProposalDroppedError);
        assert.equal(readMessages(f).length, 0);
      } else {
        f.step(prop(2, "x"));
        const ms = readMessages(f);
        assert.equal(ms.length, 1);
        assert.equal(ms[0].type, MessageType.MsgProp);
        assert.equal(ms[0].to, 1n);
        assert.equal(ms[0].from, 2n);
        assert.equal(ms[0].term, 0, "forwarded proposals carry no term");
      }
    }
  });

  it("an unreachable follower in replicate state drops back to probe", () => {
    const { r } = newTestRaft(1, [1, 2]);
    r.becomeCandidate();
    r.becomeLeader();
    const pr = r.prs.progress.get(2n)!;
    pr.becomeReplicate();
    r.step(msg(MessageType.MsgUnreachable, 2, 1));
    assert.equal(pr.state, ProgressState.StateProbe);
    assert.equal(pr.next, pr.match + 1);
  });

  it("maxCommittedSizePerReady pages committed entries across Readies", () => {
    const s = new MemoryStorage();
    s.applySnapshot({ data: emptyBuffer, metadata: { index: 1, term: 1, confState: confState([1]) } });
    const data = Buffer.alloc(100, 1);
    for (let i = 2; i <= 11; i++) s.append([{ type: EntryType.EntryNormal, term: 1, index: i, data }]);
    s.setHardState({ term: 1, vote: 1n, commit: 11 });
    const rn = new RawNode({ ...testConfig(1, s), applied: 1, maxCommittedSizePerReady: 250 });
    const pages: number[][] = [];
    while (rn.hasReady()) {
      const rd = rn.ready();
      pages.push(rd.committedEntries.map((e) => e.index));
      rn.advance(rd);
    }
    assert.deepEqual(pages, [
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
      [10, 11],
    ]);
  });
});

describe("text forms and helpers", () => {
  it("goQuote escapes like Go's %q", () => {
    const cases: [Buffer, string][] = [
      [Buffer.from(""), '""'],
      [Buffer.from("foo"), '"foo"'],
      [Buffer.from('a"b\\c'), '"a\\"b\\\\c"'],
      [Buffer.from("\n\t\r\x07\x00\x7f"), '"\\n\\t\\r\\a\\x00\\x7f"'],
      [Buffer.from("héllo ✓"), '"héllo ✓"'],
      [Buffer.from([0xff, 0x41]), '"\\xffA"'],
    ];
    for (const [b, want] of cases) assert.equal(goQuote(b), want);
  });

  it("describeMessage and describeReady print etcd's forms", () => {
    const m = msg(MessageType.MsgAppResp, 2, 1, {
      term: 3,
      index: 5,
      reject: true,
      rejectHint: 4,
      commit: 2,
    });
    assert.equal(describeMessage(m), "2->1 MsgAppResp Term:3 Log:0/5 Rejected (Hint: 4) Commit:2");
    const app = msg(MessageType.MsgApp, 1, 0xab, {
      term: 1,
      logTerm: 1,
      index: 2,
      entries: [
        { type: EntryType.EntryNormal, term: 1, index: 3, data: Buffer.from("x") },
        confEntry(ConfChangeType.ConfChangeRemoveNode, 3),
      ],
    });
    assert.equal(
      describeMessage(app),
      '1->ab MsgApp Term:1 Log:1/2 Entries:[1/3 EntryNormal "x", 0/0 EntryConfChange r3]',
    );
    const empty = { readStates: [], entries: [], committedEntries: [], messages: [], mustSync: false };
    assert.equal(describeReady(empty), "<empty Ready>");
    assert.equal(
      describeReady({
        ...empty,
        softState: { lead: 2n, raftState: StateType.StateFollower },
        hardState: { term: 2, vote: 0n, commit: 1 },
        readStates: [{ index: 7, requestCtx: Buffer.from("ab") }],
        mustSync: true,
      }),
      "Ready MustSync=true:\nLead:2 State:StateFollower\nHardState Term:2 Commit:1\nReadStates [{7 [97 98]}]\n",
    );
  });

  it("SeededRand draws uniformly enough and rejects bad bounds", () => {
    const r = new SeededRand(7n);
    const counts = new Array<number>(5).fill(0);
    for (let k = 0; k < 5000; k++) counts[r.intn(5)]++;
    for (const c of counts) assert.ok(c > 850 && c < 1150, `counts ${counts}`);
    assert.throws(() => r.intn(0), RangeError);
    assert.throws(() => r.intn(1.5), RangeError);
    assert.equal(new SeededRand(1).intn(1), 0);
  });
});
