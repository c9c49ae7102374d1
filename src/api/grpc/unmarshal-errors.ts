// The error etcd's codec gives for request bytes it cannot read, without decoding them: gogo
// protobuf's generated Unmarshal for etcd's messages (wire types checked per field, unknown fields
// skipped), golang/protobuf's table-driven one for the health check. protobufjs takes much of what
// they refuse (a field of the wrong wire type, tag 0, a group), so the request is checked first.
import { type MessageShape, requestShapes } from "./request-shapes.js";

const EOF = "unexpected EOF";
const OVERFLOW = "proto: integer overflow";
const NEGATIVE = "proto: negative length found during unmarshaling";
const TWO_63 = 1n << 63n;

/** A varint read: the index after it, or a failure (at, the end, or past ten bytes). */
const PAST_END = -1;
const TOO_LONG = -2;
/** The last varint's value: exact as a number up to 7 bytes, else as a 64-bit BigInt in `big`. */
let value = 0;
let big: bigint | undefined;

/** Reads a varint as gogo's loops do: ten bytes at most (bits past 64 dropped), bounded by `end`. */
function varint(buf: Uint8Array, at: number, end: number): number {
  big = undefined;
  if (at < end && buf[at] < 0x80) {
    value = buf[at];
    return at + 1;
  }
  let i = at;
  let n = 0;
  let scale = 1;
  for (let shift = 0; ; shift += 7) {
    if (shift >= 64) return TOO_LONG;
    if (i >= end) return PAST_END;
    const b = buf[i++];
    if (shift < 49) n += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) break;
  }
  if (i - at <= 7) {
    value = n;
    return i;
  }
  let v = 0n;
  for (let k = i - 1; k >= at; k--) v = (v << 7n) | BigInt(buf[k] & 0x7f);
  big = BigInt.asUintN(64, v);
  value = Number(big);
  return i;
}

/** The last varint as Go's int: negative when its bit 63 is set. */
function lastAsInt(): bigint | number {
  return big === undefined ? value : BigInt.asIntN(64, big);
}

/** A varint's failure as gogo words it. */
function varintError(at: number): string {
  return at === TOO_LONG ? OVERFLOW : EOF;
}

/**
 * Reads a length-delimited field's length at `at`: the index where its bytes end, or gogo's error
 * (the index after the length is `lengthEnd`).
 */
let lengthEnd = 0;
function delimited(buf: Uint8Array, at: number, end: number): number | string {
  const i = varint(buf, at, end);
  if (i < 0) return varintError(i);
  lengthEnd = i;
  const length = lastAsInt();
  if (length < 0) return NEGATIVE;
  const post = i + Number(length);
  return post > end ? EOF : post;
}

/** gogo's skipRpc of the field whose tag is at `at`: the index after it, or its error. */
function skip(buf: Uint8Array, at: number, end: number): number | string {
  let i = varint(buf, at, end);
  if (i < 0) return varintError(i);
  const wireType = value % 8;
  switch (wireType) {
    case 0:
      i = varint(buf, i, end);
      return i < 0 ? varintError(i) : i;
    case 1:
      return i + 8;
    case 2: {
      const lengthAt = i;
      i = varint(buf, i, end);
      if (i < 0) return varintError(i);
      const length = lastAsInt();
      if (length < 0) return NEGATIVE;
      // Go's int wraps past 2^63: a skip that long reads as a negative one
      if (typeof length === "bigint" && BigInt(i - lengthAt) + length >= TWO_63) return NEGATIVE;
      return i + Number(length);
    }
    case 3:
      for (;;) {
        const start = i;
        i = varint(buf, i, end);
        if (i < 0) return varintError(i);
        if (value % 8 === 4) return i;
        const next = skip(buf, start, end);
        if (typeof next === "string") return next;
        i = next;
      }
    case 4:
      return i;
    case 5:
      return i + 4;
    default:
      return `proto: illegal wireType ${wireType}`;
  }
}

/** gogo's Unmarshal error for `buf[start, end)` as the message `shape`, or undefined when it reads it. */
export function gogoUnmarshalError(
  shape: MessageShape,
  buf: Uint8Array,
  start = 0,
  end = buf.length,
): string | undefined {
  let i = start;
  while (i < end) {
    const tagAt = i;
    i = varint(buf, i, end);
    if (i < 0) return varintError(i);
    const wireType = value % 8;
    const fieldNum = big === undefined ? Math.floor(value / 8) | 0 : Number(BigInt.asIntN(32, big >> 3n));
    if (wireType === 4) return `proto: ${shape.name}: wiretype end group for non-group`;
    if (fieldNum <= 0) return `proto: ${shape.name}: illegal tag ${fieldNum} (wire type ${big ?? value})`;
    const field = shape.fields.get(fieldNum);
    if (field === undefined) {
      const next = skip(buf, tagAt, end);
      if (typeof next === "string") return next;
      if (next > end) return EOF;
      i = next;
      continue;
    }
    const { kind } = field;
    if (kind === "v" || (kind === "pv" && wireType === 0)) {
      if (wireType !== 0) return wrongWireType(wireType, field.goName);
      i = varint(buf, i, end);
      if (i < 0) return varintError(i);
      continue;
    }
    if (wireType !== 2) return wrongWireType(wireType, field.goName);
    const post = delimited(buf, i, end);
    if (typeof post === "string") return post;
    if (kind === "pv") {
      // a packed run: its varints are bounded by the message's end, not the run's
      i = lengthEnd;
      while (i < post) {
        i = varint(buf, i, end);
        if (i < 0) return varintError(i);
      }
      continue;
    }
    if (kind !== "b") {
      const inner = gogoUnmarshalError(kind, buf, lengthEnd, post);
      if (inner !== undefined) return inner;
    }
    i = post;
  }
  return undefined;
}

