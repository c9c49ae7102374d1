import {
  close,
  closeSync,
  fdatasync,
  fdatasyncSync,
  fstatSync,
  open,
  openSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  fsyncDirectory,
  type SegmentFile,
  segmentName,
  temporarySegmentName,
  writeAll,
  zeroFillAsync,
} from "./segment-files.js";

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fdatasyncAsync = promisify(fdatasync);

/**
 * The next segment is zero-filled in slices of this size, each synced before the next is written: a
 * put's fdatasync queues behind at most one slice's writeback on the device, never a whole segment's.
 */
const PREPARE_SLICE_BYTES = 1024 * 1024;

/** The segment after the current one, zero-filled and synced on the thread pool before it is needed. */
interface NextSegment {
  readonly tmp: string;
  readonly bytes: number;
  fd: number;
  ready: boolean;
  /** The zero-fill failed: the batch that needs the segment reports it. */
  failed: boolean;
  /** Set by close: the zero-fill stops at the next slice. */
  cancelled: boolean;
  readonly done: Promise<void>;
}

/** Where a batch goes: after the records of the current segment, or into the next one (cut first). */
export type Placement = "append" | "cut";

/**
 * Appends to the current segment and cuts to the next one when a batch does not fit. Segments are
 * zero-filled and synced before use (measured with bench/storage-fsync.ts: a synced append into
 * written zeros costs about half of one that grows the file), and the next one is prepared in the
 * background once the current one is half full, so a cut costs a rename and a directory sync.
 *
 * A new log's first segment is small (a start writes it whole before serving); every later one has
 * the largest size, as etcd's: a member cuts and prepares once in its first few thousand entries,
 * then not for the next hundred thousand (with doubling sizes, a fresh member zero-filled and cut
 * at 1.6, 3.2, 6.4, 9.6, 16 and 22 thousand puts of 256 bytes, inside a benchmark's timed runs).
 * A batch that finds the next segment still being filled goes after the end of the current one
 * (the file grows) rather than waiting for it.
 */
export class SegmentWriter {
  private next: NextSegment | undefined;

  private constructor(
    private readonly dir: string,
    /** Every segment on disk, oldest first; the last one is written to. */
    readonly files: SegmentFile[],
    private fd: number,
    private offset: number,
    private size: number,
    private readonly maxBytes: number,
  ) {}

  /** Continues the last of `files` at offset `end` (everything after it is zeros). */
  static resume(dir: string, files: SegmentFile[], end: number, maxBytes: number): SegmentWriter {
    const fd = openSync(files[files.length - 1].path, "r+");
    try {
      return new SegmentWriter(dir, files, fd, end, fstatSync(fd).size, maxBytes);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  get seq(): number {
    return this.files[this.files.length - 1].seq;
  }

  /**
   * Where a batch of `bytes` goes now, or a promise of the moment it can go into the next segment.
   * It is appended when it fits (or the segment holds no record yet); otherwise it needs a cut, or,
   * while the next segment is still being filled, it grows the current one up to the largest
   * segment size (a prepare that failed is reported here, by the batch that needs the segment).
   */
  place(bytes: number): Placement | Promise<void> {
    if (this.offset === 0 || this.offset + bytes <= this.size) return "append";
    this.next ??= this.prepare();
    if (this.next.ready) return "cut";
    if (!this.next.failed && this.offset + bytes <= this.maxBytes) return "append";
    return this.next.done;
  }

  /** Makes the prepared segment the current one, named for `index` (the next entry's index). */
  cut(index: number): void {
    const next = this.next;
    if (next === undefined || !next.ready) throw new Error("wal: no prepared segment to cut to");
    const file: SegmentFile = { seq: this.seq + 1, path: join(this.dir, segmentName(this.seq + 1, index)) };
    renameSync(next.tmp, file.path);
    fsyncDirectory(this.dir);
    this.next = undefined;
    closeSync(this.fd);
    this.fd = next.fd;
    this.size = next.bytes;
    this.offset = 0;
    this.files.push(file);
  }

  /** Writes frames after the last record (not yet synced). */
  append(frames: readonly Buffer[]): number {
    const bytes = writeAll(this.fd, frames, this.offset);
    this.offset += bytes;
    // past the zeros (the next segment was not ready): the file grew
    if (this.offset > this.size) this.size = this.offset;
    if (this.next === undefined && this.offset * 2 > this.size) this.next = this.prepare();
    return bytes;
  }

  /** fdatasync on the event loop (a small batch: answers soonest). */
  syncNow(): void {
    fdatasyncSync(this.fd);
  }

  /** fdatasync on the thread pool (a big batch: the event loop serves requests meanwhile). */
  sync(done: (error: Error | null) => void): void {
    fdatasync(this.fd, done);
  }

  /** Deletes the oldest segment (never the current one). */
  removeOldest(): void {
    if (this.files.length < 2) return;
    const [oldest] = this.files.splice(0, 1);
    rmSync(oldest.path, { force: true });
  }

  async close(): Promise<void> {
    const next = this.next;
    this.next = undefined;
    if (next !== undefined) {
      next.cancelled = true;
      await next.done.catch(() => {});
      if (next.fd >= 0) await closeAsync(next.fd).catch(() => {});
      rmSync(next.tmp, { force: true });
    }
    closeSync(this.fd);
  }

  private prepare(): NextSegment {
    const bytes = this.maxBytes;
    const tmp = join(this.dir, temporarySegmentName(this.seq + 1));
    const next: { -readonly [K in keyof NextSegment]: NextSegment[K] } = {
      tmp,
      bytes,
      fd: -1,
      ready: false,
      failed: false,
      cancelled: false,
      done: Promise.resolve(),
    };
    next.done = (async () => {
      next.fd = await openAsync(tmp, "w+", 0o600);
      for (let at = 0; at < bytes && !next.cancelled; at += PREPARE_SLICE_BYTES) {
        await zeroFillAsync(next.fd, at, Math.min(bytes, at + PREPARE_SLICE_BYTES));
        await fdatasyncAsync(next.fd);
      }
      next.ready = !next.cancelled;
    })();
    // a failure is reported by the batch that needs the segment
    next.done.catch(() => {
      next.failed = true;
    });
    return next;
  }
}
