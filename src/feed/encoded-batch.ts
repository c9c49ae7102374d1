// A feed batch encoded once per encoding, for writing to many connections as it is: a group's batch costs
// one JSON encoding and at most one compression, not one per client.
import { constants, deflateSync } from "node:zlib";
import { type FeedBatch, type FeedEncoding, FeedMessages } from "./protocol.js";

/**
 * socket.io's EVENT packet on the main namespace (protocol 5): the type "2", then the JSON array of the
 * event name and its argument. A JSON batch has no binary attachments (bytes travel as text or base64);
 * engine.io adds its own "message" framing when the text is written.
 */
const SOCKET_IO_EVENT = "2";

/** zlib levels: stored (no compression, nearly a copy) and the fastest that compresses. */
export const STORED = constants.Z_NO_COMPRESSION;
export const FASTEST = constants.Z_BEST_SPEED;

/** A batch's JSON text deflated (RFC 1950), as `encoding: "deflate"` clients receive it. */
export function deflateBatch(json: string, level: number = FASTEST): Buffer {
  return deflateSync(Buffer.from(json, "utf8"), { level });
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

export class EncodedBatch {
  private jsonText: string | undefined;
  private packetText: string | undefined;
  private deflatedBytes: Buffer | undefined;

  constructor(readonly batch: FeedBatch) {}

  /** The batch's JSON text. */
  get json(): string {
    this.jsonText ??= JSON.stringify(this.batch);
    return this.jsonText;
  }

  /** The socket.io packet of a JSON batch, written to a connection as it is. */
  get packet(): string {
    this.packetText ??= `${SOCKET_IO_EVENT}[${JSON.stringify(FeedMessages.batch)},${this.json}]`;
    return this.packetText;
  }

  /** The JSON text deflated, the argument of a deflate client's batch (at the level `by` chooses, once). */
  deflated(by?: DeflateLevel): Buffer {
    if (this.deflatedBytes === undefined) {
      const level = by?.level ?? FASTEST;
      const json = this.json;
      this.deflatedBytes = deflateBatch(json, level);
      by?.deflated(level, json.length, this.deflatedBytes.length);
    }
    return this.deflatedBytes;
  }

  /** The batch's argument for a client that asked for `encoding`. */
  argument(encoding: FeedEncoding, by?: DeflateLevel): FeedBatch | Buffer {
    return encoding === "deflate" ? this.deflated(by) : this.batch;
  }
}
