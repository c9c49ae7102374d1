// Which committed entries the apply loop may apply while their Ready is still being written: those an
// earlier Ready made durable, never those the Ready writes itself (a single member commits what it
// appends) nor a snapshot. An apply shows its result to clients, and what they saw must survive a crash.
// A follower applies only after the Ready's write and its answer: the leader's commit waits for that answer.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ConfState,
  type Entry,
  EntryType,
  Message,
  MessageType,
  type Snapshot,
} from "../../src/gen/raftpb/raft.js";
import { type ApplyBatch, RaftNode, writesCommitted } from "../../src/server/raft-node.js";
import { electMemberOne, rawNodeOf, threeVoterRawNode } from "./raw-node-fixture.js";

const entry = (index: number, term: number): Entry => ({
  type: EntryType.EntryNormal,
  term,
  index,
  data: Buffer.from(`e${index}`),
});
const run = (from: number, to: number, term: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => entry(from + k, term));

function confState(voters: bigint[]): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** A log whose saves stay in flight until released, so a test sees what happens during a write. */
class HeldLog {
  readonly held: Array<{ entries: number; release: () => void }> = [];
  hold = false;
  save(_h: unknown, entries: Entry[], _s?: Snapshot): Promise<void> {
    if (!this.hold) return Promise.resolve();
    return new Promise((release) => this.held.push({ entries: entries.length, release }));
  }
}

/** The batches the apply loop received, each applied (and acknowledged) once persisted. */
function recordBatches(node: RaftNode): ApplyBatch[] {
  const batches: ApplyBatch[] = [];
  node.applies$.subscribe((batch) => {
    batches.push(batch);
    void batch.persisted.then(() => batch.applied());
  });
  return batches;
}

const notDropped = (err: unknown) => assert.fail(`the proposal was dropped: ${String(err)}`);

const isSettled = async (p: Promise<void>) => {
  let settled = false;
  void p.then(() => (settled = true));
  await new Promise((r) => setImmediate(r));
  return settled;
};

