// One key change as the feed offers it to its subscription groups: its event (an object, for feed operators)
// and its event's JSON text (for everything else) are each built at most once, and only when some group's
// range holds the key; the previous version is read from the store only for a group that asked for it.
import type { KeyValue } from "../gen/mvccpb/kv.js";
import { keyValueProps } from "./bytes.js";
import type { EventQueue, WrittenEvent } from "./event-queue.js";
import { writeKvEvent } from "./kv-event-json.js";
import type { EventOf } from "./protocol.js";

/** Reads a key's version as of a revision (the store's history). */
export type VersionAt = (key: Buffer, revision: number) => KeyValue | undefined;

export class KvChange {
  private plain: EventOf<"kv"> | undefined;
  private withPrev: EventOf<"kv"> | undefined;
  private written: WrittenEvent | undefined;
  private writtenWithPrev: WrittenEvent | undefined;
  private prevRead = false;
  private prevKv: KeyValue | undefined;

  constructor(
    readonly revision: number,
    readonly kind: "put" | "delete",
    readonly kv: KeyValue,
    private readonly at: number,
    private readonly member: string,
    private readonly versionAt: VersionAt,
  ) {}

  get key(): Buffer {
    return this.kv.key;
  }

  /** The event without the previous value. */
  event(): EventOf<"kv"> {
    const kv = this.kv;
    this.plain ??= {
      type: "kv",
      at: this.at,
      member: this.member,
      revision: this.revision,
      kind: this.kind,
      ...keyValueProps(kv),
    };
    return this.plain;
  }

  /** The event with the key's previous version, when it had one. */
  eventWithPrev(): EventOf<"kv"> {
    if (this.withPrev) return this.withPrev;
    const prev = this.previous();
    this.withPrev = prev ? { ...this.event(), prev: keyValueProps(prev) } : this.event();
    return this.withPrev;
  }

  /**
   * Queues the event (with the previous version when asked) as JSON: written into the first queue that takes
   * it, copied from there into the others.
   */
  queueIn(queue: EventQueue, withPrev: boolean): void {
    const done = withPrev ? this.writtenWithPrev : this.written;
    if (done) {
      queue.pushCopy(done);
      return;
    }
    const w = queue.writer;
    const start = w.length;
    const prev = withPrev ? this.previous() : undefined;
    writeKvEvent(w, this.at, this.member, this.revision, this.kind, this.kv, prev);
    const written = queue.endWritten(start);
    if (withPrev) this.writtenWithPrev = written;
    else this.written = written;
  }

  private previous(): KeyValue | undefined {
    if (!this.prevRead) {
      this.prevKv = this.versionAt(this.kv.key, this.revision - 1);
      this.prevRead = true;
    }
    return this.prevKv;
  }
}
