// Public surface of the mvcc module.

export { KVApplier, type KVApplierOptions } from "./apply.js";
export {
  BACKEND_SCHEMA_VERSION,
  Backend,
  type BackendOptions,
  backendExists,
  backendPath,
  type Durability,
} from "./backend.js";
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
