// WatchResponse on the wire, encoded once per event rather than once per watcher. A put seen by a
// hundred watchers is a hundred responses that differ only in their watch id: the same event (the
// same object, handed by the watchable store to every watcher of its key) and the same header. The
// generated encoder rebuilds both for every response, int64 fields through BigInt; this one keeps the
// bytes of each event while the event lives, and of the last header, writes the few scalar fields
// itself (same fields, same order, same bytes as the generated code), and can frame several
// responses of one stream into one buffer, as one HTTP/2 write.
import { ResponseHeader, type WatchResponse, WatchService } from "../../gen/etcdserverpb/rpc.js";
import { Event } from "../../gen/mvccpb/kv.js";
import { WireBuffer } from "../../server/wire-buffer.js";

const eventBytes = new WeakMap<Event, Uint8Array>();

function encodedEvent(ev: Event): Uint8Array {
  let bytes = eventBytes.get(ev);
  if (bytes === undefined) {
    bytes = Event.encode(ev).finish();
    eventBytes.set(ev, bytes);
  }
  return bytes;
}

/** The last header encoded: responses sent together carry equal headers (other objects, same values). */
let lastHeader: ResponseHeader | undefined;
let lastHeaderBytes: Uint8Array = new Uint8Array(0);

function encodedHeader(h: ResponseHeader): Uint8Array {
  const last = lastHeader;
  if (
    last === undefined ||
    last.clusterId !== h.clusterId ||
    last.memberId !== h.memberId ||
    last.revision !== h.revision ||
    last.raftTerm !== h.raftTerm
  ) {
    lastHeaderBytes = ResponseHeader.encode(h).finish();
    lastHeader = { clusterId: h.clusterId, memberId: h.memberId, revision: h.revision, raftTerm: h.raftTerm };
  }
  return lastHeaderBytes;
}

const wire = new WireBuffer();

/** Writes the fields of a WatchResponse in the generated encoder's order. */
function writeResponse(w: WireBuffer, m: WatchResponse): void {
  if (m.header !== undefined) {
    w.byte(10);
    w.bytes(encodedHeader(m.header));
  }
  if (m.watchId !== 0) {
    w.byte(16);
    w.int64(m.watchId);
  }
  if (m.created !== false) {
    w.byte(24);
    w.byte(1);
  }
  if (m.canceled !== false) {
    w.byte(32);
    w.byte(1);
  }
  if (m.compactRevision !== 0) {
    w.byte(40);
    w.int64(m.compactRevision);
  }
  if (m.cancelReason !== "") {
    w.byte(50);
    w.string(m.cancelReason);
  }
  if (m.fragment !== false) {
    w.byte(56);
    w.byte(1);
  }
  for (const ev of m.events) {
    w.byte(90);
    w.bytes(encodedEvent(ev));
  }
}

/** The protobuf encoding of a WatchResponse, byte for byte what WatchResponse.encode gives. */
export function encodeWatchResponse(message: WatchResponse): Buffer {
  try {
    writeResponse(wire, message);
  } catch (err) {
    wire.reset();
    throw err;
  }
  return wire.take();
}

/**
 * Several responses as consecutive gRPC messages (5-byte prefix, then the encoding) in one buffer,
 * ready for one write on their stream.
 */
export function frameWatchResponses(messages: readonly WatchResponse[]): Buffer {
  try {
    writeFrames(wire, messages);
  } catch (err) {
    wire.reset();
    throw err;
  }
  return wire.take();
}

function writeFrames(w: WireBuffer, messages: readonly WatchResponse[]): void {
  for (const message of messages) {
    const start = w.pos;
    w.byte(0); // not compressed
    w.byte(0);
    w.byte(0);
    w.byte(0);
    w.byte(0);
    writeResponse(w, message);
    w.uint32At(start + 1, w.pos - start - 5);
  }
}

/** Frames of several streams, appended one stream after the other and taken out together. */
const batch = new WireBuffer();

/**
 * Appends several responses as consecutive gRPC messages after those appended before (see
 * takeWatchFrames); returns where they end. On an error, nothing of these responses is kept.
 */
export function appendWatchFrames(messages: readonly WatchResponse[]): number {
  const start = batch.pos;
  try {
    writeFrames(batch, messages);
  } catch (err) {
    batch.pos = start;
    throw err;
  }
  return batch.pos;
}

/** Everything appended since the last take, as one buffer; appending starts over at 0. */
export function takeWatchFrames(): Buffer {
  return batch.take();
}

/** The Watch service definition with the caching encoder for its responses. */
export const WatchServiceDefinition = {
  ...WatchService,
  watch: { ...WatchService.watch, responseSerialize: encodeWatchResponse },
} as const;
