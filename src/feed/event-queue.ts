// A subscription group's events between two sends, and their batches' JSON. Key changes arrive as JSON text
// and are written into one growing byte buffer as they come (each followed by a comma); the few other events
// (state, summaries, some coalesced in place) stay objects until the send. A send copies the bytes into its
// batches: nothing of a queued key change stays on V8's heap, where a flush's worth of them (thousands a
// second under load) would outlive the young generation and be copied and promoted with every scavenge.
import { JsonBytes } from "./json-bytes.js";
import type { FeedEvent } from "./protocol.js";

const BATCH_HEAD = Buffer.from('{"events":[', "latin1");
const COMMA = 0x2c;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
/** The most the byte buffer keeps between sends (a burst's larger one goes). */
const KEPT_BYTES = 4 * 1024 * 1024;

/** Where an event's JSON was written (to copy it into other queues). */
export interface WrittenEvent {
  readonly buffer: Buffer;
  readonly start: number;
  readonly end: number;
}

export class EventQueue {
  /** One entry per queued event, in order: the event itself, or where its JSON text ends in `bytes`. */
  private entries: Array<FeedEvent | number> = [];
  private readonly bytes = new JsonBytes();
  /** Where each queued coalesced event is, by its coalescing key. */
  private readonly coalesced = new Map<string, number>();

  get length(): number {
    return this.entries.length;
  }

  /** Queues an event; one with a coalescing key replaces the queued one with the same key, in its place. */
  push(event: FeedEvent, coalesce?: string): void {
    if (coalesce !== undefined) {
      const at = this.coalesced.get(coalesce);
      if (at !== undefined) {
        this.entries[at] = event;
        return;
      }
      this.coalesced.set(coalesce, this.entries.length);
    }
    this.entries.push(event);
  }

  /** Where the next event's JSON is written; `endWritten` then queues it. */
  get writer(): JsonBytes {
    return this.bytes;
  }

  /** Queues the event written since `start` (the writer's length before it). */
  endWritten(start: number): WrittenEvent {
    const w = this.bytes;
    const written = { buffer: w.buffer, start, end: w.length };
    this.endEvent();
    return written;
  }

  /** Queues an event already written as JSON (into another queue). */
  pushCopy(event: WrittenEvent): void {
    this.bytes.copy(event.buffer, event.start, event.end);
    this.endEvent();
  }

  private endEvent(): void {
    this.bytes.byte(COMMA);
    this.entries.push(this.bytes.length);
  }

  /** Empties the queue. */
  clear(): void {
    this.entries = [];
    this.coalesced.clear();
    this.bytes.reset(KEPT_BYTES);
  }

  /**
   * Takes every queued event as the JSON texts of batches (`{"events":[...]}`) of at most `maxEvents` events
   * each, in order, and empties the queue.
   */
  takeBatches(maxEvents: number): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    for (let from = 0; from < this.entries.length; from += maxEvents) {
      const to = Math.min(from + maxEvents, this.entries.length);
      const batch = this.batchJson(from, to, start);
      out.push(batch.json);
      start = batch.end;
    }
    this.clear();
    return out;
  }

  /** The batch of entries [from, to); `start` is where the text of the first encoded one among them begins. */
  private batchJson(from: number, to: number, start: number): { json: Buffer; end: number } {
    // runs of encoded events are copied as one piece; objects are stringified (with their comma) here
    const pieces: Array<string | { start: number; end: number }> = [];
    let size = BATCH_HEAD.length + 1;
    let runStart = start;
    let end = start;
    for (let i = from; i < to; i++) {
      const e = this.entries[i];
      if (typeof e === "number") {
        end = e;
        continue;
      }
      if (end > runStart) pieces.push({ start: runStart, end });
      const text = `${JSON.stringify(e)},`;
      pieces.push(text);
      size += Buffer.byteLength(text, "utf8");
      runStart = end;
    }
    if (end > runStart) pieces.push({ start: runStart, end });
    size += end - start;
    const json = Buffer.allocUnsafe(size);
    let at = BATCH_HEAD.copy(json, 0);
    for (const p of pieces) {
      if (typeof p === "string") at += json.write(p, at, "utf8");
      else at += this.bytes.buffer.copy(json, at, p.start, p.end);
    }
    // the last event's comma closes the array
    json[at - 1] = CLOSE_ARRAY;
    json[at] = CLOSE_OBJECT;
    return { json, end };
  }
}
