// The public API of the raft core.

export { ConfChangeError } from "./confchange/changer.js";
export {
  asV2,
  confChangesFromString,
  confChangesToString,
  enterJointOf,
  isConfChangeV1,
  leaveJointOf,
  marshalConfChange,
} from "./confchange/conv.js";
export {
  type DescribableReady,
  defaultEntryFormatter,
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
  type EntryFormatter,
  goQuote,
} from "./describe.js";
export { RaftLog } from "./log.js";
export { Unstable } from "./log_unstable.js";
export { discardLogger, hexId, type RaftLogger, RaftPanicError } from "./logger.js";
export {
  type Config,
  newMessage,
  ProposalDroppedError,
  Raft,
  StepLocalMsgError,
  StepPeerNotFoundError,
} from "./raft.js";
export { type Rand, SeededRand } from "./rand.js";
export { type Peer, RawNode, type Ready, SnapshotStatus, type SoftState } from "./rawnode.js";
export { ReadOnly, ReadOnlyOption, type ReadState } from "./read_only.js";
export { StateType, stateTypeName } from "./state.js";
export { type BasicStatus, getBasicStatus, getStatus, type Status, statusToJSON } from "./status.js";
export {
  CompactedError,
  type InitialState,
  MemoryStorage,
  SnapOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  type Storage,
  UnavailableError,
} from "./storage.js";
export { describeProgressMap, Progress, type ProgressMap } from "./tracker/progress.js";
export { ProgressState, progressStateName } from "./tracker/state.js";
export { configToString, ProgressTracker, type TrackerConfig } from "./tracker/tracker.js";
export {
  emptyBuffer,
  entrySize,
  isEmptyHardState,
  isEmptySnap,
  isHardStateEqual,
  isLocalMsg,
  isResponseMsg,
  limitSize,
  mustSync,
  None,
  noLimit,
  payloadSize,
  voteRespMsgType,
} from "./util.js";
