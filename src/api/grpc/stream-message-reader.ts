// The messages of a streaming call's request side, read as grpc-go's parser reads them: a length
// over the receive limit is refused as soon as its prefix is in (code 8), a whole message with a
// compressed flag or another payload format once it is in (code 13), and the client's end partway
// through a message is io.ErrUnexpectedEOF, code 13 where a stream reads it.
import {
  messagePrefixLength,
  payloadFailure,
  type RequestFailure,
  tooLargeText,
} from "./unary-request-body.js";

/** A stream's end partway through a message (grpc-go's toRPCErr of io.ErrUnexpectedEOF). */
export const streamCutShort: RequestFailure = { code: 13, message: "unexpected EOF" };

export class StreamMessageReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private failed = false;

  constructor(private readonly maxReceiveBytes: number) {}

  /**
   * Takes a chunk of the stream's DATA: `message` gets each whole message (its prefix included), in
   * order; the answer is grpc-go's status for the first one it refuses (nothing is read after it).
   */
  push(chunk: Buffer, message: (framed: Buffer) => void): RequestFailure | undefined {
    if (this.failed) return undefined;
    if (this.pendingBytes === 0) this.pending = [chunk];
    else this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= messagePrefixLength) {
      let buf = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      const length = buf.readUInt32BE(1);
      if (length > this.maxReceiveBytes) return this.fail(tooLargeText(length, this.maxReceiveBytes), 8);
      const end = messagePrefixLength + length;
      if (buf.length < end) {
        this.pending = [buf];
        return undefined;
      }
      const refused = payloadFailure(buf[0]);
      if (refused !== undefined) return this.fail(refused.message, refused.code);
      const framed = buf.subarray(0, end);
      buf = buf.subarray(end);
      this.pending = buf.length > 0 ? [buf] : [];
      this.pendingBytes = buf.length;
      message(framed);
      if (this.failed) return undefined; // the call ended on that message
    }
    return undefined;
  }

  /** Reads nothing more (the call ended). */
  stop(): void {
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** The client's end: grpc-go's status when it came partway through a message. */
  end(): RequestFailure | undefined {
    if (this.failed || this.pendingBytes === 0) return undefined;
    this.failed = true;
    this.pending = [];
    return streamCutShort;
  }

  private fail(message: string, code: number): RequestFailure {
    this.failed = true;
    this.pending = [];
    this.pendingBytes = 0;
    return { code, message };
  }
}
