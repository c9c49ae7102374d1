// Writes a compact bbolt file from buckets of sorted entries, as a stream of pages.
//
// The meta pages come first in the file but name the root page and the page count, which are only
// known once everything is laid out. So a file is produced in two passes over the same entries: a
// plan pass that lays out the pages without building them (sizes only), then an emit pass that
// builds them in page order. Pages are allocated children first: a bucket's leaves left to right
// (a nested bucket's pages just before the leaf that holds its element), then its branch levels;
// the root bucket comes last. Leaves are filled to the page; an element that does not fit in one
// page gets a run of overflow pages of its own. Buckets small enough are inlined as bbolt inlines
// them. No freelist is persisted (as etcd's files on Linux): bbolt rebuilds it on open.

import { closeSync, openSync, writeSync } from "node:fs";
import { BboltError } from "./errors.js";
import {
  BRANCH_ELEMENT_SIZE,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  encodeMetaPage,
  LEAF_ELEMENT_SIZE,
  MAX_KEY_SIZE,
  MAX_PAGE_ELEMENTS,
  MAX_VALUE_SIZE,
  NO_FREELIST,
  PAGE_HEADER_SIZE,
  PageFlag,
  writePageHeader,
} from "./format.js";

/**
 * The entries of a bucket in strictly ascending key order (bytewise). A function value is a nested
 * bucket. The function is called once per pass and must produce the same entries each time; the
 * key and value buffers may be reused by the source after the next entry is requested.
 */
export type BboltEntries = () => Iterable<BboltWriteEntry>;
export type BboltWriteEntry = readonly [key: Uint8Array, value: Uint8Array | BboltEntries];

/** A top-level bucket. */
export interface BboltBucketSource {
  name: string | Uint8Array;
  entries: BboltEntries;
}

export interface BboltWriteOptions {
  /** Page size of the file; default 4096. */
  pageSize?: number;
  /** Transaction id of the newer meta page (the other gets txid - 1); default 1. */
  txid?: bigint;
}

export interface BboltEmitOptions {
  /**
   * Bytes per chunk emitted, rounded down to whole pages; default 64 KiB. A chunk is shorter when
   * the next page run does not fit in it, and a page run longer than a chunk is a chunk of its own.
   */
  chunkSize?: number;
}

/** Where everything landed: what the meta pages say. */
export interface BboltLayout {
  pageSize: number;
  /** High-water mark: the file has this many pages. */
  pages: number;
  /** Root page of the root bucket. */
  root: number;
  txid: bigint;
  /** File size in bytes (pages × page size). */
  size: number;
}

/**
 * Plans the file: walks every entry once and returns the layout. Yields (undefined) after each
 * laid-out page so a caller can spread a long plan over several event-loop turns.
 */
export function* planBbolt(
  buckets: readonly BboltBucketSource[],
  options: BboltWriteOptions = {},
): Generator<undefined, BboltLayout> {
  const pageSize = checkedPageSize(options.pageSize);
  const txid = options.txid ?? 1n;
  if (txid < 1n) throw new BboltError(`transaction id ${txid} must be at least 1`);
  const tree = new TreeWriter(pageSize, undefined);
  const run = tree.root(rootEntries(buckets));
  let step = run.next();
  while (!step.done) {
    yield undefined;
    step = run.next();
  }
  const root = step.value;
  return { pageSize, pages: tree.nextPgid, root, txid, size: tree.nextPgid * pageSize };
}

/**
 * The file's bytes in order, in chunks of whole pages, for a layout from `planBbolt` on the same
 * buckets. Throws BboltError when the entries differ from those planned.
 */
export function* emitBbolt(
  buckets: readonly BboltBucketSource[],
  layout: BboltLayout,
  options: BboltEmitOptions = {},
): Generator<Buffer, void> {
  const { pageSize, txid } = layout;
  const meta = (pageId: number, id: bigint) =>
    encodeMetaPage({
      pageId,
      pageSize,
      root: layout.root,
      freelist: NO_FREELIST,
      pgid: layout.pages,
      txid: id,
    });
  // bbolt writes transaction T's meta to page T % 2; the older meta is the fallback
  const newer = Number(txid % 2n);
  const chunkPages = Math.max(1, Math.floor((options.chunkSize ?? DEFAULT_CHUNK_SIZE) / pageSize));
  const tree = new TreeWriter(pageSize, new ChunkArena(chunkPages * pageSize));
  yield* tree.place(newer === 0 ? meta(0, txid) : meta(0, txid - 1n));
  yield* tree.place(newer === 1 ? meta(1, txid) : meta(1, txid - 1n));
  const run = tree.root(rootEntries(buckets));
  let step = run.next();
  while (!step.done) {
    if (step.value !== undefined) yield step.value;
    step = run.next();
  }
  const rest = tree.rest();
  if (rest !== undefined) yield rest;
  if (step.value !== layout.root || tree.nextPgid !== layout.pages) {
    throw new BboltError(
      `the entries changed between planning and writing (planned ${layout.pages} pages with root ${layout.root}, ` +
        `wrote ${tree.nextPgid} with root ${step.value})`,
    );
  }
}

