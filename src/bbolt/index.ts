// Public surface of the bbolt codec: etcd's backend file format, read and written without bbolt.

export { BboltError } from "./errors.js";
export { DEFAULT_PAGE_SIZE, type Meta } from "./format.js";
export { type BboltEntry, BboltReader, type BucketPath } from "./reader.js";
export {
  type BboltBucketSource,
  type BboltEmitOptions,
  type BboltEntries,
  type BboltLayout,
  type BboltWriteEntry,
  type BboltWriteOptions,
  emitBbolt,
  encodeBbolt,
  planBbolt,
  writeBboltFile,
} from "./writer.js";
