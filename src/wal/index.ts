export { WalCorruptError, WalError, WalInputError, WalSchemaError, WalStateError } from "./errors.js";
export type { WalContents } from "./replay.js";
export { SCHEMA_VERSION } from "./segment-header.js";
export type {
  OpenedWal,
  PurgeOptions,
  PurgeResult,
  WalCommit,
  WalOptions,
  WalRepair,
  WalStats,
} from "./wal.js";
export { WAL } from "./wal.js";
