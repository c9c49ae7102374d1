// Go gRPC clients that dial "passthrough:///http://host:port" (etcdctl does for endpoint status,
// endpoint hashkv and defrag) send ":authority: http://host:port". Go's server accepts that; Node's
// HTTP/2 (nghttp2) resets the stream with PROTOCOL_ERROR. This sits between the socket and Node:
// it reads the connection's first header block, and when its authority is not a valid authority it
// rewrites every header block of that connection with the authority reduced to host:port (as plain
// literals, so Node's HPACK table stays empty). A connection whose first block is fine is passed
// through untouched from then on. Every byte of a wrapped connection crosses JavaScript, so the
// client port wraps only the connections that need it (authority-gate.ts).
import { Duplex } from "node:stream";
import { encodeLiterals, type HeaderField, HpackDecoder } from "./hpack.js";
import {
  Flag,
  FrameType,
  frameHeaderLength,
  headersFragment,
  isSettingsAck,
  prefaceLength,
} from "./http2-frames.js";

/** HTTP/2's default SETTINGS_MAX_FRAME_SIZE; rewritten blocks are split to fit it. */
const maxFramePayload = 16384;

// nghttp2's authority check: unreserved, sub-delims, ":", "%", "@", "[", "]".
export const validAuthority = /^[A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]*$/;

export function repairAuthorityValue(value: string): string {
  if (validAuthority.test(value)) return value;
  try {
    return new URL(value).host;
  } catch {
    return value.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:%@[\]]/g, "");
  }
}

type Mode = "preface" | "first" | "rewrite" | "pass";

export interface RepairOptions {
  /** The gate sent its own SETTINGS: drop the client's first SETTINGS ACK, which Node never asked for. */
  readonly settingsAckPending?: boolean;
}

/** Wraps a client connection (plain or TLS) for Node's HTTP/2 server. */
export function withAuthorityRepair(socket: Duplex, options: RepairOptions = {}): Duplex {
  let mode: Mode = "preface";
  let ackPending = options.settingsAckPending ?? false;
  let pending: Buffer = Buffer.alloc(0);
  const decoder = new HpackDecoder();
  // A header block in progress: its first frame's flags, stream, and fragments so far.
  let block: { stream: number; flags: number; raw: Buffer[]; fragments: Buffer[] } | undefined;

  const wrapper = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(err, callback) {
      socket.destroy(err ?? undefined);
      callback(err);
    },
  });

  const forward = (buf: Buffer) => {
    if (buf.length > 0 && !wrapper.push(buf)) socket.pause();
  };

  const emitRewritten = (stream: number, endStream: boolean, fields: HeaderField[]) => {
    const fixed = fields.map(
      ([n, v]): HeaderField => (n === ":authority" || n === "host" ? [n, repairAuthorityValue(v)] : [n, v]),
    );
    const payload = encodeLiterals(fixed);
    for (let off = 0, first = true; first || off < payload.length; first = false) {
      const part = payload.subarray(off, off + maxFramePayload);
      off += part.length;
      const last = off >= payload.length;
      const header = Buffer.alloc(frameHeaderLength);
      header.writeUIntBE(part.length, 0, 3);
      header[3] = first ? FrameType.HEADERS : FrameType.CONTINUATION;
      header[4] = (first && endStream ? Flag.END_STREAM : 0) | (last ? Flag.END_HEADERS : 0);
      header.writeUInt32BE(stream & 0x7fffffff, 5);
      forward(Buffer.concat([header, part]));
    }
  };

  const finishBlock = () => {
    if (!block) return;
    const { stream, flags, raw, fragments } = block;
    block = undefined;
    let fields: HeaderField[];
    try {
      fields = decoder.decode(Buffer.concat(fragments));
    } catch {
      // Not ours to judge: let Node see the original bytes and answer as it does.
      mode = "pass";
      for (const r of raw) forward(r);
      return;
    }
    if (mode === "first") {
      const authority = fields.find(([n]) => n === ":authority" || n === "host");
      if (!authority || validAuthority.test(authority[1])) {
        mode = "pass";
        for (const r of raw) forward(r);
        return;
      }
      mode = "rewrite";
    }
    emitRewritten(stream, (flags & Flag.END_STREAM) !== 0, fields);
  };

  const onFrame = (frame: Buffer) => {
    if (ackPending && isSettingsAck(frame)) {
      ackPending = false;
      return;
    }
    if (mode === "pass") return forward(frame);
    const type = frame[3];
    const flags = frame[4];
    const stream = frame.readUInt32BE(5) & 0x7fffffff;
    if (type === FrameType.HEADERS) {
      block = { stream, flags, raw: [frame], fragments: [headersFragment(frame)] };
      if (flags & Flag.END_HEADERS) finishBlock();
      return;
    }
    if (type === FrameType.CONTINUATION && block) {
      block.raw.push(frame);
      block.fragments.push(frame.subarray(frameHeaderLength));
      if (flags & Flag.END_HEADERS) finishBlock();
      return;
    }
    forward(frame);
  };

  socket.on("data", (chunk: Buffer) => {
    if (mode === "pass" && !ackPending) return forward(chunk);
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (mode === "preface") {
      if (pending.length < prefaceLength) return;
      forward(pending.subarray(0, prefaceLength));
      pending = pending.subarray(prefaceLength);
      mode = "first";
    }
    while (((mode as Mode) !== "pass" || ackPending) && pending.length >= frameHeaderLength) {
      const total = frameHeaderLength + pending.readUIntBE(0, 3);
      if (pending.length < total) return;
      const frame = pending.subarray(0, total);
      pending = pending.subarray(total);
      onFrame(frame);
    }
    if ((mode as Mode) === "pass" && !ackPending && pending.length > 0) {
      forward(pending);
      pending = Buffer.alloc(0);
    }
  });
  socket.on("end", () => wrapper.push(null));
  socket.on("error", (err) => wrapper.destroy(err));
  socket.on("close", () => {
    if (!wrapper.destroyed) wrapper.destroy();
  });
  return wrapper;
}
