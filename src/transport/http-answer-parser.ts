// An incremental reader of one HTTP/1.1 answer as bytes arrive from a socket: the status line and
// headers, then the body (chunked, a Content-Length, or everything until the connection closes),
// handed on as views of the received chunks without copying. Used for peer streams, whose bodies
// last for hours and whose frames should reach the decoders with as little work as possible.
import type { IncomingHttpHeaders } from "node:http";

export class HttpAnswerError extends Error {
  override name = "HttpAnswerError";
}

export interface AnswerHead {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", " (as Node's IncomingMessage does). */
  readonly headers: IncomingHttpHeaders;
}

/** Node's default limit on the status line and headers together. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** Go's limit on a chunk-size line (with extensions) and on a trailer line. */
const MAX_LINE_BYTES = 4096;
/** Chunk sizes above this (13 hex digits) cannot be exact JS numbers and are refused. */
const MAX_CHUNK_HEX_DIGITS = 13;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;

enum State {
  Head,
  Identity,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  Done,
}

export class HttpAnswerParser {
  /** The answer's status and headers, once they have arrived. */
  head: AnswerHead | undefined;
  private state = State.Head;
  /** Bytes of an unfinished line (head, chunk size, trailer) carried to the next chunk. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Body bytes left: of the current chunk, or of a Content-Length body (Infinity: until close). */
  private left = 0;

  /** `body` receives every piece of the body in order, as views of the pushed chunks. */
  constructor(
    private readonly body: (piece: Buffer) => void,
    private readonly maxHeadBytes = MAX_HEAD_BYTES,
  ) {}

  /** The body has ended (the last chunk and trailers, or Content-Length bytes, have arrived). */
  get complete(): boolean {
    return this.state === State.Done;
  }

  /** Takes the next bytes from the connection; throws HttpAnswerError for a malformed answer. */
  push(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length) {
      switch (this.state) {
        case State.Head:
          at = this.readHead(chunk, at);
          break;
        case State.Identity:
        case State.ChunkData: {
          const n = Math.min(this.left, chunk.length - at);
          this.left -= n;
          const piece = at === 0 && n === chunk.length ? chunk : chunk.subarray(at, at + n);
          at += n;
          if (this.left === 0) this.state = this.state === State.Identity ? State.Done : State.ChunkDataEnd;
          this.body(piece);
          break;
        }
        case State.ChunkSize: {
          const next = this.pendingBytes === 0 ? this.plainChunkSize(chunk, at) : -1;
          if (next >= 0) {
            at = next;
            this.state = this.left === 0 ? State.Trailers : State.ChunkData;
            break;
          }
          const line = this.line(chunk, at, MAX_LINE_BYTES, "chunk size line");
          if (!line) return;
          at = line.next;
          this.left = parseChunkSize(line.text);
          this.state = this.left === 0 ? State.Trailers : State.ChunkData;
          break;
        }
        case State.ChunkDataEnd: {
          if (this.pendingBytes === 0 && chunk[at] === 13 && chunk[at + 1] === 10) {
            at += 2;
            this.state = State.ChunkSize;
            break;
          }
          const line = this.line(chunk, at, MAX_LINE_BYTES, "chunk end");
          if (!line) return;
          at = line.next;
          if (line.text !== "")
            throw new HttpAnswerError("malformed chunked encoding: no CRLF after chunk data");
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const line = this.line(chunk, at, MAX_LINE_BYTES, "trailer line");
          if (!line) return;
          at = line.next;
          if (line.text === "") this.state = State.Done;
          else parseHeaderLine(line.text); // trailers are checked and dropped
          break;
        }
        case State.Done:
          // nothing may follow the answer on a connection we asked to close
          throw new HttpAnswerError("data after the end of the answer");
      }
    }
  }

  /** The connection closed; throws when the answer was cut short. */
  eof(): void {
    if (this.state === State.Done) return;
    if (this.state === State.Identity && this.left === Number.POSITIVE_INFINITY) {
      this.state = State.Done;
      return;
    }
    throw new HttpAnswerError(this.head ? "unexpected EOF" : "connection closed before the answer's headers");
  }

  /**
   * The common chunk-size line, hex digits and CRLF wholly in `chunk`, read without making a string:
   * sets the chunk's size and returns the offset after the line; -1 for any other line (or part).
   */
  private plainChunkSize(chunk: Buffer, at: number): number {
    let size = 0;
    let i = at;
    for (; i < chunk.length && i - at <= MAX_CHUNK_HEX_DIGITS; i++) {
      const c = chunk[i];
      const digit =
        c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (digit < 0) break;
      size = size * 16 + digit;
    }
    if (i === at || i - at > MAX_CHUNK_HEX_DIGITS || chunk[i] !== 13 || chunk[i + 1] !== 10) return -1;
    this.left = size;
    return i + 2;
  }