function wrongWireType(wireType: number, goName: string): string {
  return `proto: wrong wireType = ${wireType} for field ${goName}`;
}

/** golang/protobuf's decodeVarint: ten bytes at most, the tenth 0 or 1; the index after it, or -1. */
function goVarint(buf: Uint8Array, at: number, end: number): number {
  let n = 0;
  let scale = 1;
  for (let i = at; i < end && i - at < 10; i++) {
    const b = buf[i];
    if (i - at === 9 && b > 1) return -1;
    n += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) {
      value = n;
      return i + 1;
    }
  }
  return -1;
}

const HEALTH_TYPE = "grpc_health_v1.HealthCheckRequest";

/**
 * golang/protobuf's error for a HealthCheckRequest (one string, `service`): a field of another wire
 * type is skipped as unknown, and invalid UTF-8 is told once the rest is read.
 */
export function healthUnmarshalError(buf: Uint8Array, start = 0, end = buf.length): string | undefined {
  let later: string | undefined;
  let i = start;
  while (i < end) {
    i = goVarint(buf, i, end);
    if (i < 0) return EOF;
    const wire = value % 8;
    const tag = Math.floor(value / 8);
    if (tag === 0) return `proto: ${HEALTH_TYPE}: illegal tag 0 (wire type ${wire})`;
    if (tag === 1 && wire === 2) {
      const at = goVarint(buf, i, end);
      if (at < 0 || value > end - at) return EOF;
      i = at + value;
      if (later === undefined && !isUtf8(buf.subarray(at, i)))
        later = 'proto: field "grpc.health.v1.HealthCheckRequest.service" contains invalid UTF-8';
      continue;
    }
    const next = goSkip(buf, i, end, wire);
    if (typeof next === "string") return next;
    i = next;
  }
  return later;
}

/** golang/protobuf's skipField of a field of wire type `wire` whose value starts at `at`. */
function goSkip(buf: Uint8Array, at: number, end: number, wire: number): number | string {
  switch (wire) {
    case 0: {
      const i = goVarint(buf, at, end);
      return i < 0 ? EOF : i;
    }
    case 1:
      return end - at < 8 ? EOF : at + 8;
    case 5:
      return end - at < 4 ? EOF : at + 4;
    case 2: {
      const i = goVarint(buf, at, end);
      return i < 0 || end - i < value ? EOF : i + value;
    }
    case 3: {
      // the matching end group, nested groups counted
      let depth = 1;
      let i = at;
      while (depth > 0) {
        i = goVarint(buf, i, end);
        if (i < 0) return EOF;
        const inner = value % 8;
        if (inner === 3) depth++;
        else if (inner === 4) depth--;
        else if (inner === 0 || inner === 1 || inner === 2 || inner === 5) {
          const next = goSkip(buf, i, end, inner);
          if (typeof next === "string") return next;
          i = next;
        }
      }
      return i;
    }
    default:
      return `proto: can't skip unknown wire type ${wire}`;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A request its codec refuses; the message is the codec's error text. */
export class ProtoUnmarshalError extends Error {
  override readonly name = "ProtoUnmarshalError";
}

const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";

/** The codec's error for a request message of the method at `path`, or undefined when it reads it. */
export function requestUnmarshalError(path: string, bytes: Uint8Array): string | undefined {
  if (path === HEALTH_CHECK_PATH) return healthUnmarshalError(bytes);
  const shape = requestShapes.get(path);
  return shape === undefined ? undefined : gogoUnmarshalError(shape, bytes);
}

/** `decode`, after the check of etcd's codec: what it refuses throws a ProtoUnmarshalError. */
export function checkedDecoder<T>(path: string, decode: (bytes: Buffer) => T): (bytes: Buffer) => T {
  const shape = requestShapes.get(path);
  if (shape === undefined) return decode;
  return (bytes) => {
    const refused = gogoUnmarshalError(shape, bytes);
    if (refused !== undefined) throw new ProtoUnmarshalError(refused);
    return decode(bytes);
  };
}

/** grpc-go's text for a streaming call's message its codec refuses (code 13). */
export function streamUnmarshalText(error: string): string {
  return `grpc: failed to unmarshal the received message ${error}`;
}

/** grpc-go's text for a unary call's request its codec refuses (code 13). */
export function unaryUnmarshalText(error: string): string {
  return `grpc: error unmarshalling request: ${error}`;
}
