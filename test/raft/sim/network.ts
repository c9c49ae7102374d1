/**
 * The simulated network between raft nodes: messages in flight, lost, duplicated, delayed and reordered by the
 * run's Prng, and partitions that cut the cluster in two until healed. It knows nothing about raft nodes: the
 * simulator decides what to do with a message it takes out.
 */
import { Message, type MessageType } from "../../../src/gen/raftpb/raft.js";
import type { Prng } from "./prng.js";

export interface InFlight {
  from: bigint;
  to: bigint;
  type: MessageType;
  /** The message as encoded on the wire, or the object itself when the run does not serialize. */
  wire: Uint8Array | Message;
  /** The step before which the message is held back (a delay). */
  notBefore: number;
}

export interface NetworkFaults {
  /** Probability that a sent message is lost. */
  loss: number;
  /** Probability that a sent message arrives twice. */
  duplicate: number;
  /** Encode messages with protobuf on send and decode them on delivery, as a real transport would. */
  serialize: boolean;
}

/** Upper bound of a message's delay, in steps; 10% of messages are delayed. */
const MAX_DELAY_STEPS = 60;
/** How many random picks a delivery makes before it accepts a message that is still held back. */
const DELAY_RETRIES = 3;

/** What a send did: on the wire, silently lost, or refused so that the sender learns the peer is unreachable. */
export type SendResult = "sent" | "lost" | "unreachable";

export class SimNetwork {
  private inFlight: InFlight[] = [];
  /** Partition side of each node; undefined when the network is whole. */
  private sides: Map<bigint, number> | undefined;
  /** While quiet nothing is lost, duplicated or delayed. */
  quiet = false;

  constructor(
    protected readonly prng: Prng,
    protected readonly faults: NetworkFaults,
  ) {}

  get size(): number {
    return this.inFlight.length;
  }

  get partitioned(): boolean {
    return this.sides !== undefined;
  }

  connected(a: bigint, b: bigint): boolean {
    if (this.sides === undefined) return true;
    return (this.sides.get(a) ?? 0) === (this.sides.get(b) ?? 0);
  }

  /** Puts a message on the wire at step `now`. */
  send(m: Message, now: number): SendResult {
    const p = this.prng;
    if (!this.quiet && p.chance(this.faults.loss)) return "lost";
    const wire = this.wire(m);
    const copies = !this.quiet && p.chance(this.faults.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.quiet ? 0 : p.chance(0.1) ? p.range(1, MAX_DELAY_STEPS) : 0;
      this.inFlight.push({ from: m.from, to: m.to, type: m.type, wire, notBefore: now + delay });
    }
    return "sent";
  }

  /** The message as it travels (encoded when the run serializes). */
  protected wire(m: Message): Uint8Array | Message {
    return this.faults.serialize ? Message.encode(m).finish() : m;
  }

  /** Takes a random message out (random choice = reordering), preferring one whose delay has passed. */
  takeRandom(now: number): InFlight {
    const p = this.prng;
    let at = p.int(this.inFlight.length);
    for (let tries = 0; tries < DELAY_RETRIES && this.inFlight[at].notBefore > now; tries++) {
      at = p.int(this.inFlight.length);
    }
    const f = this.inFlight[at];
    this.inFlight[at] = this.inFlight[this.inFlight.length - 1];
    this.inFlight.pop();
    return f;
  }

  /** Takes every message out, in sending order. */
  takeAll(): InFlight[] {
    const all = this.inFlight;
    this.inFlight = [];
    return all;
  }

  /** The message a delivery hands to its recipient. */
  static open(f: InFlight): Message {
    return f.wire instanceof Uint8Array ? Message.decode(f.wire) : f.wire;
  }

  /** Cuts the cluster in two: one node alone, or a random split. Returns a description for the trace. */
  partition(ids: readonly bigint[]): string {
    const p = this.prng;
    const sides = new Map<bigint, number>();
    if (p.chance(0.5)) {
      const lonely = p.pick(ids);
      for (const id of ids) sides.set(id, id === lonely ? 1 : 0);
    } else {
      for (const id of ids) sides.set(id, p.int(2));
    }
    this.sides = sides;
    return [...sides].map(([id, s]) => `${id}:${s}`).join(" ");
  }

  heal(): void {
    this.sides = undefined;
  }
}
