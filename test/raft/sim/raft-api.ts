/**
 * The one place where the simulator and the paper tests reach into src/raft, so that a renamed export
 * needs one edit here instead of one per file.
 */
export { discardLogger, type RaftLogger, RaftPanicError } from "../../../src/raft/logger.js";
export { type Config, Raft } from "../../../src/raft/raft.js";
export { SeededRand } from "../../../src/raft/rand.js";
export { RawNode, type Ready, SnapshotStatus } from "../../../src/raft/rawnode.js";
export { ReadOnlyOption, type ReadState } from "../../../src/raft/read_only.js";
export { StateType } from "../../../src/raft/state.js";
export { MemoryStorage } from "../../../src/raft/storage.js";
