// A follower's answer to the leader goes out before the entries committed in the same Ready are
// applied: the apply runs on the same thread, and the leader waits for the answer, not for the apply.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EntryType, Message, MessageType } from "../../src/gen/raftpb/raft.js";
import { RaftNode } from "../../src/server/raft-node.js";
import { threeVoterRawNode } from "./raw-node-fixture.js";

const LEADER = 1n;
const FOLLOWER = 2n;

function appendFromLeader(index: number, commit: number, term: number): Message {
  return Message.fromPartial({
    type: MessageType.MsgApp,
    from: LEADER,
    to: FOLLOWER,
    term,
    logTerm: index === 3 ? 1 : term,
    index,
    commit,
    entries: [{ type: EntryType.EntryNormal, term, index: index + 1, data: Buffer.from(`put ${index + 1}`) }],
  });
}

describe("raft loop: a follower's answer and its apply", () => {
  it("writes the answer before the batch committed in the same Ready is applied", async () => {
    const { rn, storage } = threeVoterRawNode(FOLLOWER);
    // what happened, in order: the transport writes a Ready's messages in a microtask queued by send
    // (its flush), and the apply loop goes on in a continuation of `persisted`
    const order: string[] = [];
    const sender = {
      send: (msgs: Message[]) => {
        const what = msgs.map((m) => `${MessageType[m.type]} ${m.index}`).join(",");
        queueMicrotask(() => order.push(`written ${what}`));
      },
    };
    const log = { save: async () => {} };
    const node = new RaftNode(rn, storage, log, sender, {
      voters: [1n, 2n, 3n],
      learners: [],
      votersOutgoing: [],
      learnersNext: [],
      autoLeave: false,
    });
    node.applies$.subscribe((batch) => {
      const indexes = batch.entries.map((e) => e.index).join(",");
      void batch.persisted.then(() => {
        order.push(`applied ${indexes}`);
        batch.applied();
      });
    });
    await node.drain(); // the bootstrap entries (1-3), applied
    await new Promise((r) => setImmediate(r));

    // entry 4 arrives, then entry 5 with the commit of entry 4: one Ready carries both
    rn.step(appendFromLeader(3, 3, 2));
    await node.drain();
    await new Promise((r) => setImmediate(r));
    order.length = 0;
    rn.step(appendFromLeader(4, 4, 2));
    await node.drain();
    await new Promise((r) => setImmediate(r));

    assert.deepEqual(order, ["written MsgAppResp 5", "applied 4"]);
  });
});
