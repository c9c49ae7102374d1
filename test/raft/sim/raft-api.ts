/**
 * The one place where the simulator and the paper tests reach into src/raft (its public index), so that a
 * renamed export needs one edit here instead of one per file.
 */
export {
  type Config,
  describeMessage,
  discardLogger,
  MemoryStorage,
  ProposalDroppedError,
  Raft,
  type RaftLogger,
  RaftPanicError,
  RawNode,
  ReadOnlyOption,
  type ReadState,
  type Ready,
  SeededRand,
  SnapshotStatus,
  StateType,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "../../../src/raft/index.js";
