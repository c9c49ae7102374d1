// A raft node of a three-voter cluster (ids 1, 2, 3), bootstrapped in memory, for tests of the server's raft loop.
import { discardLogger, MemoryStorage, RawNode, SeededRand } from "../../src/raft/index.js";

export function threeVoterRawNode(id: bigint): { rn: RawNode; storage: MemoryStorage } {
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
  rn.bootstrap([{ id: 1n }, { id: 2n }, { id: 3n }]);
  return { rn, storage };
}
