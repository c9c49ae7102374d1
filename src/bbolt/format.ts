// The fixed facts of bbolt's file format (bbolt 1.3.6, the version etcd 3.4 uses): page and element
// layouts, flags, the meta page and its checksum. bbolt stores its own structures little-endian.

/** Page size rxetcd writes (the page size of x86-64 Linux, which etcd uses when it creates a file). */
export const DEFAULT_PAGE_SIZE = 4096;

export const PAGE_HEADER_SIZE = 16;
export const LEAF_ELEMENT_SIZE = 16;
export const BRANCH_ELEMENT_SIZE = 16;
/** A bucket value starts with {root pgid, sequence}; an inline bucket's page image follows. */
export const BUCKET_HEADER_SIZE = 16;

export const PageFlag = {
  branch: 0x01,
  leaf: 0x02,
  meta: 0x04,
  freelist: 0x10,
} as const;

/** Leaf element flag: the value is a nested bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

export const MAGIC = 0xed0cdaed;
export const VERSION = 2;
/** `meta.freelist` when the freelist is not persisted (etcd on Linux opens bbolt with NoFreelistSync). */
export const NO_FREELIST = 0xffff_ffff_ffff_ffffn;

/** bbolt's largest key; values may be up to 2^31 - 2 bytes. */
export const MAX_KEY_SIZE = 32_768;
export const MAX_VALUE_SIZE = 0x7fff_fffe;
/** An element count is a uint16 and bbolt refuses a node of 0xFFFF elements or more. */
export const MAX_PAGE_ELEMENTS = 0xfffe;

/** Byte offsets of the meta fields from the start of a meta page. */
export const MetaOffset = {
  magic: 16,
  version: 20,
  pageSize: 24,
  flags: 28,
  root: 32,
  sequence: 40,
  freelist: 48,
  pgid: 56,
  txid: 64,
  checksum: 72,
} as const;
/** The checksum covers magic … txid. */
const CHECKSUM_START = MetaOffset.magic;
const CHECKSUM_END = MetaOffset.checksum;

export function pageTypeName(flags: number): string {
  if (flags & PageFlag.branch) return "branch";
  if (flags & PageFlag.leaf) return "leaf";
  if (flags & PageFlag.meta) return "meta";
  if (flags & PageFlag.freelist) return "freelist";
  return `unknown<${flags.toString(16).padStart(2, "0")}>`;
}

const FNV_OFFSET_LO = 0x84222325;
const FNV_OFFSET_HI = 0xcbf29ce4;

/** FNV-1a 64 over `bytes` (in 32-bit halves: BigInt arithmetic would be needlessly slow). */
export function fnv1a64(bytes: Uint8Array): bigint {
  let lo = FNV_OFFSET_LO;
  let hi = FNV_OFFSET_HI;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64: lo * 0x1b3 is exact in a double (< 2^41)
    const low = lo * 0x1b3;
    const carry = Math.floor(low / 0x1_0000_0000);
    hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0;
    lo = low >>> 0;
  }
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export interface Meta {
  magic: number;
  version: number;
  pageSize: number;
  flags: number;
  /** Root page of the root bucket (the top-level buckets). */
  root: number;
  sequence: bigint;
  /** Freelist page, or NO_FREELIST. */
  freelist: bigint;
  /** High-water mark: pages [0, pgid) are in use. */
  pgid: number;
  txid: bigint;
  checksum: bigint;
}

/** The meta checksum of a meta page as bbolt computes it. */
export function metaChecksum(page: Uint8Array): bigint {
  return fnv1a64(page.subarray(CHECKSUM_START, CHECKSUM_END));
}

function readPgid(buf: Buffer, offset: number, what: string): number {
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${v} is out of range`);
  return Number(v);
}

/** Reads the meta struct of a meta page (no validation; see `metaProblem`). */
export function decodeMeta(page: Buffer): Meta {
  return {
    magic: page.readUInt32LE(MetaOffset.magic),
    version: page.readUInt32LE(MetaOffset.version),
    pageSize: page.readUInt32LE(MetaOffset.pageSize),
    flags: page.readUInt32LE(MetaOffset.flags),
    root: readPgid(page, MetaOffset.root, "root page"),
    sequence: page.readBigUInt64LE(MetaOffset.sequence),
    freelist: page.readBigUInt64LE(MetaOffset.freelist),
    pgid: readPgid(page, MetaOffset.pgid, "high-water mark"),
    txid: page.readBigUInt64LE(MetaOffset.txid),
    checksum: page.readBigUInt64LE(MetaOffset.checksum),
  };
}

/** Why bbolt would refuse this meta page, or undefined when it is valid. */
export function metaProblem(page: Buffer): string | undefined {
  const magic = page.readUInt32LE(MetaOffset.magic);
  if (magic !== MAGIC) return `bad magic 0x${magic.toString(16)}`;
  const version = page.readUInt32LE(MetaOffset.version);
  if (version !== VERSION) return `unsupported version ${version}`;
  const stored = page.readBigUInt64LE(MetaOffset.checksum);
  // a zero checksum is accepted unchecked, as bbolt does
  if (stored !== 0n && stored !== metaChecksum(page)) return "checksum mismatch";
  return undefined;
}

export interface MetaFields {
  pageId: number;
  pageSize: number;
  root: number;
  freelist: bigint;
  pgid: number;
  txid: bigint;
}

/** A complete meta page (header, meta struct, checksum), zero elsewhere. */
export function encodeMetaPage(m: MetaFields): Buffer {
  const page = Buffer.alloc(m.pageSize);
  writePageHeader(page, 0, m.pageId, PageFlag.meta, 0, 0);
  page.writeUInt32LE(MAGIC, MetaOffset.magic);
  page.writeUInt32LE(VERSION, MetaOffset.version);
  page.writeUInt32LE(m.pageSize, MetaOffset.pageSize);
  page.writeUInt32LE(0, MetaOffset.flags);
  page.writeBigUInt64LE(BigInt(m.root), MetaOffset.root);
  page.writeBigUInt64LE(0n, MetaOffset.sequence);
  page.writeBigUInt64LE(m.freelist, MetaOffset.freelist);
  page.writeBigUInt64LE(BigInt(m.pgid), MetaOffset.pgid);
  page.writeBigUInt64LE(m.txid, MetaOffset.txid);
  page.writeBigUInt64LE(metaChecksum(page), MetaOffset.checksum);
  return page;
}

export function writePageHeader(
  buf: Buffer,
  offset: number,
  id: number,
  flags: number,
  count: number,
  overflow: number,
): void {
  buf.writeBigUInt64LE(BigInt(id), offset);
  buf.writeUInt16LE(flags, offset + 8);
  buf.writeUInt16LE(count, offset + 10);
  buf.writeUInt32LE(overflow, offset + 12);
}
