// Gateway JSON <-> protobuf wire bytes, driven by the .proto descriptors (no per-message code).
// Output follows grpc-gateway v1 with OrigName as etcd 3.4 serves it: proto field names, int64/uint64
// as strings, bytes as base64, enums by name, default values left out. Input accepts proto and JSON
// names, numbers or strings for integers, bytes as base64 or arrays of numbers, enum names or numbers, and fails with the texts of Go's
// jsonpb (golang/protobuf 1.3 style) that etcd's gateway returns.
import {
  createFileRegistry,
  type DescEnum,
  type DescMessage,
  fromBinary,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import { BinaryWriter, configureTextEncoding, getTextEncoding, WireType } from "@bufbuild/protobuf/wire";
import { FeatureSet_FieldPresence, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { decodeRawString, goJsonBytes } from "../../rpctypes/raw-string.js";
import { fileDescriptorSetBase64 } from "./descriptors.gen.js";
import {
  escapedSource,
  goJsonKind,
  JsonNumber,
  type JsonObject,
  JsonSyntaxError,
  type JsonValue,
  JsonValueReader,
  quoteChar,
} from "./go-json.js";

/** Every message, enum and service of proto/, by full name. */
export const protoRegistry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSetBase64, "base64")),
);

/** The message descriptor for a full name such as "etcdserverpb.RangeRequest". */
export function messageDesc(typeName: string): DescMessage {
  const desc = protoRegistry.getMessage(typeName);
  if (!desc) throw new Error(`no descriptor for message ${typeName}`);
  return desc;
}

/** A request body that cannot become the request message; `message` is what the client sees. */
export class JsonDecodeError extends Error {}

/**
 * Wire bytes of one message -> the gateway's JSON text for it. A string field's bytes that are not
 * UTF-8 come out as Go's encoding/json writes them: `\ufffd` for each such byte (a U+FFFD the bytes
 * hold as UTF-8 stays the character itself).
 */
export function wireToJson(desc: DescMessage, bytes: Uint8Array): string {
  const message = withRawStrings(() => fromBinary(desc, bytes));
  return goJsonBytes(JSON.stringify(toJson(desc, message, { useProtoFieldName: true })));
}

/** Runs `decode` with the wire reader's strings decoded as decodeRawString decodes them. */
function withRawStrings<T>(decode: () => T): T {
  const usual = getTextEncoding();
  configureTextEncoding({ ...usual, decodeUtf8: (bytes) => decodeRawString(bytes) });
  try {
    return decode();
  } finally {
    configureTextEncoding(usual);
  }
}

/** One decoded JSON value (an object, or null for an empty message) -> wire bytes of `desc`. */
export function jsonToWire(desc: DescMessage, value: JsonValue): Uint8Array {
  const writer = new BinaryWriter();
  if (value !== null) writeMessage(writer, desc, expectObject(value));
  return writer.finish();
}

/** Parses the first JSON value of a body (Go's Decoder.Decode; an empty body is an empty message). */
export function parseBody(desc: DescMessage, body: string): Uint8Array {
  let value: JsonValue | undefined;
  try {
    value = new JsonValueReader(body).next();
  } catch (err) {
    throw new JsonDecodeError(err instanceof Error ? err.message : String(err));
  }
  return jsonToWire(desc, value ?? null);
}

function expectObject(value: JsonValue): JsonObject {
  if (value instanceof Map) return value;
  throw new JsonDecodeError(
    `json: cannot unmarshal ${goJsonKind(value)} into Go value of type map[string]json.RawMessage`,
  );
}

