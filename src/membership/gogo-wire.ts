// Protobuf bytes read under the rules of the gogo/protobuf decoders etcd 3.4 is built with. They are
// stricter than ts-proto's: a known field with the wrong wire type, an end-group tag outside a group
// or a truncated field is an error, and embedded messages are checked all the way down. Entry
// decoding depends on that strictness (a v2 Request must fail as an InternalRaftRequest, §7.1), so
// the check is done here before the generated decoder is trusted with the bytes.

/** How a field travels: a varint, a length-delimited string/bytes, or an embedded message of that name. */
export type FieldWire = "varint" | "bytes" | { readonly message: string };

/** Message name -> field number -> wire form; fields not listed are skipped as unknown. */
export type WireSchema = Readonly<Record<string, Readonly<Record<number, FieldWire>>>>;

export class WireError extends Error {}

/** The field number of a tag from WireCursor.tagNumber. */
export function fieldOf(tag: number): number {
  return Math.floor(tag / 8);
}

/** The wire type of a tag from WireCursor.tagNumber. */
export function wireTypeOf(tag: number): number {
  return tag % 8;
}

/**
 * A cursor over protobuf bytes with Go's varint limits (at most 10 bytes, higher bits dropped). It
 * reads up to `end`, which an embedded message's check narrows to that message (instead of a cursor
 * over a subarray of its own: every put's entry is checked as it is applied).
 */
export class WireCursor {
  pos = 0;
  end: number;
  constructor(readonly bytes: Uint8Array) {
    this.end = bytes.length;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (shift >= 64n) throw new WireError("integer overflow");
      if (this.pos >= this.end) throw new WireError("unexpected EOF");
      const b = this.bytes[this.pos++];
      value |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, value);
    }
  }

  /** A varint that fits in 28 bits read as a number (tags, lengths); longer ones take the bigint path. */
  private smallVarint(): number {
    const b = this.bytes;
    let value = 0;
    for (let i = 0; i < 4; i++) {
      if (this.pos + i >= this.end) break;
      const x = b[this.pos + i];
      value |= (x & 0x7f) << (7 * i);
      if (x < 0x80) {
        this.pos += i + 1;
        return value;
      }
    }
    return Number(BigInt.asIntN(64, this.varint()));
  }

  /** Steps over a varint without computing it (same limits as varint()). */
  skipVarint(): void {
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError("unexpected EOF");
      if (this.bytes[this.pos++] < 0x80) return;
    }
    throw new WireError("integer overflow");
  }

  /** A length prefix and the bytes it covers. */
  delimited(): Uint8Array {
    const end = this.delimitedEnd();
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Reads a length prefix and returns where the bytes it covers end; the cursor stays at their start. */
  delimitedEnd(): number {
    const length = this.smallVarint();
    if (length < 0) throw new WireError("negative length");
    const end = this.pos + length;
    if (end > this.end) throw new WireError("unexpected EOF");
    return end;
  }

  /** A field tag: field number and wire type, refusing what every gogo decoder refuses. */
  tag(message: string): { field: number; wireType: number } {
    const tag = this.tagNumber(message);
    return { field: fieldOf(tag), wireType: wireTypeOf(tag) };
  }

  /** tag() as one number, field * 8 + wire type, without an object (a field number may exceed 2^28). */
  tagNumber(message: string): number {
    const start = this.pos;
    const small = this.smallVarint();
    let wireType: number;
    let field: number;
    if (this.pos - start < 4) {
      wireType = small & 7;
      field = small >>> 3;
    } else {
      this.pos = start;
      const wire = this.varint();
      wireType = Number(wire & 7n);
      field = Number(BigInt.asIntN(32, wire >> 3n));
    }
    if (wireType === 4) throw new WireError(`${message}: wiretype end group for non-group`);
    if (field <= 0) throw new WireError(`${message}: illegal tag ${field} (wire type ${wireType})`);
    return field * 8 + wireType;
  }

  /** Skips one unknown field whose tag was just read (gogo's generated skip function). */
  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.skipVarint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.pos = this.delimitedEnd();
        return;
      case 3:
        for (;;) {
          const inner = Number(this.varint() & 7n);
          if (inner === 4) return;
          this.skip(inner);
        }
      case 5:
        this.advance(4);
        return;
      default:
        throw new WireError(`illegal wireType ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError("unexpected EOF");
    this.pos += n;
  }
}

const WIRE_TYPE: Record<"varint" | "bytes", number> = { varint: 0, bytes: 2 };

/** Throws a WireError when gogo's Unmarshal of `message` would fail on these bytes. */
export function checkGogoMessage(bytes: Uint8Array, message: string, schema: WireSchema): void {
  checkFields(new WireCursor(bytes), message, schema);
}

/** The check of one message, from the cursor's position to its end (embedded ones narrow the end). */
function checkFields(cur: WireCursor, message: string, schema: WireSchema): void {
  const fields = schema[message];
  if (!fields) throw new Error(`no wire schema for ${message}`);
  while (!cur.done) {
    const tag = cur.tagNumber(message);
    const field = fieldOf(tag);
    const wireType = wireTypeOf(tag);
    const wire = fields[field];
    if (wire === undefined) {
      cur.skip(wireType);
      continue;
    }
    const expected = typeof wire === "string" ? WIRE_TYPE[wire] : 2;
    if (wireType !== expected)
      throw new WireError(`${message}: wrong wireType = ${wireType} for field ${field}`);
    if (typeof wire === "string") {
      cur.skip(wireType);
      continue;
    }
    const end = cur.delimitedEnd();
    const outer = cur.end;
    cur.end = end;
    checkFields(cur, wire.message, schema);
    cur.end = outer;
  }
}