  /** Reads head lines from `chunk` at `at`; returns where reading stopped. */
  private readHead(chunk: Buffer, at: number): number {
    const end = findHeadEnd(this.pending, chunk, at);
    if (end < 0) {
      const rest = chunk.length - at;
      if (this.pendingBytes + rest > this.maxHeadBytes) throw new HttpAnswerError("answer headers too large");
      this.pending.push(chunk.subarray(at));
      this.pendingBytes += rest;
      return chunk.length;
    }
    if (this.pendingBytes + end - at > this.maxHeadBytes)
      throw new HttpAnswerError("answer headers too large");
    const text = this.take(chunk, at, end).toString("latin1");
    const head = parseHead(text);
    if (head.status >= 100 && head.status < 200) return end; // informational: the real head follows
    this.head = head;
    this.startBody(head);
    return end;
  }

  private startBody(head: AnswerHead): void {
    const { status, headers } = head;
    if (status === 204 || status === 304) {
      this.state = State.Done;
      return;
    }
    const te = headers["transfer-encoding"];
    if (te !== undefined) {
      const codings = String(te)
        .split(",")
        .map((c) => c.trim().toLowerCase())
        .filter((c) => c !== "");
      // a body whose last coding is not chunked runs until the connection closes
      if (codings[codings.length - 1] === "chunked") {
        if (codings.indexOf("chunked") !== codings.length - 1)
          throw new HttpAnswerError("chunked applied more than once");
        this.state = State.ChunkSize;
        return;
      }
      this.state = State.Identity;
      this.left = Number.POSITIVE_INFINITY;
      return;
    }
    const cl = headers["content-length"];
    if (cl !== undefined) {
      const values = new Set(
        String(cl)
          .split(",")
          .map((v) => v.trim()),
      );
      const [v] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(v))
        throw new HttpAnswerError(`bad Content-Length ${JSON.stringify(cl)}`);
      this.left = Number(v);
      this.state = this.left === 0 ? State.Done : State.Identity;
      return;
    }
    this.state = State.Identity;
    this.left = Number.POSITIVE_INFINITY;
  }

  /**
   * One line (up to LF, without CR LF) when `chunk` completes it, with the offset after it; undefined
   * when the line goes on in the next chunk (its start is kept).
   */
  private line(
    chunk: Buffer,
    at: number,
    limit: number,
    what: string,
  ): { text: string; next: number } | undefined {
    const lf = chunk.indexOf(10, at);
    if (lf < 0) {
      if (this.pendingBytes + chunk.length - at > limit) throw new HttpAnswerError(`${what} too long`);
      this.pending.push(chunk.subarray(at));
      this.pendingBytes += chunk.length - at;
      return undefined;
    }
    if (this.pendingBytes + lf - at > limit) throw new HttpAnswerError(`${what} too long`);
    let text = this.take(chunk, at, lf).toString("latin1");
    if (text.endsWith("\r")) text = text.slice(0, -1);
    return { text, next: lf + 1 };
  }

  /** The kept bytes followed by chunk[at, end); clears what was kept. */
  private take(chunk: Buffer, at: number, end: number): Buffer {
    const tail = chunk.subarray(at, end);
    if (this.pendingBytes === 0) return tail;
    const all = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingBytes = 0;
    return all;
  }
}

/**
 * The offset in `chunk` just after the blank line that ends a head begun in `kept` (CRLF CRLF, or
 * bare LFs); -1 when it has not arrived yet.
 */
function findHeadEnd(kept: readonly Buffer[], chunk: Buffer, at: number): number {
  // the last two kept bytes may start the blank line
  const prev: number[] = [];
  for (let i = kept.length - 1; i >= 0 && prev.length < 2; i--) {
    const b = kept[i];
    for (let j = b.length - 1; j >= 0 && prev.length < 2; j--) prev.unshift(b[j]);
  }
  let p1 = prev.length > 1 ? prev[prev.length - 2] : -1; // two bytes back
  let p0 = prev.length > 0 ? prev[prev.length - 1] : -1; // one byte back
  for (let i = at; i < chunk.length; i++) {
    const c = chunk[i];
    if (c === 10 && (p0 === 10 || (p0 === 13 && p1 === 10))) return i + 1;
    p1 = p0;
    p0 = c;
  }
  return -1;
}

function parseHead(text: string): AnswerHead {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  // the blank line that ended the head
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const m = STATUS_LINE.exec(lines[0] ?? "");
  if (!m) throw new HttpAnswerError(`malformed status line ${JSON.stringify((lines[0] ?? "").slice(0, 64))}`);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const [name, value] = parseHeaderLine(lines[i]);
    const prev = headers[name];
    headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  return { status: Number(m[1]), headers };
}

function parseHeaderLine(line: string): [string, string] {
  const colon = line.indexOf(":");
  const name = colon > 0 ? line.slice(0, colon) : "";
  // a name followed by space, or a line starting with whitespace (obsolete folding), is refused
  if (!TOKEN.test(name))
    throw new HttpAnswerError(`malformed header line ${JSON.stringify(line.slice(0, 64))}`);
  return [name.toLowerCase(), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "")];
}

/** A chunk-size line: hex digits, then optional whitespace and `;extensions` (ignored). */
function parseChunkSize(line: string): number {
  const m = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/.exec(line);
  if (!m) throw new HttpAnswerError(`malformed chunk size ${JSON.stringify(line.slice(0, 64))}`);
  const digits = m[1].replace(/^0+(?=.)/, "");
  if (digits.length > MAX_CHUNK_HEX_DIGITS) throw new HttpAnswerError("chunk size too large");
  return Number.parseInt(digits, 16);
}
