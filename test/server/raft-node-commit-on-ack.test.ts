// A leader hands what a quorum's acknowledgement commits to the apply loop as the acknowledgement comes
// in, while the Ready under way is still being written, when its own log holds those entries durably;
// never an entry that Ready is still writing, never a conf change (its Ready applies it), and never an
// entry twice.
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
import { type ApplyBatch, RaftNode } from "../../src/server/raft-node.js";
import { electMemberOne, threeVoterRawNode } from "./raw-node-fixture.js";

function confState(voters: bigint[]): ConfState {
  return { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

/** A log whose saves stay in flight until released. */
class HeldLog {
  readonly held: Array<() => void> = [];
  hold = false;
  save(_h: unknown, _entries: Entry[], _s?: Snapshot): Promise<void> {
    if (!this.hold) return Promise.resolve();
    return new Promise((release) => this.held.push(release));
  }
  releaseAll(): void {
    this.hold = false;
    for (const release of this.held.splice(0)) release();
  }
}

const notDropped = (err: unknown) => assert.fail(`the proposal was dropped: ${String(err)}`);
const turn = () => new Promise((r) => setImmediate(r));

/** A leader of three (id 1) elected in `term`, with the batches its apply loop received. */
async function leader() {
  const { rn, storage } = threeVoterRawNode(1n);
  const log = new HeldLog();
  const sent: Message[] = [];
  const node = new RaftNode(rn, storage, log, { send: (ms) => sent.push(...ms) }, confState([1n, 2n, 3n]));
  const batches: ApplyBatch[] = [];
  node.applies$.subscribe((batch) => {
    batches.push(batch);
    void batch.persisted.then(() => batch.applied());
  });
  const term = await electMemberOne(rn, node, sent, (m) => node.step(m));
  const ack = (index: number) =>
    node.step(Message.fromPartial({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term, index }));
  // the leader's empty entry of its term, acknowledged and applied
  ack(storage.lastIndex());
  await node.drain();
  return { node, rn, storage, log, batches, ack };
}

const indexesOf = (batches: ApplyBatch[]) => batches.flatMap((b) => b.entries.map((e) => e.index));
const payloads = (batches: ApplyBatch[]) =>
  batches.flatMap((b) => b.entries.map((e) => e.data.toString()).filter((d) => d.length > 0));

describe("raft loop: a leader applies what an acknowledgement commits", () => {
  it("at the acknowledgement, while the next Ready is written, and not again with that Ready", async () => {
    const { node, storage, log, batches, ack } = await leader();
    node.propose(Buffer.from("first"), notDropped);
    await node.drain();
    const first = storage.lastIndex();
    batches.length = 0;

    log.hold = true;
    node.propose(Buffer.from("second"), notDropped);
    const drained = node.drain();
    await turn();
    assert.equal(log.held.length, 1, "the Ready writing the second proposal is in flight");
    assert.deepEqual(payloads(batches), [], "nothing was committed yet");

    ack(first);
    assert.deepEqual(payloads(batches), ["first"], "the acknowledged entry went to the apply loop at once");
    const batch = batches[0];
    assert.equal(batch.durable, true);
    assert.equal(await Promise.race([batch.persisted.then(() => true), turn().then(() => false)]), true);

    // an acknowledgement of the entry still being written commits it, but it is not applied before its write
    ack(first + 1);
    assert.deepEqual(payloads(batches), ["first"], "the entry under write waits for its Ready");
    log.releaseAll();
    await drained;
    await node.drain();
    assert.deepEqual(payloads(batches), ["first", "second"]);
    const indexes = indexesOf(batches);
    assert.deepEqual(
      indexes,
      [...new Set(indexes)].sort((a, b) => a - b),
      "each entry once, in order",
    );
  });

  it("stops at a conf change, which its Ready applies, and goes on after it", async () => {
    const { node, rn, storage, log, batches, ack } = await leader();
    node.propose(Buffer.from("before"), notDropped);
    await node.drain();
    rn.proposeConfChange({
      changes: [{ type: 0, nodeId: 4n }],
      transition: 0,
      context: Buffer.alloc(0),
    } as never);
    await node.drain();
    const conf = storage.lastIndex();
    node.propose(Buffer.from("after"), notDropped);
    await node.drain();
    const after = storage.lastIndex();
    batches.length = 0;

    log.hold = true;
    node.propose(Buffer.from("later"), notDropped);
    const drained = node.drain();
    await turn();
    ack(after);
    assert.deepEqual(payloads(batches), ["before"], "applied up to the conf change only");
    assert.ok(indexesOf(batches).every((i) => i < conf));
    log.releaseAll();
    await drained;
    await node.drain();
    const types = batches.flatMap((b) => b.entries.map((e) => e.type));
    assert.ok(types.includes(EntryType.EntryConfChangeV2), "the conf change was applied with its Ready");
    assert.deepEqual(payloads(batches).slice(0, 1), ["before"]);
    assert.ok(payloads(batches).includes("after"));
    const indexes = indexesOf(batches);
    assert.deepEqual(
      indexes,
      [...new Set(indexes)].sort((a, b) => a - b),
      "each entry once, in order",
    );
  });
});
