// The few HTTP/2 framing facts (RFC 9113 §4, §6) the client port's connection gate and authority
// repair read from a client's byte stream before Node's HTTP/2 sees it.

export const prefaceLength = 24;
export const frameHeaderLength = 9;
export const FrameType = {
  HEADERS: 0x1,
  PRIORITY: 0x2,
  SETTINGS: 0x4,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;
export const Flag = { ACK: 0x1, END_STREAM: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** An empty SETTINGS frame: "the defaults", a server preface that changes nothing. */
export const emptySettingsFrame = Buffer.from([0, 0, 0, FrameType.SETTINGS, 0, 0, 0, 0, 0]);

export function isSettingsAck(frame: Buffer): boolean {
  return frame[3] === FrameType.SETTINGS && (frame[4] & Flag.ACK) !== 0;
}

/** The length of the whole frame at the head of `buf`, or undefined while its header is incomplete. */
export function frameLength(buf: Buffer): number | undefined {
  return buf.length < frameHeaderLength ? undefined : frameHeaderLength + buf.readUIntBE(0, 3);
}

/** A HEADERS frame's header block fragment: its payload without padding and priority fields. */
export function headersFragment(frame: Buffer): Buffer {
  const flags = frame[4];
  let payload = frame.subarray(frameHeaderLength);
  let padding = 0;
  if (flags & Flag.PADDED) {
    padding = payload[0];
    payload = payload.subarray(1);
  }
  if (flags & Flag.PRIORITY) payload = payload.subarray(5);
  return payload.subarray(0, Math.max(0, payload.length - padding));
}
