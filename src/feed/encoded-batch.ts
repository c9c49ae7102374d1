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

/**
 * Batches are compressed at zlib's fastest level: the member pays for it on every flush, and most of what a
 * batch holds (event envelopes, field names, repeated keys) shrinks as well at level 1 as at the default.
 */
const DEFLATE_LEVEL = constants.Z_BEST_SPEED;

/** A batch's JSON text deflated (RFC 1950), as `encoding: "deflate"` clients receive it. */
export function deflateBatch(json: string): Buffer {
  return deflateSync(Buffer.from(json, "utf8"), { level: DEFLATE_LEVEL });
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

  /** The JSON text deflated, the argument of a deflate client's batch. */
  get deflated(): Buffer {
    this.deflatedBytes ??= deflateBatch(this.json);
    return this.deflatedBytes;
  }

  /** The batch's argument for a client that asked for `encoding`. */
  argument(encoding: FeedEncoding): FeedBatch | Buffer {
    return encoding === "deflate" ? this.deflated : this.batch;
  }
}
