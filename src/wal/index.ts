export { WalCorruptError, WalError, WalInputError, WalSchemaError, WalStateError } from "./errors.js";
export { SCHEMA_VERSION } from "./meta.js";
export type { WalContents } from "./recover.js";
export type { OpenedWal, PurgeOptions, PurgeResult, WalCommit, WalOptions, WalStats } from "./wal.js";
export { WAL } from "./wal.js";