function writeMessage(writer: BinaryWriter, desc: DescMessage, obj: JsonObject): void {
  for (const field of desc.fields) {
    // jsonpb takes either name and, given both, the JSON (camel-case) one
    const name = obj.has(field.jsonName) ? field.jsonName : field.name;
    const value = obj.get(name);
    if (value === undefined || value === null) continue;
    // Go's marshaller leaves out a proto3 field without presence that holds its default value ("value": "",
    // "limit": 0); a oneof member is written even then. The size etcd reports for an oversized request counts
    // what Go wrote, so the wire bytes here must be the same.
    const implicit = field.presence === FeatureSet_FieldPresence.IMPLICIT;
    switch (field.fieldKind) {
      case "scalar":
        writeScalar(writer, field.number, field.scalar, value, implicit, escapedSource(obj, name));
        break;
      case "enum": {
        const n = enumNumber(field.enum, value, escapedSource(obj, name));
        if (!(implicit && n === 0)) writer.tag(field.number, WireType.Varint).int32(n);
        break;
      }
      case "message":
        writer.tag(field.number, WireType.LengthDelimited).fork();
        writeMessage(writer, field.message, expectObject(value));
        writer.join();
        break;
      case "list": {
        if (field.listKind === "enum" && typeof value === "string") {
          // jsonpb reads a quoted name as one enum value before it looks at the field being repeated
          enumNumber(field.enum, value, escapedSource(obj, name));
          throw new JsonDecodeError(`invalid target "slice" for enum ${goEnumName(field.enum)}`);
        }
        if (!Array.isArray(value)) {
          throw new JsonDecodeError(
            `json: cannot unmarshal ${goJsonKind(value)} into Go value of type []json.RawMessage`,
          );
        }
        if (field.listKind === "enum" && field.packed) {
          // proto3 packs repeated enums (a watch's filters): one length-delimited run, none when empty
          const numbers = value.map((item, i) =>
            item === null ? 0 : enumNumber(field.enum, item, escapedSource(value, i)),
          );
          if (numbers.length > 0) {
            writer.tag(field.number, WireType.LengthDelimited).fork();
            for (const n of numbers) writer.int32(n);
            writer.join();
          }
          break;
        }
        for (const [i, item] of value.entries()) {
          // encoding/json leaves a null element at its zero value; a repeated field writes it all the same
          if (field.listKind === "scalar")
            writeScalar(
              writer,
              field.number,
              field.scalar,
              item ?? zeroScalar(field.scalar),
              false,
              escapedSource(value, i),
            );
          else if (field.listKind === "enum")
            writer
              .tag(field.number, WireType.Varint)
              .int32(item === null ? 0 : enumNumber(field.enum, item, escapedSource(value, i)));
          else {
            writer.tag(field.number, WireType.LengthDelimited).fork();
            if (item !== null) writeMessage(writer, field.message, expectObject(item));
            writer.join();
          }
        }
        break;
      }
      case "map":
        throw new JsonDecodeError(`map field ${field.name} is not supported by the gateway`);
    }
  }
}

/** The JSON for a scalar's zero value, what a null element of a repeated scalar field holds. */
function zeroScalar(type: ScalarType): JsonValue {
  if (type === ScalarType.BOOL) return false;
  if (type === ScalarType.STRING || type === ScalarType.BYTES) return "";
  return new JsonNumber("0");
}

/** Go's name for an enum type: package + nested names joined by "_". */
function goEnumName(e: DescEnum): string {
  const pkg = e.file.proto.package;
  const local = pkg ? e.typeName.slice(pkg.length + 1) : e.typeName;
  return `${pkg}.${local.replaceAll(".", "_")}`;
}

