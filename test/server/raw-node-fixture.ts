// A raft node bootstrapped in memory, for tests of the server's raft loop: of a three-voter cluster (ids 1, 2, 3),
// or of the voters given.
import assert from "node:assert/strict";
import { Message, MessageType } from "../../src/gen/raftpb/raft.js";
import { discardLogger, MemoryStorage, RawNode, SeededRand } from "../../src/raft/index.js";

export function threeVoterRawNode(id: bigint): { rn: RawNode; storage: MemoryStorage } {
  return rawNodeOf(id, [1n, 2n, 3n]);
}

export function rawNodeOf(id: bigint, voters: readonly bigint[]): { rn: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  const rn = new RawNode({
    id,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxSizePerMsg: 1024 * 1024,
    maxInflightMsgs: 256,
    maxUncommittedEntriesSize: 0,
    checkQuorum: false,
    preVote: false,
    logger: discardLogger,
    rand: new SeededRand(1),
  });
  rn.bootstrap(voters.map((v) => ({ id: v })));
  return { rn, storage };
}

/**
 * Has member 1 of a three-voter cluster campaign and member 2 vote for it; resolves with the term once the
 * loop (`drain`) reports it leads. `sent` is what the loop sent; `step` hands member 2's vote in.
 */
export async function electMemberOne(
  rn: RawNode,
  node: { drain(): Promise<void>; readonly leadership$: { readonly value: { isLeader: boolean } } },
  sent: readonly Message[],
  step: (m: Message) => void,
): Promise<number> {
  await node.drain();
  rn.campaign();
  await node.drain();
  const vote = sent.find((m) => m.type === MessageType.MsgVote);
  assert.ok(vote, "the campaign asked for votes");
  const term = vote.term;
  step(Message.fromPartial({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term }));
  await node.drain();
  assert.equal(node.leadership$.value.isLeader, true);
  return term;
}
