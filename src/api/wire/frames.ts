// The HTTP/2 framing facts (RFC 9113 §4, §6, §7) the client port's own connection reads and writes,
// and the writers of the few frames it builds itself.

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export const FRAME_HEADER_BYTES = 9;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** The protocol's defaults, which hold until a SETTINGS frame changes them. */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_FRAME_LIMIT = (1 << 24) - 1;
export const MAX_WINDOW = 2 ** 31 - 1;

/** Writes a frame's 9-byte header at `at`. */
export function writeFrameHeader(
  buf: Buffer,
  at: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  buf[at] = length >>> 16;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = length & 0xff;
  buf[at + 3] = type;
  buf[at + 4] = flags;
  buf.writeUInt32BE(streamId, at + 5);
}

/** A whole frame with its payload copied in. */
export function frame(type: number, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(buf, 0, length, type, flags, streamId);
  if (payload !== undefined) buf.set(payload, FRAME_HEADER_BYTES);
  return buf;
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.RST_STREAM, 0, streamId);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES);
  return buf;
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  buf.writeUInt32BE(increment, FRAME_HEADER_BYTES);
  return buf;
}

export function goawayFrame(lastStreamId: number, code: number, debug?: string): Buffer {
  const text = debug === undefined ? undefined : Buffer.from(debug);
  const length = 8 + (text?.length ?? 0);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
  writeFrameHeader(buf, 0, length, FrameType.GOAWAY, 0, 0);
  buf.writeUInt32BE(lastStreamId, FRAME_HEADER_BYTES);
  buf.writeUInt32BE(code, FRAME_HEADER_BYTES + 4);
  text?.copy(buf, FRAME_HEADER_BYTES + 8);
  return buf;
}

/** A SETTINGS frame of [identifier, value] pairs. */
export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 6 * settings.length);
  writeFrameHeader(buf, 0, 6 * settings.length, FrameType.SETTINGS, 0, 0);
  settings.forEach(([id, value], i) => {
    buf.writeUInt16BE(id, FRAME_HEADER_BYTES + 6 * i);
    buf.writeUInt32BE(value, FRAME_HEADER_BYTES + 6 * i + 2);
  });
  return buf;
}

export const settingsAckFrame = frame(FrameType.SETTINGS, Flags.ACK, 0);

/**
 * A header block as HEADERS and, past `maxFrame` bytes, CONTINUATION frames, in one buffer.
 * `flags` are the HEADERS frame's (END_STREAM); END_HEADERS goes on the last frame.
 */
export function headerFrames(streamId: number, block: Buffer, flags: number, maxFrame: number): Buffer {
  if (block.length <= maxFrame) {
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
    writeFrameHeader(buf, 0, block.length, FrameType.HEADERS, flags | Flags.END_HEADERS, streamId);
    block.copy(buf, FRAME_HEADER_BYTES);
    return buf;
  }
  const count = Math.ceil(block.length / maxFrame);
  const buf = Buffer.allocUnsafe(count * FRAME_HEADER_BYTES + block.length);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const piece = block.subarray(i * maxFrame, (i + 1) * maxFrame);
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const pieceFlags = (i === 0 ? flags : 0) | (i === count - 1 ? Flags.END_HEADERS : 0);
    writeFrameHeader(buf, at, piece.length, type, pieceFlags, streamId);
    piece.copy(buf, at + FRAME_HEADER_BYTES);
    at += FRAME_HEADER_BYTES + piece.length;
  }
  return buf;
}