describe("raft loop: applying entries while their Ready is written", () => {
  it("writesCommitted compares the last committed entry with the first written one", () => {
    assert.equal(writesCommitted({ committedEntries: [], entries: run(1, 2, 1) }), false);
    assert.equal(writesCommitted({ committedEntries: run(1, 2, 1), entries: [] }), false);
    // a single member: the Ready commits what it appends
    assert.equal(writesCommitted({ committedEntries: run(5, 7, 2), entries: run(5, 7, 2) }), true);
    assert.equal(writesCommitted({ committedEntries: run(3, 5, 2), entries: run(5, 6, 2) }), true);
    // a leader of three: what followers acknowledged was written by earlier Readies
    assert.equal(writesCommitted({ committedEntries: run(3, 4, 2), entries: run(5, 6, 2) }), false);
    // a later term in the committed run means it reaches into the written one
    assert.equal(writesCommitted({ committedEntries: [entry(4, 3)], entries: [entry(5, 2)] }), true);
  });

  it("a single member's batch waits for the write of its own Ready", async () => {
    const { rn, storage } = rawNodeOf(1n, [1n]);
    const log = new HeldLog();
    const node = new RaftNode(rn, storage, log, { send: () => {} }, confState([1n]));
    const batches = recordBatches(node);
    await node.drain();
    rn.campaign();
    await node.drain();
    assert.equal(node.leadership$.value.isLeader, true, "a single voter elects itself");

    log.hold = true;
    batches.length = 0;
    node.propose(Buffer.from("put"), notDropped);
    const drained = node.drain();
    await new Promise((r) => setImmediate(r));
    assert.equal(log.held.length, 1, "the Ready's write is in flight");
    const batch = batches.find((b) => b.entries.some((e) => e.data.toString() === "put"));
    assert.ok(batch, "the proposal was handed to the apply loop with its own Ready");
    assert.equal(batch.durable, false, "applied before its write ends, it would answer what a crash loses");
    assert.equal(await isSettled(batch.persisted), false);
    log.hold = false;
    log.held[0].release();
    await drained;
    assert.equal(await isSettled(batch.persisted), true);
  });

  it("a single member applies a batch once the next Ready's write has started, or the loop found none", async () => {
    const { rn, storage } = rawNodeOf(1n, [1n]);
    const events: string[] = [];
    const log = new HeldLog();
    const save = log.save.bind(log);
    log.save = (h, entries, s) => {
      for (const e of entries)
        if (e.type === EntryType.EntryNormal && e.data.length > 0) events.push(`write ${e.data.toString()}`);
      return save(h, entries, s);
    };
    const node = new RaftNode(rn, storage, log, { send: () => {} }, confState([1n]));
    const batches = recordBatches(node);
    await node.drain();
    rn.campaign();
    await node.drain();
    assert.equal(node.leadership$.value.isLeader, true, "a single voter elects itself");

    log.hold = true;
    batches.length = 0;
    node.propose(Buffer.from("a"), notDropped);
    const drained = node.drain();
    await new Promise((r) => setImmediate(r));
    assert.equal(log.held.length, 1, "the write of a is in flight");
    const batchA = batches.find((b) => b.entries.some((e) => e.data.toString() === "a"));
    assert.ok(batchA);
    void batchA.persisted.then(() => events.push("apply a"));
    // b comes in while a is written: the next Ready carries it
    node.propose(Buffer.from("b"), notDropped);
    await new Promise((r) => setImmediate(r));
    log.held[0].release();
    await new Promise((r) => setImmediate(r));
    assert.equal(log.held.length, 2, "the write of b is in flight");
    assert.deepEqual(events, ["write a", "write b", "apply a"], "a is applied while b is written");
    const batchB = batches.find((b) => b.entries.some((e) => e.data.toString() === "b"));
    assert.ok(batchB);
    assert.equal(await isSettled(batchB.persisted), false, "b is not applied before its write ends");
    log.hold = false;
    log.held[1].release();
    await drained;
    assert.equal(await isSettled(batchB.persisted), true, "with no Ready left, the last batch is applied");
  });

  it("a leader of three applies what followers acknowledged while it writes new entries", async () => {
    const { rn, storage } = threeVoterRawNode(1n);
    const log = new HeldLog();
    const sent: Message[] = [];
    const node = new RaftNode(rn, storage, log, { send: (ms) => sent.push(...ms) }, confState([1n, 2n, 3n]));
    const batches = recordBatches(node);
    const term = await electMemberOne(rn, node, sent, (m) => rn.step(m));

    // a proposal is written; then a follower acknowledges it while a second proposal comes in
    node.propose(Buffer.from("first"), notDropped);
    await node.drain();
    const first = storage.lastIndex();
    batches.length = 0;
    log.hold = true;
    rn.step(Message.fromPartial({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term, index: first }));
    node.propose(Buffer.from("second"), notDropped);
    const drained = node.drain();
    await new Promise((r) => setImmediate(r));
    assert.equal(log.held.length, 1, "the Ready writing the second proposal is in flight");
    assert.equal(log.held[0].entries, 1);
    const batch = batches.find((b) => b.entries.some((e) => e.index === first));
    assert.ok(batch, "the acknowledged entry was handed to the apply loop");
    assert.ok(
      batch.entries.every((e) => e.data.toString() !== "second"),
      "only what is committed is applied",
    );
    assert.equal(batch.durable, true, "the acknowledged entry was written by an earlier Ready");
    assert.equal(await isSettled(batch.persisted), false, "the Ready carrying it is still being written");
    log.hold = false;
    log.held[0].release();
    await drained;
  });

  it("a follower applies what the leader committed once its acknowledgement of the new entries is out", async () => {
    const { rn, storage } = threeVoterRawNode(2n);
    const log = new HeldLog();
    const sent: Message[] = [];
    const node = new RaftNode(rn, storage, log, { send: (ms) => sent.push(...ms) }, confState([1n, 2n, 3n]));
    const batches = recordBatches(node);
    await node.drain();
    const start = storage.lastIndex();
    const append = (index: number, logTerm: number, entries: Entry[], commit: number) =>
      Message.fromPartial({
        type: MessageType.MsgApp,
        from: 1n,
        to: 2n,
        term: 2,
        index,
        logTerm,
        entries,
        commit,
      });
    node.step(append(start, 1, [entry(start + 1, 2)], start));
    await node.drain();
    assert.equal(storage.lastIndex(), start + 1);

    // the next append commits the entry written above: its apply waits for this write and the answer
    batches.length = 0;
    sent.length = 0;
    log.hold = true;
    node.step(append(start + 1, 2, [entry(start + 2, 2)], start + 1));
    const drained = node.drain();
    await new Promise((r) => setImmediate(r));
    assert.equal(log.held.length, 1, "the Ready writing the new entry is in flight");
    const batch = batches.find((b) => b.entries.some((e) => e.index === start + 1));
    assert.ok(batch, "the committed entry was handed to the apply loop");
    assert.equal(batch.durable, false, "applied during the write, it would hold back the answer");
    assert.equal(await isSettled(batch.persisted), false);
    assert.equal(sent.length, 0, "nothing is answered before the write ends");
    let answeredFirst = false;
    void batch.persisted.then(() => {
      answeredFirst = sent.some((m) => m.type === MessageType.MsgAppResp && m.index === start + 2);
    });
    log.hold = false;
    log.held[0].release();
    await drained;
    assert.equal(answeredFirst, true, "the acknowledgement went out before the apply could start");
  });
});