/** Plans the file at once and returns its layout and its bytes as a lazy sequence of chunks. */
export function encodeBbolt(
  buckets: readonly BboltBucketSource[],
  options: BboltWriteOptions = {},
): { layout: BboltLayout; chunks: () => Generator<Buffer, void> } {
  const layout = drain(planBbolt(buckets, options));
  return { layout, chunks: () => emitBbolt(buckets, layout) };
}

/** Writes a bbolt file (replacing `file`) and returns its layout. */
export function writeBboltFile(
  file: string,
  buckets: readonly BboltBucketSource[],
  options: BboltWriteOptions = {},
): BboltLayout {
  const { layout, chunks } = encodeBbolt(buckets, options);
  const fd = openSync(file, "w");
  try {
    for (const chunk of chunks()) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
  return layout;
}

const DEFAULT_CHUNK_SIZE = 64 * 1024;

/**
 * Where emitted pages are built: a zeroed buffer of whole pages handed out in order and emitted
 * when the next page run does not fit (one copy per byte, no concatenation).
 */
class ChunkArena {
  private buf: Buffer;
  private used = 0;

  constructor(private readonly size: number) {
    this.buf = Buffer.alloc(size);
  }

  /** Room for `bytes` (at most the arena's size), and the chunk completed to make it (if any). */
  take(bytes: number): { room: Buffer; done: Buffer | undefined } {
    const done = this.used + bytes > this.buf.length ? this.rest() : undefined;
    const room = this.buf.subarray(this.used, this.used + bytes);
    this.used += bytes;
    return { room, done };
  }

  get full(): boolean {
    return this.used === this.buf.length;
  }

  /** True when a page run of `bytes` is built inside the arena (not in a buffer of its own). */
  holds(bytes: number): boolean {
    return bytes <= this.buf.length;
  }

  /** The pages built so far and not emitted; the arena starts over. */
  rest(): Buffer | undefined {
    if (this.used === 0) return undefined;
    const out = this.buf.subarray(0, this.used);
    this.buf = Buffer.alloc(this.size);
    this.used = 0;
    return out;
  }
}

function drain<R>(gen: Generator<unknown, R>): R {
  let step = gen.next();
  while (!step.done) step = gen.next();
  return step.value;
}

function checkedPageSize(pageSize = DEFAULT_PAGE_SIZE): number {
  if (
    !Number.isInteger(pageSize) ||
    pageSize < 1024 ||
    pageSize > 65536 ||
    (pageSize & (pageSize - 1)) !== 0
  ) {
    throw new BboltError(`page size ${pageSize} is not a power of two between 1024 and 65536`);
  }
  return pageSize;
}

function nameBytes(name: string | Uint8Array): Buffer {
  return typeof name === "string" ? Buffer.from(name) : Buffer.from(name);
}

/** The root bucket's entries: the top-level buckets in name order. */
function rootEntries(buckets: readonly BboltBucketSource[]): BboltEntries {
  const sorted = buckets
    .map((b) => ({ name: nameBytes(b.name), entries: b.entries }))
    .sort((a, b) => Buffer.compare(a.name, b.name));
  return () => sorted.map((b): BboltWriteEntry => [b.name, b.entries]);
}

/** One page (or overflow run) being filled: element sizes, and the keys/values when emitting. */
class PageFill {
  readonly flags: number;
  count = 0;
  /** Bytes used: header, elements, keys and values. */
  used = PAGE_HEADER_SIZE;
  capacity = 0;
  firstKey: Buffer | undefined;
  private readonly elems: Array<{ flags: number; ksize: number; vsize: number; child: number }> = [];
  private data: Buffer;
  private dataLen = 0;

  constructor(
    private readonly kind: "leaf" | "branch",
    private readonly pageSize: number,
    private readonly keepData: boolean,
  ) {
    this.flags = kind === "leaf" ? PageFlag.leaf : PageFlag.branch;
    this.data = keepData ? Buffer.allocUnsafe(pageSize) : EMPTY;
  }

  get elementSize(): number {
    return this.kind === "leaf" ? LEAF_ELEMENT_SIZE : BRANCH_ELEMENT_SIZE;
  }

  /**
   * True when an element of `size` bytes (element + key + value) still fits. A leaf takes at least one
   * element, a branch at least two (or a level of oversized keys would never shrink to one root).
   */
  fits(size: number): boolean {
    const minimum = this.kind === "leaf" ? 1 : 2;
    return this.count < minimum || (this.used + size <= this.capacity && this.count < MAX_PAGE_ELEMENTS);
  }

  add(key: Uint8Array, value: Uint8Array, flags: number, child = 0): void {
    const size = this.elementSize + key.length + value.length;
    if (this.count === 0) this.firstKey = Buffer.from(key);
    this.count++;
    this.used += size;
    // a run of overflow pages when the elements taken so far need it
    this.capacity = Math.max(this.capacity, Math.ceil(this.used / this.pageSize) * this.pageSize);
    if (this.keepData || this.kind === "branch") {
      this.elems.push({ flags, ksize: key.length, vsize: value.length, child });
    }
    if (this.keepData) {
      const need = this.dataLen + key.length + value.length;
      if (need > this.data.length) {
        const grown = Buffer.allocUnsafe(Math.max(need, this.data.length * 2));
        this.data.copy(grown, 0, 0, this.dataLen);
        this.data = grown;
      }
      this.data.set(key, this.dataLen);
      this.data.set(value, this.dataLen + key.length);
      this.dataLen = need;
    }
  }

  /** Pages this fill occupies. */
  get pages(): number {
    return Math.max(1, this.capacity / this.pageSize);
  }

  /**
   * The page image (`pages` × page size, or exactly its bytes when `exact`, for inline buckets),
   * built in `into` (zeroed, of that size) when given.
   */
  build(pgid: number, exact = false, into?: Buffer): Buffer {
    const pages = this.pages;
    const buf = into ?? Buffer.alloc(exact ? this.used : pages * this.pageSize);
    writePageHeader(buf, 0, pgid, this.flags, this.count, exact ? 0 : pages - 1);
    const esize = this.elementSize;
    let dataAt = PAGE_HEADER_SIZE + this.count * esize;
    let src = 0;
    this.elems.forEach((e, i) => {
      const at = PAGE_HEADER_SIZE + i * esize;
      if (this.kind === "leaf") {
        buf.writeUInt32LE(e.flags, at);
        buf.writeUInt32LE(dataAt - at, at + 4);
        buf.writeUInt32LE(e.ksize, at + 8);
        buf.writeUInt32LE(e.vsize, at + 12);
      } else {
        buf.writeUInt32LE(dataAt - at, at);
        buf.writeUInt32LE(e.ksize, at + 4);
        buf.writeBigUInt64LE(BigInt(e.child), at + 8);
      }
      const n = e.ksize + e.vsize;
      this.data.copy(buf, dataAt, src, src + n);
      dataAt += n;
      src += n;
    });
    return buf;
  }
}

const EMPTY = Buffer.alloc(0);

/** Lays out (and, when emitting, builds) the pages of the buckets, in page order. */
class TreeWriter {
  /** Next page to allocate; pages 0 and 1 are the metas. */
  nextPgid = 2;

  /** True when building pages (emit pass), false when only laying them out (plan pass). */
  private readonly emit: boolean;

  constructor(
    private readonly pageSize: number,
    private readonly arena: ChunkArena | undefined,
  ) {
    this.emit = arena !== undefined;
  }

  /** Places a ready page (a meta page) in the output. */
  *place(page: Buffer): Generator<Buffer> {
    const arena = this.arena!;
    const { room, done } = arena.take(page.length);
    if (done !== undefined) yield done;
    page.copy(room);
    if (arena.full) yield arena.rest()!;
  }

  /** What is built and not yet emitted (the end of the file). */
  rest(): Buffer | undefined {
    return this.arena?.rest();
  }

  /** Writes the root bucket; returns its root page. */
  *root(entries: BboltEntries): Generator<Buffer | undefined, number> {
    const value = yield* this.bucket(entries, [], true);
    return Number(value.readBigUInt64LE(0));
  }

  /** Writes a bucket; returns its bucket value (header, plus the page image when inline). */
  private *bucket(
    entries: BboltEntries,
    path: readonly Buffer[],
    isRoot: boolean,
  ): Generator<Buffer | undefined, Buffer> {
    const inlineLimit = this.pageSize / 4;
    // a bucket stays inline while it is one small leaf without nested buckets (as bbolt decides)
    let inline = !isRoot;
    let leaf = new PageFill("leaf", this.pageSize, this.emit || inline);
    const children: Array<{ key: Buffer; pgid: number }> = [];
    let previous: Buffer | undefined;
    let n = 0;
    for (const [key, v] of entries()) {
      n++;
      this.checkKey(key, previous, path, n);
      previous = Buffer.from(key);
      let value: Uint8Array;
      let flags = 0;
      if (typeof v === "function") {
        if (inline) {
          inline = false;
          if (!this.emit) leaf = this.dropData(leaf);
        }
        value = yield* this.bucket(v, [...path, previous], false);
        flags = BUCKET_LEAF_FLAG;
      } else {
        if (isRoot) throw this.error(path, `top-level entry ${show(previous)} is not a bucket`);
        if (v.length > MAX_VALUE_SIZE) {
          throw this.error(
            path,
            `value of ${show(previous)} is ${v.length} bytes, over bbolt's ${MAX_VALUE_SIZE}`,
          );
        }
        value = v;
      }
      const size = LEAF_ELEMENT_SIZE + key.length + value.length;
      if (inline && leaf.used + size > inlineLimit) {
        inline = false;
        if (!this.emit) leaf = this.dropData(leaf);
      }
      if (!leaf.fits(size)) {
        yield* this.flush(leaf, children);
        leaf = new PageFill("leaf", this.pageSize, this.emit);
      }
      leaf.add(key, value, flags);
    }
    if (inline) {
      const value = Buffer.alloc(BUCKET_HEADER_SIZE); // root 0 (inline), sequence 0
      return Buffer.concat([value, leaf.build(0, true)]);
    }
    yield* this.flush(leaf, children);
    // branch levels until one page remains
    let level = children;
    while (level.length > 1) {
      const parents: Array<{ key: Buffer; pgid: number }> = [];
      let branch = new PageFill("branch", this.pageSize, this.emit);
      for (const c of level) {
        const size = BRANCH_ELEMENT_SIZE + c.key.length;
        if (!branch.fits(size)) {
          yield* this.flush(branch, parents);
          branch = new PageFill("branch", this.pageSize, this.emit);
        }
        branch.add(c.key, EMPTY, 0, c.pgid);
      }
      yield* this.flush(branch, parents);
      level = parents;
    }
    const value = Buffer.alloc(BUCKET_HEADER_SIZE);
    value.writeBigUInt64LE(BigInt(level[0].pgid), 0);
    return value;
  }

  /** A plan-pass leaf that no longer needs its bytes (it will not be inlined). */
  private dropData(leaf: PageFill): PageFill {
    const sizesOnly = new PageFill("leaf", this.pageSize, false);
    sizesOnly.count = leaf.count;
    sizesOnly.used = leaf.used;
    sizesOnly.capacity = leaf.capacity;
    sizesOnly.firstKey = leaf.firstKey;
    return sizesOnly;
  }

  /** Allocates the fill's pages (and builds them when emitting); yields completed chunks, or undefined when planning. */
  private *flush(
    fill: PageFill,
    parents: Array<{ key: Buffer; pgid: number }>,
  ): Generator<Buffer | undefined> {
    const pgid = this.nextPgid;
    this.nextPgid += fill.pages;
    if (fill.firstKey !== undefined) parents.push({ key: fill.firstKey, pgid });
    else parents.push({ key: EMPTY, pgid }); // only an empty root bucket has an empty leaf
    if (this.arena === undefined) {
      yield undefined;
      return;
    }
    const bytes = fill.pages * this.pageSize;
    if (!this.arena.holds(bytes)) {
      // a run longer than a chunk is a chunk of its own
      const before = this.arena.rest();
      if (before !== undefined) yield before;
      yield fill.build(pgid);
      return;
    }
    const { room, done } = this.arena.take(bytes);
    if (done !== undefined) yield done;
    fill.build(pgid, false, room);
    if (this.arena.full) yield this.arena.rest();
  }

  private checkKey(key: Uint8Array, previous: Buffer | undefined, path: readonly Buffer[], n: number): void {
    if (key.length === 0) throw this.error(path, `entry ${n} has an empty key`);
    if (key.length > MAX_KEY_SIZE) {
      throw this.error(path, `key of entry ${n} is ${key.length} bytes, over bbolt's ${MAX_KEY_SIZE}`);
    }
    if (previous !== undefined && Buffer.compare(previous, key) >= 0) {
      throw this.error(path, `keys out of order at entry ${n}: ${show(key)} after ${show(previous)}`);
    }
  }

  private error(path: readonly Buffer[], what: string): BboltError {
    const where = path.length === 0 ? "top level" : `bucket ${path.map(show).join("/")}`;
    return new BboltError(`${where}: ${what}`);
  }
}

/** A key for a message: text when printable, hex otherwise. */
function show(key: Uint8Array): string {
  const b = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const text = b.toString("latin1");
  const printable = /^[\x20-\x7e]*$/.test(text);
  const shown = printable ? JSON.stringify(text) : `0x${b.toString("hex")}`;
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}
