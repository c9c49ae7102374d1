// The raft loop's proposals: those of one turn of the event loop are stepped into raft together, as
// runs of entries in one MsgProp each, so a leader sends each follower one append per run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Message, MessageType } from "../../src/gen/raftpb/raft.js";
import { ProposalDroppedError } from "../../src/raft/index.js";
import { RaftNode } from "../../src/server/raft-node.js";
import { threeVoterRawNode } from "./raw-node-fixture.js";

const CONF = { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const turnEnd = () => new Promise((r) => setImmediate(r));

/** A RaftNode whose sent messages are kept; `lead` makes it the leader of term 2 with both followers replicating. */
async function node(id: bigint, lead: boolean): Promise<{ node: RaftNode; sent: Message[] }> {
  const { rn, storage } = threeVoterRawNode(id);
  const sent: Message[] = [];
  const n = new RaftNode(rn, storage, { save: async () => {} }, { send: (ms) => sent.push(...ms) }, CONF);
  n.applies$.subscribe((b) => void b.persisted.then(() => b.applied()));
  await n.drain(); // the bootstrap entries
  if (lead) {
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    await n.drain();
    const last = rn.raft.raftLog.lastIndex();
    for (const from of [2n, 3n]) {
      n.step({ ...emptyAppResp(), from, to: id, term: rn.raft.term, index: last });
    }
    await n.drain();
  }
  sent.length = 0;
  return { node: n, sent };
}

function emptyAppResp(): Message {
  return Message.fromPartial({ type: MessageType.MsgAppResp });
}

const noDrop = (err: unknown) => assert.fail(`dropped: ${String(err)}`);

describe("raft loop: proposals of one turn", () => {
  it("are stepped at the end of the turn as one run: one append per follower carries them all", async () => {
    const { node: n, sent } = await node(1n, true);
    const before = n.node.raft.raftLog.lastIndex();
    for (const d of ["a", "b", "c"]) n.propose(Buffer.from(d), noDrop);
    assert.equal(n.node.raft.raftLog.lastIndex(), before, "nothing stepped before the turn ends");
    await turnEnd();
    await n.drain();
    const apps = sent.filter((m) => m.type === MessageType.MsgApp);
    assert.deepEqual(
      apps.map((m) => [m.to, m.entries.map((e) => e.data.toString())]),
      [
        [2n, ["a", "b", "c"]],
        [3n, ["a", "b", "c"]],
      ],
    );
    assert.equal(n.node.raft.raftLog.lastIndex(), before + 3);
  });

  it("a Ready taken before the turn ends takes the proposals made so far", async () => {
    const { node: n, sent } = await node(1n, true);
    n.propose(Buffer.from("x"), noDrop);
    n.propose(Buffer.from("y"), noDrop);
    await n.drain();
    assert.deepEqual(
      sent.filter((m) => m.type === MessageType.MsgApp).map((m) => m.entries.length),
      [2, 2],
    );
    await turnEnd(); // the end of the turn finds nothing left
    assert.equal(n.node.hasReady(), false);
  });

  it("runs stay within raft's message size: each run is one append", async () => {
    const { node: n, sent } = await node(1n, true);
    const big = () => Buffer.alloc(600 * 1024, 1); // two would pass the 1 MiB message size
    const small = Buffer.from("s");
    for (const d of [big(), small, big(), big()]) n.propose(d, noDrop);
    await turnEnd();
    await n.drain();
    const toTwo = sent.filter((m) => m.type === MessageType.MsgApp && m.to === 2n);
    assert.deepEqual(
      toTwo.map((m) => m.entries.map((e) => e.data.length)),
      [[600 * 1024, 1], [600 * 1024], [600 * 1024]],
    );
  });

  it("without a leader every proposal of the run hears that it was dropped", async () => {
    const { node: n } = await node(2n, false);
    const dropped: unknown[] = [];
    n.propose(Buffer.from("a"), (err) => dropped.push(err));
    n.propose(Buffer.from("b"), (err) => dropped.push(err));
    assert.equal(dropped.length, 0, "not before the turn ends");
    await turnEnd();
    assert.equal(dropped.length, 2);
    for (const err of dropped) assert.ok(err instanceof ProposalDroppedError);
  });
});
