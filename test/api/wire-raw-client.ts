// A raw HTTP/2 client for the client port's tests: it writes frames (each write one chunk on the
// server's side when it runs over a duplex pair) and collects the server's frames as they come, each
// with the read it arrived in.
import { connect } from "node:net";
import type { Duplex } from "node:stream";
import { encodeLiterals, type HeaderField, HpackDecoder } from "../../src/api/grpc/hpack.js";
import { Flags, FrameType, frame, PREFACE } from "../../src/api/wire/frames.js";

export interface ReadFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** The read of the socket that brought the frame's last byte (1 for the first). */
  read: number;
  /** A HEADERS frame's header block, decoded in the order blocks came (the HPACK table is the connection's). */
  fields?: HeaderField[];
}

export const grpcRequest = (path: string, extra: HeaderField[] = []): HeaderField[] => [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", path],
  [":authority", "localhost"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
  ...extra,
];

/** A gRPC message frame (the 5-byte prefix and the payload). */
export function grpcMessage(payload: Buffer | string): Buffer {
  const bytes = Buffer.from(payload);
  const m = Buffer.alloc(5 + bytes.length);
  m.writeUInt32BE(bytes.length, 1);
  bytes.copy(m, 5);
  return m;
}

export class RawClient {
  private pending = Buffer.alloc(0);
  private reads = 0;
  readonly frames: ReadFrame[] = [];
  private waiters: (() => void)[] = [];
  closed = false;
  private readonly decoder = new HpackDecoder();
  /** The HEADERS frame whose block CONTINUATION frames still add to, and its fragments. */
  private block: { frame: ReadFrame; fragments: Buffer[] } | undefined = undefined;
  /** Whether the server's SETTINGS are acknowledged (as any client does). */
  ackSettings = true;

  constructor(readonly socket: Duplex) {
    socket.on("data", (chunk: Buffer) => {
      this.reads++;
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 9) {
        const length = this.pending.readUIntBE(0, 3);
        if (this.pending.length < 9 + length) break;
        this.frames.push({
          type: this.pending[3],
          flags: this.pending[4],
          streamId: this.pending.readUInt32BE(5) & 0x7fffffff,
          payload: Buffer.from(this.pending.subarray(9, 9 + length)),
          read: this.reads,
        });
        this.pending = this.pending.subarray(9 + length);
        const last = this.frames[this.frames.length - 1];
        this.decodeBlock(last);
        if (last.type === FrameType.SETTINGS && (last.flags & Flags.ACK) === 0 && this.ackSettings)
          socket.write(frame(FrameType.SETTINGS, Flags.ACK, 0));
      }
      this.wake();
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("end", () => {
      this.closed = true;
      this.wake();
    });
  }

  /** A client over TCP to `port` on 127.0.0.1, its preface and SETTINGS (empty unless given) sent. */
  static async open(port: number, settings?: Buffer): Promise<RawClient> {
    const socket = connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const raw = new RawClient(socket);
    raw.start(settings);
    return raw;
  }

  /** Decodes header blocks as a client does: every one, in the order they came. */
  private decodeBlock(f: ReadFrame): void {
    if (f.type === FrameType.HEADERS) this.block = { frame: f, fragments: [f.payload] };
    else if (f.type === FrameType.CONTINUATION && this.block !== undefined)
      this.block.fragments.push(f.payload);
    else return;
    if ((f.flags & Flags.END_HEADERS) === 0 || this.block === undefined) return;
    const { frame: headers, fragments } = this.block;
    this.block = undefined;
    headers.fields = this.decoder.decode(Buffer.concat(fragments));
  }

  /** A HEADERS frame's decoded header block. */
  fieldsOf(f: ReadFrame): HeaderField[] {
    if (f.fields === undefined) throw new Error(`no header block decoded for a frame of type ${f.type}`);
    return f.fields;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The preface and an empty SETTINGS (or the given one). */
  start(settings: Buffer = frame(FrameType.SETTINGS, 0, 0)): void {
    this.socket.write(Buffer.concat([PREFACE, settings]));
  }

  write(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  headers(streamId: number, fields: HeaderField[], flags: number = Flags.END_HEADERS): Buffer {
    return frame(FrameType.HEADERS, flags, streamId, encodeLiterals(fields));
  }

  data(streamId: number, payload: Buffer, flags: number = Flags.END_STREAM): Buffer {
    return frame(FrameType.DATA, flags, streamId, payload);
  }

  /** Waits until `test` holds of the frames received (or the connection closed). */
  async until(test: (frames: ReadFrame[]) => boolean, what = "frames"): Promise<ReadFrame[]> {
    for (;;) {
      if (test(this.frames)) return this.frames;
      if (this.closed) throw new Error(`connection closed before ${what}; got ${describe(this.frames)}`);
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
  }

  /** Waits for a frame of `type` (on `streamId` when given). */
  async frame(type: number, streamId?: number): Promise<ReadFrame> {
    let found: ReadFrame | undefined;
    await this.until((frames) => {
      found = frames.find((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
      return found !== undefined;
    }, `a frame of type ${type}`);
    return found as ReadFrame;
  }

  /** The GOAWAY's last stream id, code and debug text. */
  async goaway(): Promise<{ last: number; code: number; debug: string }> {
    const f = await this.frame(FrameType.GOAWAY);
    return {
      last: f.payload.readUInt32BE(0),
      code: f.payload.readUInt32BE(4),
      debug: f.payload.subarray(8).toString(),
    };
  }

  /** A stream's frames once one ended it (END_STREAM or RST_STREAM). */
  async stream(streamId: number): Promise<ReadFrame[]> {
    await this.until(
      (frames) =>
        frames.some(
          (f) =>
            f.streamId === streamId &&
            ((f.flags & Flags.END_STREAM) !== 0 || f.type === FrameType.RST_STREAM),
        ),
      `the end of stream ${streamId}`,
    );
    return this.frames.filter((f) => f.streamId === streamId);
  }

  /** Ends the client's side (a duplex pair's other end sees it; destroying it would not). */
  close(): void {
    this.socket.end();
  }
}

function describe(frames: ReadFrame[]): string {
  return frames.map((f) => `${f.type}/${f.flags}@${f.streamId}`).join(" ");
}
