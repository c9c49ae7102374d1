// etcd's MustSync in the raft loop: a Ready that only moves the commit index is saved without a
// sync; a new term, a vote or new entries are saved synced.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type Entry,
  type HardState,
  Message,
  MessageType,
  type Snapshot,
} from "../../src/gen/raftpb/raft.js";
import { RaftNode } from "../../src/server/raft-node.js";
import { threeVoterRawNode } from "./raw-node-fixture.js";

interface SaveCall {
  hardState: HardState | undefined;
  entries: number;
  mustSync: boolean | undefined;
}

describe("raft loop: MustSync", () => {
  it("syncs term, vote and entries, and leaves a commit-only Ready unsynced", async () => {
    const { rn, storage } = threeVoterRawNode(1n);
    const saves: SaveCall[] = [];
    const sent: Message[] = [];
    const log = {
      async save(hardState: HardState | undefined, entries: Entry[], _s?: Snapshot, mustSync?: boolean) {
        saves.push({ hardState, entries: entries.length, mustSync });
      },
    };
    const node = new RaftNode(
      rn,
      storage,
      log,
      { send: (ms) => sent.push(...ms) },
      {
        voters: [1n, 2n, 3n],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    );
    node.applies$.subscribe((b) => b.applied());
    await node.drain(); // the bootstrap entries

    saves.length = 0;
    rn.campaign();
    await node.drain();
    assert.equal(saves.length, 1);
    assert.equal(saves[0].mustSync, true, "a new term and vote must be synced");

    // two votes make it leader: its empty entry must be synced
    const vote = sent.find((m) => m.type === MessageType.MsgVote);
    assert.ok(vote, "the campaign asked for votes");
    rn.step(Message.fromPartial({ type: MessageType.MsgVoteResp, from: 2n, to: 1n, term: vote.term }));
    await node.drain();
    const appended = saves.filter((s) => s.entries > 0);
    assert.ok(appended.length > 0 && appended.every((s) => s.mustSync === true));

    // a follower acknowledges the leader's last entry: only the commit index moves
    saves.length = 0;
    const last = storage.lastIndex();
    const term = rn.basicStatus().hardState.term;
    rn.step(Message.fromPartial({ type: MessageType.MsgAppResp, from: 2n, to: 1n, term, index: last }));
    await node.drain();
    const commitOnly = saves.filter((s) => s.entries === 0 && s.hardState !== undefined);
    assert.ok(commitOnly.length > 0, "the acknowledgement moved the commit index");
    assert.ok(commitOnly.every((s) => s.mustSync === false && s.hardState?.commit === last));
  });
});
