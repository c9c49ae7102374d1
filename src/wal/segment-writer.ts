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
  INITIAL_SEGMENT_BYTES,
  type SegmentFile,
  segmentName,
  temporarySegmentName,
  writeAll,
  zeroFillAsync,
} from "./segment-files.js";

const openAsync = promisify(open);
const closeAsync = promisify(close);
const fdatasyncAsync = promisify(fdatasync);

/** The segment after the current one, zero-filled and synced on the thread pool before it is needed. */
interface NextSegment {
  readonly tmp: string;
  readonly bytes: number;
  fd: number;
  ready: boolean;
  readonly done: Promise<void>;
}

/**
 * Appends to the current segment and cuts to the next one when a batch does not fit. Segments are
 * zero-filled and synced before use (measured with bench/storage-fsync.ts: a synced append into
 * written zeros costs about half of one that grows the file), and the next one is prepared in the
 * background once the current one is half full, so a cut costs a rename and a directory sync.
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

  /** A batch of `bytes` goes into a new segment: it does not fit, and this one already holds records. */
  mustCut(bytes: number): boolean {
    return this.offset > 0 && this.offset + bytes > this.size;
  }

  /** undefined when cut() can run now, otherwise a promise of the moment it can. */
  whenNextReady(): Promise<void> | undefined {
    if (this.next?.ready) return undefined;
    this.next ??= this.prepare();
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
      await next.done.catch(() => {});
      if (next.fd >= 0) await closeAsync(next.fd).catch(() => {});
      rmSync(next.tmp, { force: true });
    }
    closeSync(this.fd);
  }

  private prepare(): NextSegment {
    const bytes = Math.min(this.maxBytes, Math.max(INITIAL_SEGMENT_BYTES, this.size * 2));
    const tmp = join(this.dir, temporarySegmentName(this.seq + 1));
    const next: { -readonly [K in keyof NextSegment]: NextSegment[K] } = {
      tmp,
      bytes,
      fd: -1,
      ready: false,
      done: Promise.resolve(),
    };
    next.done = (async () => {
      next.fd = await openAsync(tmp, "w+", 0o600);
      await zeroFillAsync(next.fd, 0, bytes);
      await fdatasyncAsync(next.fd);
      next.ready = true;
    })();
    // a failure is reported by the cut that needs the segment
    next.done.catch(() => {});
    return next;
  }
}
