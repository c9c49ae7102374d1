// Just enough HPACK (RFC 7541) to read a client's header blocks and write them back as plain
// literals. The client port needs it to repair one header Node's HTTP/2 refuses (see
// authority-repair.ts); everything else of HTTP/2 stays with Node.

export type HeaderField = [name: string, value: string];

// Static table (RFC 7541 Appendix A); names stored as "name" or "name|value".
const staticTable: HeaderField[] = [
  ":authority",
  ":method|GET",
  ":method|POST",
  ":path|/",
  ":path|/index.html",
  ":scheme|http",
  ":scheme|https",
  ":status|200",
  ":status|204",
  ":status|206",
  ":status|304",
  ":status|400",
  ":status|404",
  ":status|500",
  "accept-charset",
  "accept-encoding|gzip, deflate",
  "accept-language",
  "accept-ranges",
  "accept",
  "access-control-allow-origin",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-range",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "link",
  "location",
  "max-forwards",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "refresh",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "transfer-encoding",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
].map((e) => {
  const [name, value = ""] = e.split("|");
  return [name, value];
});

// Code lengths of the HPACK Huffman code for symbols 0..255 (RFC 7541 Appendix B). The code is
// canonical, so the codes themselves follow from the lengths; EOS (symbol 256) is 30 bits long.
const huffmanLengths = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/** Canonical decoding tables: per length, the first code, and the symbols in code order. */
const huffman = (() => {
  const symbols = huffmanLengths
    .map((len, sym) => ({ len, sym }))
    .sort((a, b) => a.len - b.len || a.sym - b.sym);
  const firstCode: number[] = [];
  const firstIndex: number[] = [];
  const count: number[] = [];
  let code = 0;
  let prevLen = 0;
  symbols.forEach(({ len }, i) => {
    if (len !== prevLen) {
      code <<= len - prevLen;
      prevLen = len;
      firstCode[len] = code;
      firstIndex[len] = i;
      count[len] = 0;
    }
    count[len]++;
    code++;
  });
  return { order: symbols.map((s) => s.sym), firstCode, firstIndex, count };
})();

export class HpackError extends Error {}

const EMPTY = Buffer.alloc(0);

/**
 * Where Huffman-coded strings are decoded, kept between calls: a header value is read out of it as a
 * string, so no buffer is made per string. Grows for a longer string (a decoded string is at most 8/5
 * as long as its code).
 */
let huffmanOut = Buffer.allocUnsafe(256);

/** Decodes `block[start, end)`, Huffman-coded (RFC 7541 Appendix B), as a latin1 string. */
function huffmanDecode(block: Buffer, start: number, end: number): string {
  const most = Math.ceil(((end - start) * 8) / 5);
  if (most > huffmanOut.length) huffmanOut = Buffer.allocUnsafe(Math.max(most, huffmanOut.length * 2));
  const out = huffmanOut;
  let n = 0;
  let code = 0;
  let len = 0;
  for (let at = start; at < end; at++) {
    const byte = block[at];
    for (let bit = 7; bit >= 0; bit--) {
      code = (code << 1) | ((byte >> bit) & 1);
      len++;
      const first = huffman.firstCode[len];
      if (first !== undefined && code - first < huffman.count[len] && code >= first) {
        const sym = huffman.order[huffman.firstIndex[len] + code - first];
        if (sym === 256) throw new HpackError("EOS in Huffman string");
        out[n++] = sym;
        code = 0;
        len = 0;
      } else if (len > 30) {
        throw new HpackError("bad Huffman code");
      }
    }
  }
  // Padding must be at most 7 one-bits.
  if (len > 7 || code !== (1 << len) - 1) throw new HpackError("bad Huffman padding");
  return out.toString("latin1", 0, n);
}

/** Decodes header blocks of one direction of a connection (keeps its dynamic table). */
export class HpackDecoder {
  private dynamic: HeaderField[] = [];
  private size = 0;
  /** The block being decoded, and where in it. Fields, not closures: decode runs once per request. */
  private block: Buffer = Buffer.alloc(0);
  private pos = 0;
  /**
   * @param maxSize the table's size to start with
   * @param allowedSize the most a size update may ask for (the receiver's SETTINGS_HEADER_TABLE_SIZE)
   */
  constructor(
    private maxSize = 4096,
    private readonly allowedSize = Number.POSITIVE_INFINITY,
  ) {}

  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    this.block = block;
    this.pos = 0;
    try {
      while (this.pos < block.length) {
        const b = block[this.pos];
        if (b & 0x80) {
          fields.push(this.entry(this.int(7)));
        } else if (b & 0x40) {
          const index = this.int(6);
          const name = index === 0 ? this.str() : this.entry(index)[0];
          const field: HeaderField = [name, this.str()];
          fields.push(field);
          this.add(field);
        } else if (b & 0x20) {
          const size = this.int(5);
          if (size > this.allowedSize) throw new HpackError(`table size ${size} over ${this.allowedSize}`);
          this.maxSize = size;
          this.evict();
        } else {
          const index = this.int(4);
          const name = index === 0 ? this.str() : this.entry(index)[0];
          fields.push([name, this.str()]);
        }
      }
    } finally {
      // the block is the connection's read buffer: not kept past its decode
      this.block = EMPTY;
    }
    return fields;
  }

  /** An integer with a `prefixBits`-bit prefix at the current position (RFC 7541 §5.1). */
  private int(prefixBits: number): number {
    const block = this.block;
    const mask = (1 << prefixBits) - 1;
    let value = block[this.pos++] & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= block.length) throw new HpackError("truncated integer");
      const b = block[this.pos++];
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return value;
      if (shift > 28) throw new HpackError("integer too large");
    }
  }

  /** A string literal at the current position (RFC 7541 §5.2), as latin1 text. */
  private str(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new HpackError("truncated string");
    const huff = (block[this.pos] & 0x80) !== 0;
    const len = this.int(7);
    const start = this.pos;
    if (start + len > block.length) throw new HpackError("truncated string");
    this.pos += len;
    return huff ? huffmanDecode(block, start, start + len) : block.toString("latin1", start, start + len);
  }

  private entry(index: number): HeaderField {
    if (index >= 1 && index <= staticTable.length) return staticTable[index - 1];
    const e = this.dynamic[index - staticTable.length - 1];
    if (!e) throw new HpackError(`bad header index ${index}`);
    return e;
  }

  private add(field: HeaderField): void {
    this.dynamic.unshift(field);
    this.size += field[0].length + field[1].length + 32;
    this.evict();
  }

  private evict(): void {
    while (this.size > this.maxSize && this.dynamic.length > 0) {
      const last = this.dynamic.pop() as HeaderField;
      this.size -= last[0].length + last[1].length + 32;
    }
  }
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `firstByte` holds the bits above it. */
export function encodeInt(out: number[], value: number, prefixBits: number, firstByte: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByte | value);
    return;
  }
  out.push(firstByte | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/** A header block of literals without indexing: it leaves the receiver's dynamic table untouched. */
export function encodeLiterals(fields: HeaderField[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    out.push(0x00);
    for (const s of [name, value]) {
      const bytes = Buffer.from(s, "latin1");
      encodeInt(out, bytes.length, 7, 0x00);
      for (const x of bytes) out.push(x);
    }
  }
  return Buffer.from(out);
}
