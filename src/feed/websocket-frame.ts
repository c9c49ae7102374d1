// WebSocket frames built once and written as they are to many connections (RFC 6455, section 5.2: a server's
// frames are unmasked). engine.io writes such frames when a packet carries them as `wsPreEncodedFrame`, as
// socket.io's own room broadcasts do; on other transports (long polling) it writes the packet's data instead.

const FIN = 0x80;
const TEXT = 0x1;
const BINARY = 0x2;

/** The header of one unfragmented, unmasked frame of `length` payload bytes. */
function frameHeader(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([FIN | opcode, length]);
  if (length < 0x10000) {
    const header = Buffer.allocUnsafe(4);
    header[0] = FIN | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
    return header;
  }
  const header = Buffer.allocUnsafe(10);
  header[0] = FIN | opcode;
  header[1] = 127;
  header.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
  header.writeUInt32BE(length >>> 0, 6);
  return header;
}

/** One text message: its header and its payload, as two buffers for one vectored write. */
export function textFrame(payload: Buffer): Buffer[] {
  return [frameHeader(TEXT, payload.length), payload];
}

/**
 * A text message followed by a binary one (socket.io's binary event: the packet, then its attachment), as two
 * buffers for one vectored write: the text frame and the binary frame's header, then the binary payload.
 */
export function textThenBinaryFrames(text: Buffer, binary: Buffer): Buffer[] {
  return [Buffer.concat([frameHeader(TEXT, text.length), text, frameHeader(BINARY, binary.length)]), binary];
}
