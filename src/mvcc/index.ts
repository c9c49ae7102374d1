// Public surface of the mvcc module.

export { KVApplier, type KVApplierOptions } from "./apply.js";
export {
  BACKEND_SCHEMA_VERSION,
  Backend,
  type BackendOptions,
  backendExists,
  backendPath,
  type Durability,
  type ReadView,
} from "./backend.js";
export { type BboltExport, type BboltExportOptions, type ExportSource, exportBbolt } from "./bbolt-export.js";
export { type BboltImportResult, importBbolt } from "./bbolt-import.js";
export {
  checkDeleteRangeRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxn,
  checkTxnRequest,
  DEFAULT_MAX_TXN_OPS,
} from "./checks.js";
export {
  CompactedError,
  EtcdError,
  FutureRevError,
  GrpcCode,
  KVErrors,
  StoreFatalError,
} from "./errors.js";
export { crc32c } from "./hash.js";
export {
  type HashKVResult,
  KVStore,
  type KVStoreOptions,
  type LeaseChange,
  type RangeOptions,
  type RangeResult,
  type WriteTxn,
} from "./kvstore.js";
export { isRecordBucket, RECORD_BUCKETS, type RecordBucket, type RecordChange } from "./records.js";
export {
  AUTO_WATCH_ID,
  DEFAULT_MAX_RESPONSE_BYTES,
  DUPLICATE_WATCH_ID,
  INVALID_WATCH_ID,
  WatchStream,
  type WatchStreamOptions,
  type WatchStreamResponse,
} from "./watch-stream.js";
export { isCompactedError, type WatchableSource } from "./watchable-source.js";
export {
  DEFAULT_PROGRESS_NOTIFY_INTERVAL_MS,
  MIN_PROGRESS_NOTIFY_INTERVAL_MS,
  WATCHER_RANGE_EMPTY,
  WatchableStore,
  type WatchableStoreOptions,
  type WatchableStoreStats,
  type WatchBatch,
  Watcher,
  type WatcherState,
  type WatchOptions,
  WatchRangeEmptyError,
} from "./watchable-store.js";
