// A feed batch encoded once as socket.io's packet, for writing to many connections as it is: an initial
// state shared by the newcomers of a subscription group costs one JSON encoding, not one per client.
import { type FeedBatch, FeedMessages } from "./protocol.js";

/**
 * socket.io's EVENT packet on the main namespace (protocol 5): the type "2", then the JSON array of the
 * event name and its argument. Feed batches are plain JSON (bytes travel as text or base64), so no binary
 * attachments are involved; engine.io adds its own "message" framing when the text is written.
 */
const SOCKET_IO_EVENT = "2";

export function encodeBatch(batch: FeedBatch): string {
  return `${SOCKET_IO_EVENT}${JSON.stringify([FeedMessages.batch, batch])}`;
}
