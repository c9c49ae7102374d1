// etcd 3.4's data dir: pure readers of its WAL segments, `.snap` files and bbolt backend, and the
// converter that writes a member's state into rxetcd's LMDB layout.
export { type ConversionSummary, type ConversionTarget, convertEtcdMember } from "./convert.js";
export { EtcdDataDirError } from "./errors.js";
export {
  type BackendSummary,
  checkEtcdBackend,
  type EtcdMemberPaths,
  type EtcdMemberState,
  etcdMemberPaths,
  isEtcdMemberDir,
  readEtcdMemberDir,
} from "./member-dir.js";
export {
  newestAvailableSnapshot,
  newestSnapFile,
  readSnapFile,
  snapFileName,
  snapFiles,
  writeSnapFile,
} from "./snap-files.js";
export {
  readWal,
  readWalEntries,
  type SegmentName,
  validSnapshotRefs,
  type WalContents,
  type WalEnd,
  type WalSnapshotRef,
  walSegments,
} from "./wal-segments.js";
