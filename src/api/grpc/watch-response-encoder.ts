// WatchResponse on the wire, encoded once per event rather than once per watcher. A put seen by a
// hundred watchers is a hundred responses that differ only in their watch id: the same event (the
// same object, handed by the watchable store to every watcher of its key) and the same header. The
// generated encoder rebuilds both for every response, int64 fields through BigInt; this one keeps the
// bytes of each event (as the field they are written as) while the event lives, and of the last
// header, encodes both with the key-value answers' hand-written encoders (revisions as plain varints),
// writes the few scalar fields itself (same fields, same order, same bytes as the generated code),
// and can frame several responses of one stream into one buffer, as one HTTP/2 write.
import type { ResponseHeader, WatchResponse } from "../../gen/etcdserverpb/rpc.js";
import { WatchService } from "../../gen/etcdserverpb/rpc.js";
import { Event } from "../../gen/mvccpb/kv.js";
import { varintSize } from "../../raft/util.js";
import { isPlainVarint, WireBuffer } from "../../server/wire-buffer.js";
import { writeHeader, writeKeyValue } from "./kv-answer-frames.js";

/** Where events and headers are encoded before they are kept. */
const scratch = new WireBuffer();

/** Each event as field 11 of a WatchResponse (tag, length, encoding), kept while the event lives. */
const eventFields = new WeakMap<Event, Buffer>();

/** The last event looked up and its bytes: a fan-out frames the same event for watcher after watcher. */
let lastEvent: Event | undefined;
let lastEventField: Buffer | undefined;

function eventField(ev: Event): Buffer {
  if (ev === lastEvent) return lastEventField as Buffer;
  let bytes = eventFields.get(ev);
  if (bytes === undefined) {
    try {
      writeEvent(scratch, ev);
    } catch (err) {
      scratch.reset();
      throw err;
    }
    // memory of its own: it lives as long as the event, which may outlive many answers
    bytes = scratch.takeOwn();
    eventFields.set(ev, bytes);
  }
  lastEvent = ev;
  lastEventField = bytes;
  return bytes;
}

/** An Event as field 11, as the generated encoder writes it (and through it, for an unusual type). */
function writeEvent(w: WireBuffer, ev: Event): void {
  w.byte(90);
  if (!isPlainVarint(ev.type) || ev.type > 0x7fffffff) {
    w.bytes(Event.encode(ev).finish());
    return;
  }
  w.fork();
  if (ev.type !== 0) {
    w.byte(8);
    w.varint(ev.type);
  }
  if (ev.kv !== undefined) writeKeyValue(w, 18, ev.kv);
  if (ev.prevKv !== undefined) writeKeyValue(w, 26, ev.prevKv);
  w.join();
}

/** The last header encoded, as field 1: responses sent together carry equal headers (other objects, same values). */
let lastHeader: ResponseHeader | undefined;
let lastHeaderField: Buffer = Buffer.alloc(0);

function headerField(h: ResponseHeader): Buffer {
  const last = lastHeader;
  if (
    last === undefined ||
    last.clusterId !== h.clusterId ||
    last.memberId !== h.memberId ||
    last.revision !== h.revision ||
    last.raftTerm !== h.raftTerm
  ) {
    try {
      writeHeader(scratch, 10, h);
    } catch (err) {
      scratch.reset();
      throw err;
    }
    lastHeaderField = scratch.take();
    lastHeader = { clusterId: h.clusterId, memberId: h.memberId, revision: h.revision, raftTerm: h.raftTerm };
  }
  return lastHeaderField;
}

const wire = new WireBuffer();

/** Writes the fields of a WatchResponse in the generated encoder's order. */
function writeResponse(w: WireBuffer, m: WatchResponse): void {
  if (m.header !== undefined) w.raw(headerField(m.header));
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
  for (const ev of m.events) w.raw(eventField(ev));
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
    const start = w.messagePrefix();
    writeResponse(w, message);
    w.uint32At(start + 1, w.pos - start - 5);
  }
}

/** Frames of several streams, appended one stream after the other and taken out together. */
const batch = new WireBuffer();

/**
 * The last frame appended to the batch when it was of events alone, while it is the batch's last
 * bytes: where it starts and ends, where its watch id is, and what it was framed from. The next
 * watcher's frame of the same events and header is a copy of it with its own watch id.
 */
let repeatStart = 0;
let repeatEnd = -1;
let repeatIdAt = 0;
let repeatIdBytes = 0;
let repeatHeader: ResponseHeader | undefined;
let repeatEvents: readonly Event[] | undefined;

/** Where the next frame appended to the batch starts (see rewindWatchFrames). */
export function watchFramesEnd(): number {
  return batch.pos;
}

/** Drops what was appended to the batch after `end` (a `watchFramesEnd` taken before). */
export function rewindWatchFrames(end: number): void {
  batch.pos = end;
  repeatEnd = -1;
}

/** Appends a response as one gRPC message to the batch (see takeWatchFrames). */
export function appendWatchFrame(message: WatchResponse): void {
  repeatEnd = -1;
  const start = batch.messagePrefix();
  writeResponse(batch, message);
  batch.uint32At(start + 1, batch.pos - start - 5);
}

/**
 * Appends the response of events alone (`header`, `watchId`, `events`, every other field unset) as
 * one gRPC message to the batch: the bytes `appendWatchFrame` writes for that WatchResponse, without
 * the object. Each event's bytes are written once and copied into every response that has it.
 */
export function appendEventsFrame(header: ResponseHeader, watchId: number, events: readonly Event[]): void {
  const w = batch;
  const idBytes = watchId > 0 && watchId <= 0x7fffffff ? varintSize(watchId) : 0;
  if (
    repeatEnd === w.pos &&
    idBytes !== 0 &&
    idBytes === repeatIdBytes &&
    events === repeatEvents &&
    header === repeatHeader
  ) {
    // the same bytes but for the watch id, which takes as many: the previous frame again, its id replaced
    const start = w.pos;
    w.repeat(repeatStart, repeatEnd);
    repeatIdAt += start - repeatStart;
    repeatStart = start;
    repeatEnd = w.pos;
    w.varintAt(repeatIdAt, watchId);
    return;
  }
  repeatEnd = -1;
  const start = w.messagePrefix();
  const headerBytes = headerField(header);
  w.raw(headerBytes);
  if (watchId !== 0) {
    w.byte(16);
    w.int64(watchId);
  }
  for (let i = 0; i < events.length; i++) w.raw(eventField(events[i]));
  w.uint32At(start + 1, w.pos - start - 5);
  if (idBytes === 0) return;
  repeatStart = start;
  repeatEnd = w.pos;
  repeatIdAt = start + 5 + headerBytes.length + 1;
  repeatIdBytes = idBytes;
  repeatHeader = header;
  repeatEvents = events;
}

/**
 * Everything appended since the last take, as one buffer; appending starts over at 0. The frames of
 * a fan-out fill most of the batch's memory, which is then handed out rather than copied (a put seen
 * by a hundred watchers: 30 KiB less to copy).
 */
export function takeWatchFrames(): Buffer {
  repeatEnd = -1;
  return batch.takeMost();
}

/**
 * Everything appended since the last take, as a view of the batch's memory: valid until the next
 * append, so only for writers that copy what they keep before they return. Appending starts over at 0.
 */
export function viewWatchFrames(): Buffer {
  repeatEnd = -1;
  return batch.takeView();
}

/** The Watch service definition with the caching encoder for its responses. */
export const WatchServiceDefinition = {
  ...WatchService,
  watch: { ...WatchService.watch, responseSerialize: encodeWatchResponse },
} as const;
