/**
 * The network as etcd's peer transport shapes it, for the runs that use it instead of SimNetwork's free-for-all:
 * each ordered pair of nodes is a stream, so messages arrive in the order they were sent except within a small
 * window (the pipeline and the two stream types overtake each other); a full send buffer drops a message and
 * tells the sender the peer is unreachable; and a stream can drop: whatever was on its wire is lost, and so is
 * every message sent until it is dialed again some steps later (the sender is told each time). Partitions are
 * SimNetwork's.
 */
import type { Message } from "../../../src/gen/raftpb/raft.js";
import { type InFlight, type NetworkFaults, type SendResult, SimNetwork } from "./network.js";
import type { Prng } from "./prng.js";

export interface TransportFaults extends NetworkFaults {
  /** How many of a stream's oldest messages a delivery chooses from (1 = strictly in order). */
  reorderWindow: number;
}

/** How long a dropped stream stays down before it is dialed again, in steps. */
const MIN_GAP_STEPS = 5;
const MAX_GAP_STEPS = 120;

/** A message on one stream, numbered in sending order across the whole network. */
interface Queued extends InFlight {
  seq: number;
}

/** What a stream drop did, for the trace and the run's counts. */
export interface StreamDrop {
  from: bigint;
  to: bigint;
  /** The messages that were on the wire and are gone. */
  lost: InFlight[];
  /** The step the stream is dialed again. */
  until: number;
}

const pairKey = (from: bigint, to: bigint) => `${from}>${to}`;

export class TransportNetwork extends SimNetwork {
  private readonly streams = new Map<string, Queued[]>();
  /** Streams that are down, with the step they come back. */
  private readonly down = new Map<string, number>();
  private queued = 0;
  private seq = 0;
  /** Messages sent into a dropped stream. */
  lostInGaps = 0;

  constructor(
    prng: Prng,
    private readonly transport: TransportFaults,
  ) {
    super(prng, transport);
  }

  override get size(): number {
    return this.queued;
  }

  override send(m: Message, now: number): SendResult {
    const key = pairKey(m.from, m.to);
    if (!this.quiet) {
      const until = this.down.get(key);
      if (until !== undefined && now < until) {
        this.lostInGaps++;
        return "unreachable";
      }
      // a full send buffer: etcd drops the message and reports the peer unreachable
      if (this.prng.chance(this.transport.loss)) return "unreachable";
    }
    this.down.delete(key);
    let q = this.streams.get(key);
    if (q === undefined) {
      q = [];
      this.streams.set(key, q);
    }
    q.push({ from: m.from, to: m.to, type: m.type, wire: this.wire(m), notBefore: now, seq: this.seq++ });
    this.queued++;
    return "sent";
  }

  /** One message of a random stream: one of its `reorderWindow` oldest. */
  override takeRandom(_now: number): InFlight {
    // only streams with messages are kept in the map
    let k = this.prng.int(this.streams.size);
    for (const [key, q] of this.streams) {
      if (k-- > 0) continue;
      const window = Math.min(this.transport.reorderWindow, q.length);
      const at = window > 1 ? this.prng.int(window) : 0;
      const [f] = q.splice(at, 1);
      if (q.length === 0) this.streams.delete(key);
      this.queued--;
      return f as Queued;
    }
    throw new Error("takeRandom on an empty network");
  }

  override takeAll(): InFlight[] {
    const all = [...this.streams.values()].flat().sort((a, b) => a.seq - b.seq);
    this.streams.clear();
    this.queued = 0;
    return all;
  }

  /** Drops the stream from `from` to `to` at step `now`; undefined while the network is quiet. */
  dropStream(from: bigint, to: bigint, now: number): StreamDrop | undefined {
    if (this.quiet) return undefined;
    const key = pairKey(from, to);
    const lost = this.streams.get(key) ?? [];
    this.streams.delete(key);
    this.queued -= lost.length;
    const until = now + this.prng.range(MIN_GAP_STEPS, MAX_GAP_STEPS);
    this.down.set(key, until);
    return { from, to, lost, until };
  }

  /** Healing also dials every dropped stream again. */
  override heal(): void {
    super.heal();
    this.down.clear();
  }
}
