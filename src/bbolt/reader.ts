// Reads a bbolt file page by page (never the whole file at once): the meta pages, then the B+trees
// of the buckets, in key order. Every structure is bounds-checked, so a damaged file ends in one
// BboltError naming the file and the page instead of wrong data.

import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { BboltError } from "./errors.js";
import {
  BRANCH_ELEMENT_SIZE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  decodeMeta,
  LEAF_ELEMENT_SIZE,
  type Meta,
  metaProblem,
  PAGE_HEADER_SIZE,
  PageFlag,
  pageTypeName,
} from "./format.js";

/** Names of nested buckets from the top level down; [] is the root bucket (the top-level buckets). */
export type BucketPath = ReadonlyArray<string | Uint8Array>;

export interface BboltEntry {
  key: Buffer;
  /** The value; empty for a nested bucket. Shares memory with the page it was read from. */
  value: Buffer;
  /** True when the entry is a nested bucket: read it with `entries([...path, key])`. */
  bucket: boolean;
}

/** Where a bucket's entries are: a page tree, or an inline page image inside its parent's value. */
type BucketRef =
  | { kind: "pages"; root: number }
  | { kind: "inline"; image: Buffer /** the page that holds the parent's element */; page: number };

interface Page {
  id: number;
  flags: number;
  count: number;
  overflow: number;
  /** The page and its overflow pages. */
  buf: Buffer;
}

/** Read-ahead grows while reads are sequential (our own files), and falls back on a jump (etcd's). */
const MAX_READ_AHEAD_PAGES = 64;
/** bbolt's deepest trees are far shallower; a deeper descent means a reference cycle. */
const MAX_TREE_DEPTH = 64;

export class BboltReader {
  readonly file: string;
  readonly pageSize: number;
  /** The meta in use: the valid one with the higher transaction id. */
  readonly meta: Meta;
  /** Which meta page `meta` came from. */
  readonly metaPage: 0 | 1;
  private fd: number | undefined;
  private window: { start: number; buf: Buffer } | undefined;
  private readAhead = 1;

  private constructor(file: string, fd: number) {
    this.file = file;
    this.fd = fd;
    const fileSize = fstatSync(fd).size;
    const first = this.readAt(0, Math.min(fileSize, DEFAULT_PAGE_SIZE));
    if (fileSize < 2 * 1024 || first.length < 1024) {
      throw this.error(`file size too small (${fileSize} bytes)`);
    }
    const problem0 = metaProblem(first);
    // as bbolt: trust meta 0's page size only when meta 0 is valid
    const pageSize = problem0 === undefined ? decodeMeta(first).pageSize : DEFAULT_PAGE_SIZE;
    if (pageSize < 1024 || pageSize > 1 << 20 || (pageSize & (pageSize - 1)) !== 0) {
      throw this.error(`meta page 0 gives an impossible page size ${pageSize}`);
    }
    this.pageSize = pageSize;
    if (fileSize < 2 * pageSize) throw this.error(`file size too small (${fileSize} bytes)`);
    const page0 = pageSize === first.length ? first : this.readAt(0, pageSize);
    const page1 = this.readAt(pageSize, pageSize);
    const problem1 = metaProblem(page1);
    const metas = [
      problem0 === undefined ? decodeMeta(page0) : undefined,
      problem1 === undefined ? decodeMeta(page1) : undefined,
    ];
    let use: 0 | 1;
    if (metas[0] && metas[1]) use = metas[1].txid > metas[0].txid ? 1 : 0;
    else if (metas[0]) use = 0;
    else if (metas[1]) use = 1;
    else throw this.error(`no valid meta page (page 0: ${problem0}; page 1: ${problem1})`);
    const meta = metas[use]!;
    this.meta = meta;
    this.metaPage = use;
    if (meta.pgid < 3 || meta.root < 2 || meta.root >= meta.pgid) {
      throw this.error(`meta says root page ${meta.root} with ${meta.pgid} pages in use`, use);
    }
    if (fileSize < meta.pgid * pageSize) {
      throw this.error(
        `truncated: ${fileSize} bytes, but the meta page says ${meta.pgid} pages of ${pageSize} bytes`,
        use,
      );
    }
  }

