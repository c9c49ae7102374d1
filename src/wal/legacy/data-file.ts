import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/**
 * A cheap sanity check of LMDB's data file before LMDB maps it. LMDB reads its pages through
 * mmap, so a file cut short (a copy that stopped half way, a damaged disk) kills the process with
 * SIGBUS instead of raising an error. We read the two meta pages ourselves and refuse the file when
 * the roots of the newest meta lie past its end.
 *
 * Layout of a meta page on 64-bit builds (LMDB's MDB_meta after a 24-byte page header, checked
 * against files written by the bundled lmdb-js): magic u32 @24, version u32 @28, page size u32 @48
 * (free DB md_pad), free DB root u64 @88, main DB root u64 @136, last page u64 @144, txnid u64 @152.
 * Only pages every commit rewrites (the roots) are checked: the file may legitimately end before
 * the last page when the final pages are free.
 */
const LMDB_MAGIC = 0xbeefc0de;
const NO_PAGE = 0xffffffffffffffffn;
const META_BYTES = 160;

interface MetaPage {
  readonly pageSize: number;
  readonly txnId: bigint;
  readonly roots: readonly bigint[];
}

function readMeta(page: Buffer): MetaPage | undefined {
  if (page.length < META_BYTES || page.readUInt32LE(24) !== LMDB_MAGIC) return undefined;
  return {
    pageSize: page.readUInt32LE(48),
    txnId: page.readBigUInt64LE(152),
    roots: [page.readBigUInt64LE(88), page.readBigUInt64LE(136)].filter((root) => root !== NO_PAGE),
  };
}

/** Returns undefined when the file looks whole (or does not exist yet), otherwise the problem. */
export function checkDataFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return "LMDB data file is empty";
    const first = Buffer.alloc(META_BYTES);
    readSync(fd, first, 0, META_BYTES, 0);
    const meta0 = readMeta(first);
    const pageSize = meta0?.pageSize ?? 4096;
    const second = Buffer.alloc(META_BYTES);
    const got = readSync(fd, second, 0, META_BYTES, pageSize);
    const meta1 = got === META_BYTES ? readMeta(second) : undefined;
    const metas = [meta0, meta1].filter((m): m is MetaPage => m !== undefined);
    if (metas.length === 0) return "LMDB data file has no valid meta page";
    const newest = metas.reduce((a, b) => (b.txnId > a.txnId ? b : a));
    const pages = BigInt(Math.floor(size / newest.pageSize));
    for (const root of newest.roots) {
      if (root >= pages) {
        return `LMDB data file is truncated (${size} bytes; page ${root} of ${newest.pageSize} bytes is missing)`;
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}
