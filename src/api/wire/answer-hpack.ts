// One connection's HPACK encoding of its answers' header blocks (RFC 7541), as grpc-go's server does
// for the fields every answer repeats: `content-type: application/grpc`, `grpc-status: 0` and
// `grpc-message:` go into the client's dynamic table the first time and are one-byte references
// after, so a client decodes a put's answer from a few bytes instead of three literal strings.
// Anything else (error texts, forwarded answers' other fields) is a literal without indexing. Only
// these three entries (148 bytes of table) are ever inserted, so none is evicted while the client's
// table holds them; a client whose SETTINGS_HEADER_TABLE_SIZE cannot gets no indexing at all.
import { encodeInt, type HeaderField } from "../grpc/hpack.js";
import { type AnswerBlock, answerHeadersBlock, okTrailersBlock } from "./answer-blocks.js";

/** The protocol's table size, which holds until the client's SETTINGS change it. */
const DEFAULT_TABLE_SIZE = 4096;
/** The static table's `:status: 200` (8), and its `content-type` name (31). */
const STATUS_200 = 8;
const CONTENT_TYPE_NAME = 31;
/** The static table's length: the newest dynamic entry is the next index. */
const STATIC_ENTRIES = 61;

/** The fields indexed the first time they go out on a connection. */
const INDEXED: readonly HeaderField[] = [
  ["content-type", "application/grpc"],
  ["grpc-status", "0"],
  ["grpc-message", ""],
];
/** What they take of the client's table together (RFC 7541 §4.1). */
const INDEXED_SIZE = INDEXED.reduce((n, [name, value]) => n + name.length + value.length + 32, 0);

function indexedId(name: string, value: string): number {
  for (let i = 0; i < INDEXED.length; i++) if (INDEXED[i][0] === name && INDEXED[i][1] === value) return i;
  return -1;
}

function pushString(out: number[], s: string): void {
  const bytes = Buffer.from(s, "latin1");
  encodeInt(out, bytes.length, 7, 0x00);
  for (const b of bytes) out.push(b);
}

export class AnswerHpack {
  /** The table size the client's decoder holds us to. */
  private tableSize = DEFAULT_TABLE_SIZE;
  /** A size update the next block must start with (the client's setting went below our size). */
  private sizeUpdate: number | undefined = undefined;
  /** INDEXED's entries in the client's table, oldest first. */
  private readonly inserted: number[] = [];
  /** The two blocks of an answer that succeeded, once all three entries are in the table. */
  private okHeaders: Buffer | undefined = undefined;
  private okTrailers: Buffer | undefined = undefined;

  /** The client's SETTINGS_HEADER_TABLE_SIZE (acknowledged before our next header block). */
  setTableLimit(limit: number): void {
    if (limit >= this.tableSize) return;
    // what we inserted stays (it fits) unless the limit cannot hold it: then no indexing at all
    this.tableSize = limit >= INDEXED_SIZE ? limit : 0;
    this.sizeUpdate = this.tableSize;
    if (this.tableSize === 0) this.inserted.length = 0;
    this.okHeaders = undefined;
    this.okTrailers = undefined;
  }

  /** A block's bytes, in the order blocks go out on the connection. */
  encode(block: AnswerBlock): Buffer {
    if (block === answerHeadersBlock && this.okHeaders !== undefined) return this.okHeaders;
    if (block === okTrailersBlock && this.okTrailers !== undefined) return this.okTrailers;
    const out: number[] = [];
    // the bytes hold for every later answer once they only refer to the table
    const steady = this.inserted.length === INDEXED.length && this.sizeUpdate === undefined;
    if (this.sizeUpdate !== undefined) {
      encodeInt(out, this.sizeUpdate, 5, 0x20);
      this.sizeUpdate = undefined;
    }
    for (const [name, value] of block) this.field(out, name, value);
    const bytes = Buffer.from(out);
    if (steady) {
      if (block === answerHeadersBlock) this.okHeaders = bytes;
      else if (block === okTrailersBlock) this.okTrailers = bytes;
    }
    return bytes;
  }

  private field(out: number[], name: string, value: string): void {
    if (name === ":status" && value === "200") {
      out.push(0x80 | STATUS_200);
      return;
    }
    const id = this.tableSize > 0 ? indexedId(name, value) : -1;
    if (id >= 0) {
      const at = this.inserted.indexOf(id);
      if (at >= 0) {
        encodeInt(out, STATIC_ENTRIES + this.inserted.length - at, 7, 0x80);
        return;
      }
      this.inserted.push(id);
      // a literal with incremental indexing
      if (name === "content-type") out.push(0x40 | CONTENT_TYPE_NAME);
      else {
        out.push(0x40);
        pushString(out, name);
      }
      pushString(out, value);
      return;
    }
    // a literal without indexing
    if (name === "content-type") out.push(0x0f, CONTENT_TYPE_NAME - 15);
    else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
}