  /** Opens `file` and checks its meta pages; the caller must `close()` it. */
  static open(file: string): BboltReader {
    const fd = openSync(file, "r");
    try {
      return new BboltReader(file, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** Bytes in use (high-water mark × page size): a consistent copy of the database is this long. */
  get size(): number {
    return this.meta.pgid * this.pageSize;
  }

  /** The names of the nested buckets of the bucket at `path` ([] = the top-level buckets), in order. */
  bucketNames(path: BucketPath = []): Buffer[] {
    const names: Buffer[] = [];
    for (const e of this.entries(path)) if (e.bucket) names.push(e.key);
    return names;
  }

  /** True when a bucket exists at `path`. */
  hasBucket(path: BucketPath): boolean {
    return this.findBucket(path) !== undefined;
  }

  /**
   * The entries of the bucket at `path`, in key order, read lazily page by page. Throws BboltError
   * when the bucket does not exist or a page on the way is damaged.
   */
  *entries(path: BucketPath): Generator<BboltEntry> {
    const ref = this.findBucket(path);
    if (ref === undefined) throw this.error(`no bucket ${describePath(path)}`);
    yield* this.walk(ref);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.window = undefined;
  }

  // ---- buckets -------------------------------------------------------------------------------

  private findBucket(path: BucketPath): BucketRef | undefined {
    let ref: BucketRef = { kind: "pages", root: this.meta.root };
    for (const part of path) {
      const name = typeof part === "string" ? Buffer.from(part) : Buffer.from(part);
      const found = this.seek(ref, name);
      if (found === undefined || !found.entry.bucket) return undefined;
      ref = this.bucketRef(found.raw, found.page);
    }
    return ref;
  }

  /** Parses a bucket value (the 16-byte header and, when inline, the page image after it). */
  private bucketRef(value: Buffer, page: number): BucketRef {
    if (value.length < BUCKET_HEADER_SIZE) {
      throw this.error(`bucket value of ${value.length} bytes is shorter than its header`, page);
    }
    const root = value.readBigUInt64LE(0);
    if (root !== 0n) {
      if (root < 2n || root >= BigInt(this.meta.pgid)) {
        throw this.error(`bucket root page ${root} is outside the ${this.meta.pgid} pages in use`, page);
      }
      return { kind: "pages", root: Number(root) };
    }
    const image = value.subarray(BUCKET_HEADER_SIZE);
    if (image.length < PAGE_HEADER_SIZE) throw this.error("inline bucket shorter than a page header", page);
    const flags = image.readUInt16LE(8);
    if ((flags & PageFlag.leaf) === 0) {
      throw this.error(`inline bucket is a ${pageTypeName(flags)} page, expected leaf`, page);
    }
    return { kind: "inline", image, page };
  }

  /** The entry with exactly `key` in the bucket, descending the tree. */
  private seek(ref: BucketRef, key: Buffer): { entry: BboltEntry; raw: Buffer; page: number } | undefined {
    if (ref.kind === "inline") {
      const page: Page = this.inlinePage(ref);
      return this.findInLeaf(page, key, ref.page);
    }
    let pgid = ref.root;
    for (let depth = 0; depth < MAX_TREE_DEPTH; depth++) {
      const page = this.readPage(pgid);
      if (page.flags & PageFlag.leaf) return this.findInLeaf(page, key, page.id);
      const children = this.branchElements(page);
      if (children.length === 0) throw this.error("branch page without elements", page.id);
      let next = children[0].child;
      for (const c of children) {
        if (Buffer.compare(c.key, key) <= 0) next = c.child;
        else break;
      }
      pgid = next;
    }
    throw this.error(`tree deeper than ${MAX_TREE_DEPTH} levels (a reference cycle?)`, ref.root);
  }

  private findInLeaf(
    page: Page,
    key: Buffer,
    where: number,
  ): { entry: BboltEntry; raw: Buffer; page: number } | undefined {
    for (const { entry, raw } of this.leafElements(page, where)) {
      const c = Buffer.compare(entry.key, key);
      if (c === 0) return { entry, raw, page: where };
      if (c > 0) return undefined;
    }
    return undefined;
  }

  // ---- iteration -----------------------------------------------------------------------------

  private *walk(ref: BucketRef): Generator<BboltEntry> {
    let previous: Buffer | undefined;
    const ordered = (entry: BboltEntry, page: number): BboltEntry => {
      if (previous !== undefined && Buffer.compare(previous, entry.key) >= 0) {
        throw this.error("keys out of order", page);
      }
      previous = entry.key;
      return entry;
    };
    if (ref.kind === "inline") {
      for (const { entry } of this.leafElements(this.inlinePage(ref), ref.page))
        yield ordered(entry, ref.page);
      return;
    }
    // depth-first, children in element order; every page of one tree is visited once
    const seen = new Set<number>();
    const stack: Array<{ children: number[]; next: number }> = [];
    let pgid: number | undefined = ref.root;
    while (pgid !== undefined) {
      if (seen.has(pgid)) throw this.error("page is referenced twice", pgid);
      seen.add(pgid);
      if (stack.length > MAX_TREE_DEPTH) throw this.error(`tree deeper than ${MAX_TREE_DEPTH} levels`, pgid);
      const page = this.readPage(pgid);
      if (page.flags & PageFlag.branch) {
        const children = this.branchElements(page).map((c) => c.child);
        if (children.length === 0) throw this.error("branch page without elements", page.id);
        stack.push({ children, next: 1 });
        pgid = children[0];
        continue;
      }
      for (const { entry } of this.leafElements(page, page.id)) yield ordered(entry, page.id);
      pgid = undefined;
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next < top.children.length) {
          pgid = top.children[top.next++];
          break;
        }
        stack.pop();
      }
    }
  }

  // ---- pages ---------------------------------------------------------------------------------

  private inlinePage(ref: { image: Buffer; page: number }): Page {
    const { image } = ref;
    return {
      id: ref.page,
      flags: image.readUInt16LE(8),
      count: image.readUInt16LE(10),
      overflow: 0,
      buf: image,
    };
  }

  private *leafElements(page: Page, where: number): Generator<{ entry: BboltEntry; raw: Buffer }> {
    const { buf, count } = page;
    if (PAGE_HEADER_SIZE + count * LEAF_ELEMENT_SIZE > buf.length) {
      throw this.error(`${count} leaf elements do not fit in the page`, where);
    }
    for (let i = 0; i < count; i++) {
      const at = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
      const flags = buf.readUInt32LE(at);
      const pos = buf.readUInt32LE(at + 4);
      const ksize = buf.readUInt32LE(at + 8);
      const vsize = buf.readUInt32LE(at + 12);
      const kstart = at + pos;
      const vend = kstart + ksize + vsize;
      if (vend > buf.length || ksize === 0) {
        throw this.error(
          `leaf element ${i} (key ${ksize} bytes, value ${vsize} bytes) is out of bounds`,
          where,
        );
      }
      const key = buf.subarray(kstart, kstart + ksize);
      const raw = buf.subarray(kstart + ksize, vend);
      const bucket = (flags & BUCKET_LEAF_FLAG) !== 0;
      yield { entry: { key, value: bucket ? EMPTY : raw, bucket }, raw };
    }
  }

  private branchElements(page: Page): Array<{ key: Buffer; child: number }> {
    const { buf, count } = page;
    if (PAGE_HEADER_SIZE + count * BRANCH_ELEMENT_SIZE > buf.length) {
      throw this.error(`${count} branch elements do not fit in the page`, page.id);
    }
    const out: Array<{ key: Buffer; child: number }> = [];
    for (let i = 0; i < count; i++) {
      const at = PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE;
      const pos = buf.readUInt32LE(at);
      const ksize = buf.readUInt32LE(at + 4);
      const child = buf.readBigUInt64LE(at + 8);
      if (at + pos + ksize > buf.length || ksize === 0) {
        throw this.error(`branch element ${i} (key ${ksize} bytes) is out of bounds`, page.id);
      }
      if (child < 2n || child >= BigInt(this.meta.pgid)) {
        throw this.error(`branch element ${i} points to page ${child}, outside the pages in use`, page.id);
      }
      out.push({ key: buf.subarray(at + pos, at + pos + ksize), child: Number(child) });
    }
    return out;
  }

  /** Reads a branch or leaf page (with its overflow pages) and checks its header. */
  private readPage(pgid: number): Page {
    const hwm = this.meta.pgid;
    if (pgid < 2 || pgid >= hwm) throw this.error(`page id outside the ${hwm} pages in use`, pgid);
    let head = this.fromWindow(pgid, 1);
    if (head === undefined) {
      this.load(pgid);
      head = this.fromWindow(pgid, 1)!;
    }
    const id = head.readBigUInt64LE(0);
    const flags = head.readUInt16LE(8);
    const count = head.readUInt16LE(10);
    const overflow = head.readUInt32LE(12);
    if (id !== BigInt(pgid)) throw this.error(`page header says page ${id}`, pgid);
    if ((flags & (PageFlag.branch | PageFlag.leaf)) === 0) {
      throw this.error(`invalid page type ${pageTypeName(flags)}, expected branch or leaf`, pgid);
    }
    if (pgid + overflow >= hwm) {
      throw this.error(`${overflow} overflow pages run past the ${hwm} pages in use`, pgid);
    }
    let buf = overflow === 0 ? head : this.fromWindow(pgid, overflow + 1);
    if (buf === undefined) {
      this.load(pgid, overflow + 1);
      buf = this.fromWindow(pgid, overflow + 1)!;
    }
    return { id: pgid, flags, count, overflow, buf };
  }

  private fromWindow(pgid: number, pages: number): Buffer | undefined {
    const w = this.window;
    if (w === undefined) return undefined;
    const from = (pgid - w.start) * this.pageSize;
    const to = from + pages * this.pageSize;
    if (from < 0 || to > w.buf.length) return undefined;
    return w.buf.subarray(from, to);
  }

  /** Loads a fresh window starting at `pgid` (never reused: entries handed out may point into it). */
  private load(pgid: number, atLeast = 1): void {
    const sequential =
      this.window !== undefined && pgid === this.window.start + this.window.buf.length / this.pageSize;
    this.readAhead = sequential ? Math.min(this.readAhead * 2, MAX_READ_AHEAD_PAGES) : 1;
    const pages = Math.min(Math.max(this.readAhead, atLeast), this.meta.pgid - pgid);
    this.window = { start: pgid, buf: this.readAt(pgid * this.pageSize, pages * this.pageSize) };
  }

  private readAt(position: number, length: number): Buffer {
    if (this.fd === undefined) throw this.error("reader is closed");
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, buf, done, length - done, position + done);
      if (n === 0) throw this.error(`unexpected end of file at byte ${position + done}`);
      done += n;
    }
    return buf;
  }

  private error(what: string, page?: number): BboltError {
    return new BboltError(what, { file: this.file, page });
  }
}

const EMPTY = Buffer.alloc(0);

function describePath(path: BucketPath): string {
  if (path.length === 0) return "(root)";
  return path.map((p) => (typeof p === "string" ? p : Buffer.from(p).toString("latin1"))).join("/");
}
