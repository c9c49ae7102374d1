// A feed batch encoded once per encoding, for writing to many connections as it is: a group's batch costs
// one JSON encoding and at most one compression, not one per client.
import { constants, deflateSync } from "node:zlib";
import { type FeedBatch, FeedMessages } from "./protocol.js";
import { textFrame, textThenBinaryFrames } from "./websocket-frame.js";

/**
 * socket.io's EVENT packet on the main namespace (protocol 5): the type "2", then the JSON array of the
 * event name and its argument. A JSON batch has no binary attachments (bytes travel as text or base64);
 * engine.io adds its own "message" type ("4") when the text is written.
 */
const SOCKET_IO_EVENT = "2";
const ENGINE_IO_MESSAGE = "4";
const PACKET_HEAD = `${SOCKET_IO_EVENT}[${JSON.stringify(FeedMessages.batch)},`;
const PACKET_TAIL = "]";
/**
 * socket.io's BINARY_EVENT packet ("5") of a batch with one attachment ("1-"): the deflated batch goes as
 * the binary message that follows it, in the argument's place.
 */
const SOCKET_IO_BINARY_EVENT = `51-[${JSON.stringify(FeedMessages.batch)},{"_placeholder":true,"num":0}]`;

/** zlib levels: stored (no compression, nearly a copy) and the fastest that compresses. */
export const STORED = constants.Z_NO_COMPRESSION;
export const FASTEST = constants.Z_BEST_SPEED;

/** A batch's JSON text deflated (RFC 1950), as `encoding: "deflate"` clients receive it. */
export function deflateBatch(json: string | Buffer, level: number = FASTEST): Buffer {
  return deflateSync(typeof json === "string" ? Buffer.from(json, "utf8") : json, { level });
}

/**
 * Which zlib level a subscription group's batches get. Compression pays when a batch shrinks: envelopes,
 * field names, text and repeated values shrink several times over, and even random 256-byte values (base64
 * in the JSON) about halve with their envelopes. Large random values do not (base64 of random bytes keeps
 * three quarters of its size) and cost several times a copy to try. So a group whose last batch kept more
 * than `POOR_RATIO` of its size sends its next `STORED_FLUSHES` batches stored, then tries again: the wire
 * form stays the same (a deflate stream), the member stops paying for what does not shrink. Batches under
 * `JUDGED_BYTES` (a lone metrics sample, a raft state) are not judged: zlib's fixed cost makes any small text
 * look incompressible, and they cost little either way.
 */
export class DeflateLevel {
  static readonly POOR_RATIO = 0.6;
  static readonly STORED_FLUSHES = 16;
  static readonly JUDGED_BYTES = 4096;
  private storedLeft = 0;

  get level(): number {
    return this.storedLeft > 0 ? STORED : FASTEST;
  }

  /** Notes how a batch deflated at `level` came out. */
  deflated(level: number, jsonBytes: number, deflatedBytes: number): void {
    if (level === STORED) this.storedLeft--;
    else if (jsonBytes >= DeflateLevel.JUDGED_BYTES && deflatedBytes > jsonBytes * DeflateLevel.POOR_RATIO)
      this.storedLeft = DeflateLevel.STORED_FLUSHES;
  }
}

/** A batch given as events (an initial state), or as its JSON text already (a group's queued events). */
export class EncodedBatch {
  private jsonText: string | undefined;
  private jsonBytes: Buffer | undefined;
  private packetText: string | undefined;
  private frame: Buffer[] | undefined;
  private deflatedBytes: Buffer | undefined;
  private deflatedFrames: Buffer[] | undefined;

  constructor(batch: FeedBatch);
  constructor(batch: undefined, json: Buffer);
  constructor(
    private readonly batch: FeedBatch | undefined,
    json?: Buffer,
  ) {
    this.jsonBytes = json;
  }

  /** A batch whose JSON text is already written. */
  static ofJson(json: Buffer): EncodedBatch {
    return new EncodedBatch(undefined, json);
  }

  /** The batch's JSON text. */
  get json(): string {
    this.jsonText ??= this.jsonBytes ? this.jsonBytes.toString("utf8") : JSON.stringify(this.batch);
    return this.jsonText;
  }

  /** The batch's JSON text as UTF-8. */
  get bytes(): Buffer {
    this.jsonBytes ??= Buffer.from(this.json, "utf8");
    return this.jsonBytes;
  }

  /** The socket.io packet of a JSON batch, written to a connection as it is. */
  get packet(): string {
    this.packetText ??= `${PACKET_HEAD}${this.json}${PACKET_TAIL}`;
    return this.packetText;
  }

  /** The packet's WebSocket frame (engine.io message type, then the packet), built once for every connection. */
  get wsFrame(): Buffer[] {
    this.frame ??= textFrame(
      Buffer.concat([
        Buffer.from(ENGINE_IO_MESSAGE + PACKET_HEAD, "latin1"),
        this.bytes,
        Buffer.from(PACKET_TAIL),
      ]),
    );
    return this.frame;
  }

  /**
   * The deflated batch as a deflate client's WebSocket receives it (socket.io's binary event, then the
   * deflated bytes, as `deflated()` made them), built once for every such client.
   */
  get deflatedWsFrames(): Buffer[] {
    this.deflatedFrames ??= textThenBinaryFrames(
      Buffer.from(ENGINE_IO_MESSAGE + SOCKET_IO_BINARY_EVENT, "latin1"),
      this.deflated(),
    );
    return this.deflatedFrames;
  }

  /** The socket.io packet a deflated batch's frames start with (what engine.io would write without them). */
  static readonly binaryEventPacket = SOCKET_IO_BINARY_EVENT;

  /** The JSON text deflated, the argument of a deflate client's batch (at the level `by` chooses, once). */
  deflated(by?: DeflateLevel): Buffer {
    if (this.deflatedBytes === undefined) {
      const level = by?.level ?? FASTEST;
      const json = this.bytes;
      this.deflatedBytes = deflateBatch(json, level);
      by?.deflated(level, json.length, this.deflatedBytes.length);
    }
    return this.deflatedBytes;
  }
}