/** Go's %q of a string that came from JSON source text (no control characters in it). */
function goQuote(text: string): string {
  return `"${text.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

/** `raw`: the string's source text when it held escapes, which jsonpb compares without unescaping. */
function enumNumber(e: DescEnum, value: JsonValue, raw?: string): number {
  if (typeof value === "string") {
    const name = raw ?? value;
    const v = e.values.find((x) => x.name === name);
    if (!v) throw new JsonDecodeError(`unknown value ${goQuote(name)} for enum ${goEnumName(e)}`);
    return v.number;
  }
  return Number(integerText(value, goEnumName(e), -(2 ** 31), 2 ** 31 - 1));
}

const goIntTypes: Partial<Record<ScalarType, [string, bigint, bigint]>> = {
  [ScalarType.INT64]: ["int64", -(2n ** 63n), 2n ** 63n - 1n],
  [ScalarType.SINT64]: ["int64", -(2n ** 63n), 2n ** 63n - 1n],
  [ScalarType.SFIXED64]: ["int64", -(2n ** 63n), 2n ** 63n - 1n],
  [ScalarType.UINT64]: ["uint64", 0n, 2n ** 64n - 1n],
  [ScalarType.FIXED64]: ["uint64", 0n, 2n ** 64n - 1n],
  [ScalarType.INT32]: ["int32", -(2n ** 31n), 2n ** 31n - 1n],
  [ScalarType.SINT32]: ["int32", -(2n ** 31n), 2n ** 31n - 1n],
  [ScalarType.SFIXED32]: ["int32", -(2n ** 31n), 2n ** 31n - 1n],
  [ScalarType.UINT32]: ["uint32", 0n, 2n ** 32n - 1n],
  [ScalarType.FIXED32]: ["uint32", 0n, 2n ** 32n - 1n],
};

/**
 * The integer a JSON value stands for. jsonpb takes the text inside quotes as a JSON number, so a
 * quoted non-number fails with a JSON syntax error, and a fraction or an out-of-range value fails
 * with encoding/json's "cannot unmarshal number". `raw`: a string's source text when it held escapes,
 * which is what jsonpb parses (so "\u0035" is a syntax error there, not 5).
 */
function integerText(
  value: JsonValue,
  goType: string,
  min: number | bigint,
  max: number | bigint,
  raw?: string,
): bigint {
  let num: JsonNumber;
  if (typeof value === "string") {
    const text = raw ?? value;
    const reader = new JsonValueReader(text);
    let inner: JsonValue | undefined;
    try {
      inner = reader.next();
      if (inner === undefined) throw new JsonDecodeError("unexpected end of JSON input");
      const rest = text.slice(reader.offset).trimStart();
      if (rest.length > 0)
        throw new JsonSyntaxError(`invalid character ${quoteChar(rest[0])} after top-level value`);
    } catch (err) {
      if (err instanceof JsonDecodeError) throw err;
      throw new JsonDecodeError(err instanceof JsonSyntaxError ? err.message : goEndOfInput(text));
    }
    if (!(inner instanceof JsonNumber)) {
      throw new JsonDecodeError(
        `json: cannot unmarshal ${goJsonKind(inner)} into Go value of type ${goType}`,
      );
    }
    num = inner;
  } else if (value instanceof JsonNumber) {
    num = value;
  } else {
    throw new JsonDecodeError(`json: cannot unmarshal ${goJsonKind(value)} into Go value of type ${goType}`);
  }
  const bad = () =>
    new JsonDecodeError(`json: cannot unmarshal number ${num.raw} into Go value of type ${goType}`);
  if (!/^-?\d+$/.test(num.raw)) throw bad();
  const n = BigInt(num.raw);
  if (n < BigInt(min) || n > BigInt(max)) throw bad();
  return n;
}

/**
 * What json.Unmarshal says of a text that ends inside a value: it feeds its scanner one more space, so a
 * number cut short ("-", "1.") is an invalid ' ' and anything else is "unexpected end of JSON input".
 */
function goEndOfInput(text: string): string {
  try {
    new JsonValueReader(`${text} `).next();
  } catch (err) {
    if (err instanceof JsonSyntaxError) return err.message;
  }
  return "unexpected end of JSON input";
}

/** Writes one scalar; `implicit`: a field without presence, left out when it holds its default (after checks). */
function writeScalar(
  writer: BinaryWriter,
  fieldNo: number,
  type: ScalarType,
  value: JsonValue,
  implicit: boolean,
  raw?: string,
): void {
  const ints = goIntTypes[type];
  if (ints) {
    const n = integerText(value, ints[0], ints[1], ints[2], raw);
    if (implicit && BigInt(n) === 0n) return;
    const wireType =
      type === ScalarType.FIXED64 || type === ScalarType.SFIXED64
        ? WireType.Bit64
        : type === ScalarType.FIXED32 || type === ScalarType.SFIXED32
          ? WireType.Bit32
          : WireType.Varint;
    writer.tag(fieldNo, wireType);
    switch (type) {
      case ScalarType.INT64:
        writer.int64(n);
        break;
      case ScalarType.SINT64:
        writer.sint64(n);
        break;
      case ScalarType.SFIXED64:
        writer.sfixed64(n);
        break;
      case ScalarType.UINT64:
        writer.uint64(n);
        break;
      case ScalarType.FIXED64:
        writer.fixed64(n);
        break;
      case ScalarType.INT32:
        writer.int32(Number(n));
        break;
      case ScalarType.SINT32:
        writer.sint32(Number(n));
        break;
      case ScalarType.SFIXED32:
        writer.sfixed32(Number(n));
        break;
      case ScalarType.UINT32:
        writer.uint32(Number(n));
        break;
      case ScalarType.FIXED32:
        writer.fixed32(Number(n));
        break;
    }
    return;
  }
  switch (type) {
    case ScalarType.BOOL:
      if (typeof value !== "boolean") {
        throw new JsonDecodeError(`json: cannot unmarshal ${goJsonKind(value)} into Go value of type bool`);
      }
      if (!(implicit && value === false)) writer.tag(fieldNo, WireType.Varint).bool(value);
      return;
    case ScalarType.STRING:
      if (typeof value !== "string") {
        throw new JsonDecodeError(`json: cannot unmarshal ${goJsonKind(value)} into Go value of type string`);
      }
      if (!(implicit && value === "")) writer.tag(fieldNo, WireType.LengthDelimited).string(value);
      return;
    case ScalarType.BYTES: {
      let bytes: Uint8Array;
      if (typeof value === "string") bytes = decodeStdBase64(value);
      else if (Array.isArray(value)) bytes = byteArray(value);
      else {
        throw new JsonDecodeError(
          `json: cannot unmarshal ${goJsonKind(value)} into Go value of type []uint8`,
        );
      }
      if (!(implicit && bytes.length === 0)) writer.tag(fieldNo, WireType.LengthDelimited).bytes(bytes);
      return;
    }
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT: {
      const text = typeof value === "string" ? value : value instanceof JsonNumber ? value.raw : undefined;
      const n = text === undefined ? Number.NaN : Number(text);
      if (Number.isNaN(n)) {
        const goType = type === ScalarType.DOUBLE ? "float64" : "float32";
        throw new JsonDecodeError(
          `json: cannot unmarshal ${goJsonKind(value)} into Go value of type ${goType}`,
        );
      }
      if (implicit && n === 0) return;
      if (type === ScalarType.DOUBLE) writer.tag(fieldNo, WireType.Bit64).double(n);
      else writer.tag(fieldNo, WireType.Bit32).float(n);
      return;
    }
  }
}

/**
 * A bytes field written as a JSON array of numbers, which Go's encoding/json takes element by element
 * into a []byte: each a whole number 0 to 255, null leaves a zero byte, and the first element that
 * does not fit is the error (Go keeps decoding after it but reports the first).
 */
function byteArray(items: JsonValue[]): Uint8Array {
  const out = new Uint8Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item === null) continue;
    if (!(item instanceof JsonNumber)) {
      throw new JsonDecodeError(`json: cannot unmarshal ${goJsonKind(item)} into Go value of type uint8`);
    }
    if (!/^\d+$/.test(item.raw) || Number(item.raw) > 255) {
      throw new JsonDecodeError(`json: cannot unmarshal number ${item.raw} into Go value of type uint8`);
    }
    out[i] = Number(item.raw);
  }
  return out;
}

const stdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * Standard base64 with padding, as Go's encoding/json reads []byte: line breaks are skipped and
 * the error names the offset Go reports ("illegal base64 data at input byte N").
 */
export function decodeStdBase64(text: string): Buffer {
  const illegal = (at: number) => new JsonDecodeError(`illegal base64 data at input byte ${at}`);
  const out: number[] = [];
  let i = 0;
  const nextChar = (): [string, number] | undefined => {
    while (i < text.length && (text[i] === "\n" || text[i] === "\r")) i++;
    if (i >= text.length) return undefined;
    const at = i++;
    return [text[at], at];
  };
  for (;;) {
    const vals: number[] = [];
    let padAt = -1;
    for (let j = 0; j < 4; j++) {
      const next = nextChar();
      if (!next) {
        if (j === 0) return Buffer.from(out);
        // Go reports an unfinished quantum at its first byte.
        throw illegal(i - j);
      }
      const [c, at] = next;
      if (c === "=") {
        if (j < 2) throw illegal(at);
        padAt = j;
        if (j === 2) {
          const second = nextChar();
          if (!second) throw illegal(text.length);
          if (second[0] !== "=") throw illegal(second[1]);
        }
        const trailing = nextChar();
        if (trailing) throw illegal(trailing[1]);
        break;
      }
      const v = stdAlphabet.indexOf(c);
      if (v < 0) throw illegal(at);
      vals.push(v);
    }
    const [a, b, c = 0, d = 0] = vals;
    out.push(((a << 2) | (b >> 4)) & 0xff);
    if (vals.length > 2) out.push(((b << 4) | (c >> 2)) & 0xff);
    if (vals.length > 3) out.push(((c << 6) | d) & 0xff);
    if (padAt >= 0) return Buffer.from(out);
  }
}
