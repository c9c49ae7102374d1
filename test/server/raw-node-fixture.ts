// A raft node bootstrapped in memory, for tests of the server's raft loop: of a three-voter cluster (ids 1, 2, 3),
// or of the voters given.
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
