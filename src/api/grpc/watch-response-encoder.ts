// WatchResponse on the wire, encoded once per event rather than once per watcher. A put seen by a
// hundred watchers is a hundred responses that differ only in their watch id: the same event (the
// same object, handed by the watchable store to every watcher of its key) and the same header. The
// generated encoder rebuilds both for every response, int64 fields through BigInt; this one keeps the
// bytes of each event while the event lives, and of the last header, and writes the rest as the
// generated code does (same fields, same order, same bytes).
import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { ResponseHeader, WatchResponse, WatchService } from "../../gen/etcdserverpb/rpc.js";
import { Event } from "../../gen/mvccpb/kv.js";

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

/** The protobuf encoding of a WatchResponse, byte for byte what WatchResponse.encode gives. */
export function encodeWatchResponse(message: WatchResponse): Buffer {
  if (message.events.length === 0) return Buffer.from(WatchResponse.encode(message).finish());
  const writer = new BinaryWriter();
  if (message.header !== undefined) writer.uint32(10).bytes(encodedHeader(message.header));
  // the rest of the fields as the generated encoder writes them (range checks included)
  WatchResponse.encode({ ...message, header: undefined, events: [] }, writer);
  for (const ev of message.events) writer.uint32(90).bytes(encodedEvent(ev));
  const out = writer.finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** The Watch service definition with the caching encoder for its responses. */
export const WatchServiceDefinition = {
  ...WatchService,
  watch: { ...WatchService.watch, responseSerialize: encodeWatchResponse },
} as const;
